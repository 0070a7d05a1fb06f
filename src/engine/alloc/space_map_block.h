// space_map_block.h — the on-disk encoding of one space-map block (docs/FORMAT.md "Space map").
//
// A block is a 128-byte header followed by 24-byte records, zero-padded to the block's size, a
// whole number of 4096-byte sectors (lsize == asize, so blocks go to the device without a
// bounce copy; a block may be larger than its records need). The
// block's integrity comes from the BlockPtr that names it (the root's head, or the next block's
// `prev`), whose XXH3-128 covers all lsize bytes, padding included. Decoding re-checks every
// field anyway: a block that verifies but says something impossible is refused (EIO).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/alloc/allocator.h"
#include "engine/zio/blkptr.h"
#include "zvfs/status.h"

namespace zvfs::alloc {

inline constexpr uint64_t kSmMagic = 0x50414d535346565aull;  // "ZVFSSMAP"
inline constexpr uint32_t kSmVersion = 1;
inline constexpr uint32_t kSmHeaderBytes = 128;
inline constexpr uint32_t kSmRecordBytes = 24;
inline constexpr uint32_t kSmBlockBytesMax = 128 * 1024;
inline constexpr uint32_t kSmRecordsPerBlockMax =
    (kSmBlockBytesMax - kSmHeaderBytes) / kSmRecordBytes;

struct SmBlockHeader {
  uint64_t magic = kSmMagic;
  uint32_t version = kSmVersion;
  uint32_t nrecords = 0;
  uint64_t txg = 0;      // txg that wrote the block (== its BlockPtr's birth_txg)
  uint64_t seq = 0;      // position in the chain, 0 = oldest
  zio::BlockPtr prev{};  // previous (older) block; hole for the oldest
  uint8_t reserved[32] = {};
};
static_assert(sizeof(SmBlockHeader) == kSmHeaderBytes);

// Bytes a block holding `n` records occupies (header + records, rounded up to 4096).
uint32_t sm_block_bytes(uint32_t n);
// Records that fit in a block of `bytes` bytes.
uint32_t sm_block_capacity(uint32_t bytes);

// Writes header and records into `out` (sm_block_bytes(n) bytes, zero padding included).
void sm_encode_block(const SmBlockHeader& h, const SpaceRecord* recs, std::byte* out);
// Parses a block of `bytes` bytes; appends its records to `recs`. EIO if anything is off.
Status sm_decode_block(const std::byte* buf, uint32_t bytes, SmBlockHeader* h,
                       std::vector<SpaceRecord>* recs);

}  // namespace zvfs::alloc
