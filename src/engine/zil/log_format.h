// log_format.h — the on-disk format of the intent log (see docs/FORMAT.md "Intent log").
//
// The log region is a ring of log blocks. A log block is what one group commit writes: a
// 128-byte header, then records, padded to a multiple of 4 KiB. Each record is a 64-byte
// header followed by its name and data, padded to 8 bytes. The block header's checksum
// (XXH3-128) covers the whole block with the checksum field zeroed, so a torn block never
// verifies. Blocks carry the pool guid, the log generation (bumped at every import, so
// records left over from an earlier life of the pool are never replayed) and a sequence
// number (consecutive along the ring).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/dmu/object.h"
#include "engine/zio/blkptr.h"
#include "zvfs/status.h"

namespace zvfs::zil {

inline constexpr uint64_t kLogMagic = 0x314c495a5346565aULL;  // "ZVFSZIL1"
inline constexpr uint32_t kLogVersion = 1;
inline constexpr uint32_t kLogBlockAlign = 4096;

struct LogBlockHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t nrecords;
  uint64_t pool_guid;
  uint64_t gen;
  uint64_t seq;
  uint64_t bytes;          // whole block, multiple of 4096
  uint64_t payload_bytes;  // header + records, before padding
  uint64_t reserved[7];
  zio::Checksum checksum;  // XXH3-128 of [0, bytes) with this field zero
};
static_assert(sizeof(LogBlockHeader) == 128);

struct LogRecordPhys {
  uint64_t txg;
  uint64_t blob;
  uint8_t kind;  // dmu::OpKind
  uint8_t pad[3];
  uint32_t name_len;
  uint64_t off;
  uint64_t len;
  uint64_t size_after;
  uint64_t data_len;
  uint64_t reserved;
};
static_assert(sizeof(LogRecordPhys) == 64);

struct BlockIdentity {
  uint64_t pool_guid = 0, gen = 0, seq = 0;
};

// Bytes the records take in a log block (header and padding included).
uint64_t encoded_block_size(const std::vector<const dmu::ChangeRecord*>& recs);
// Encodes into `out` (`bytes` = encoded_block_size): writes every byte, padding as zeros, so
// the block and its checksum do not depend on what `out` held.
void encode_block(const BlockIdentity& id, const std::vector<const dmu::ChangeRecord*>& recs,
                  uint8_t* out, uint64_t bytes);
// Checks a header read from the ring: 0 bytes if it is not the expected block.
uint64_t check_header(const void* hdr, const BlockIdentity& expect, uint64_t room);
// Verifies the checksum and decodes the records of a whole block (EIO if anything is off).
Result<std::vector<dmu::ChangeRecord>> decode_block(const uint8_t* data, uint64_t bytes);

}  // namespace zvfs::zil
