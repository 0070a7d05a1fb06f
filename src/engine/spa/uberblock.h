// uberblock.h — the root of the pool's state, one per committed txg, kept in a ring.
//
// Committing txg T ends by writing an uberblock into ring slot T % ub_count and flushing. Import
// reads every slot and takes the valid uberblock with the highest txg: an uberblock that was
// torn by a crash fails its checksum and the previous one wins, so a txg is either wholly
// visible after a crash or not at all. Uberblocks name everything else by BlockPtr (the object
// directory, the space map), so nothing is ever overwritten in place except ring slots, and the
// slot being written is never the one holding the newest valid uberblock.
//
// Invariants (always checked): magic, version, pool guid matches the label, checksum
// (XXH3-128 of every byte before the checksum field).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/alloc/space_map.h"
#include "engine/spa/label.h"
#include "engine/zio/blkptr.h"
#include "engine/zio/zio.h"
#include "zvfs/status.h"

namespace zvfs::spa {

inline constexpr uint64_t kUberblockMagic = 0x52454255'5346565aULL;  // "ZVFSUBER"
// An abandoned uberblock (see invalidate_newer_uberblocks): the same layout under another
// magic, so no reader ever imports it, but import still learns how far history went.
inline constexpr uint64_t kUberblockAbandonedMagic = 0x44414241'5346565aULL;  // "ZVFSABAD"
inline constexpr uint32_t kUberblockFlagClean = 1;
// The uberblock's own layout version (format versions 1 and 2 share it).
inline constexpr uint32_t kUberblockVersion = 1;  // written by export

struct UberblockPhys {
  uint64_t magic;
  uint32_t version;
  uint32_t flags;
  uint64_t txg;
  uint64_t pool_guid;
  uint64_t timestamp_ns;
  zio::BlockPtr meta_root;        // the object directory (meta-object of dnodes)
  alloc::SpaceMapRoot space_map;  // 88 bytes
  uint64_t next_blob_id;
  uint64_t blob_count;
  uint64_t log_head_pos;  // intent log: linear position of the first record that may be needed
  uint64_t log_head_seq;  // its sequence number
  uint64_t log_gen;       // generation of records that belong to this pool lifetime
  uint64_t reserved[33];
  zio::Checksum checksum;  // XXH3-128 of bytes [0, 496)
};
static_assert(sizeof(UberblockPhys) == 512, "uberblock is 512 bytes");

// The in-memory view.
struct Uberblock {
  uint64_t txg = 0;
  uint32_t flags = 0;
  uint64_t pool_guid = 0;
  uint64_t timestamp_ns = 0;
  zio::BlockPtr meta_root{};
  alloc::SpaceMapRoot space_map{};
  uint64_t next_blob_id = 1;
  uint64_t blob_count = 0;
  uint64_t log_head_pos = 0;
  uint64_t log_head_seq = 1;
  uint64_t log_gen = 1;
};

// Writes `ub` into its slot (txg % ub_count). Does not flush: the caller orders flushes.
Status write_uberblock(zio::Pipeline& zio, const Layout& layout, const Uberblock& ub);

// Decodes one slot; nullopt if it is empty, torn, foreign or of another version.
std::optional<Uberblock> decode_uberblock(const void* slot, uint64_t pool_guid);

// Reads the whole ring and returns the newest valid uberblock. EIO (logged) if none verifies.
Result<Uberblock> read_best_uberblock(zio::Pipeline& zio, const Layout& layout, uint64_t pool_guid);
// Every valid uberblock of the ring, newest first (import falls back to older ones when the
// state the newest names cannot be loaded). EIO (logged) if none verifies. If `abandoned_txg`
// is given it receives the highest txg of the abandoned uberblocks in the ring (0 if none).
Result<std::vector<Uberblock>> read_uberblocks(zio::Pipeline& zio, const Layout& layout,
                                               uint64_t pool_guid,
                                               uint64_t* abandoned_txg = nullptr);

// Makes every uberblock of `all` newer than `txg` unimportable on the medium and flushes: its
// slot is rewritten as an abandoned uberblock (kUberblockAbandonedMagic, same txg). Import
// calls it, before anything else is written, when it takes an uberblock that is not the newest
// valid one: the newer ones name blocks that are free in the imported state, and the txgs
// committed from it reuse their numbers, so one of them surviving a later crash (its slot not
// yet overwritten) would be imported over blocks since reallocated. The abandoned ones still
// count as history reached: the commits up to them may have reused the blocks of uberblocks
// more than kDeferTxgs older, so a later import must not fall back to those either.
Status invalidate_newer_uberblocks(zio::Pipeline& zio, const Layout& layout,
                                   const std::vector<Uberblock>& all, uint64_t txg);

}  // namespace zvfs::spa
