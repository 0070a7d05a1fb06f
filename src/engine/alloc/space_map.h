// space_map.h — the on-disk record of allocations and frees.
//
// The space map is a log of SpaceRecords in checksummed blocks chained by BlockPtrs; each txg
// appends the records of its changes and the new head goes into the uberblock. When the log
// grows past a few times the size of the allocated-range set it is condensed: rewritten as one
// record per allocated range plus the still-deferred frees. Loading replays the log into an
// Allocator; cost is proportional to the log, not to the data in the pool.
// Blocks the space map itself uses are allocated from the allocator it describes (with the
// reserve) and recorded in the same txg, so the map always describes itself.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/alloc/allocator.h"
#include "engine/zio/zio.h"
#include "zvfs/status.h"

namespace zvfs::alloc {

// Stored in the uberblock (fixed size, see docs/FORMAT.md "Space map").
struct SpaceMapRoot {
  zio::BlockPtr head{};          // newest block of the chain (hole = empty map)
  uint64_t blocks = 0;           // blocks in the chain
  uint64_t records = 0;          // records in the chain
  uint64_t allocated_bytes = 0;  // as of this root (cross-check at load)
};
static_assert(sizeof(SpaceMapRoot) == 88);

class SpaceMap {
 public:
  // Replays the map named by `root` into `a`. `synced_txg` as in Allocator::load_record.
  static Status load(zio::Pipeline& zio, const SpaceMapRoot& root, Allocator& a,
                     uint64_t synced_txg);
  // Appends a's pending records for `txg` (condensing when worthwhile) and returns the new root.
  // Blocks of the old chain that a condense drops are freed deferred in `txg`.
  static Result<SpaceMapRoot> sync(zio::Pipeline& zio, const SpaceMapRoot& root, Allocator& a,
                                   uint64_t txg);
  // The block pointers of the chain, newest first, each read and verified (for scrub and for
  // consistency checks: these blocks are allocated but no object references them).
  static Status blocks(zio::Pipeline& zio, const SpaceMapRoot& root,
                       std::vector<zio::BlockPtr>* out);
};

}  // namespace zvfs::alloc
