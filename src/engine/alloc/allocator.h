// allocator.h — free space: which byte ranges of the data region are in use.
//
// In memory, free space is a set of extents (metaslab-style: the region is cut into slabs,
// each with its own extent tree, so allocation is fast and large pools do not need one giant
// tree). On disk, changes are recorded in a space map (space_map.h), never derived by scanning
// the object tree, so import time does not grow with the data written.
//
// Copy-on-write safety:
//   - free_deferred(range, txg): the range was referenced by state that is (or may be) on disk.
//     It becomes allocatable only after txg + kDeferTxgs has been synced, so the uberblocks kept
//     in the ring (which may still be imported after a crash) never see their blocks reused.
//   - free_now(range): the range was allocated in the txg now being built and never made
//     reachable from a synced uberblock: reusable at once.
// Reserve: allocations that do not pass use_reserve fail with ENOSPC while free space is below
// the reserve, so commits, deletes and log writes still work on a full pool.
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "zvfs/status.h"

namespace zvfs::alloc {

inline constexpr uint64_t kDeferTxgs = 2;
inline constexpr uint64_t kUnit = 4096;

struct Range {
  uint64_t off = 0;
  uint64_t len = 0;
};

// A change recorded in the space map.
struct SpaceRecord {
  enum class Kind : uint8_t { kAlloc = 1, kFree = 2 };
  Kind kind = Kind::kAlloc;
  uint64_t off = 0;
  uint64_t len = 0;
  uint64_t txg = 0;  // for frees: the txg that freed it (deferral is rebuilt from this at load)
};

struct AllocStats {
  uint64_t region_bytes = 0, allocated_bytes = 0, free_bytes = 0, deferred_bytes = 0;
  uint64_t reserve_bytes = 0;
  bool written_only = false;  // limited by a space ceiling (lower_space_ceiling)
};

class Allocator {
 public:
  // Manages [start, end), both multiples of kUnit; `reserve_bytes` kept back for use_reserve.
  Allocator(uint64_t start, uint64_t end, uint64_t reserve_bytes);
  ~Allocator();

  Result<uint64_t> alloc(uint64_t len, bool use_reserve = false);  // len multiple of kUnit
  void free_now(uint64_t off, uint64_t len);
  void free_deferred(uint64_t off, uint64_t len, uint64_t txg);
  // txg is durable: ranges freed in txgs <= txg - kDeferTxgs become allocatable.
  void txg_synced(uint64_t txg);

  // Changes since the last call, for the space map of the txg being synced.
  std::vector<SpaceRecord> take_pending();
  // Rebuild at import: mark a range allocated / apply a recorded change. `synced_txg` is the
  // txg of the imported uberblock (frees newer than synced_txg - kDeferTxgs stay deferred).
  void load_record(const SpaceRecord& r, uint64_t synced_txg);
  // Every allocated range, sorted (for condensing the space map and for checks).
  std::vector<Range> allocated_ranges() const;
  bool is_allocated(uint64_t off, uint64_t len) const;
  // Every byte of the range is allocatable now (neither allocated nor deferred).
  bool is_free(uint64_t off, uint64_t len) const;
  // The frees still waiting for their txg to be safe, as kFree records (for condensing).
  std::vector<SpaceRecord> deferred() const;
  // For rewriting the space map from scratch as of `txg`, atomically: `records` describes the
  // current state (one kAlloc per allocated range, deferred frees included, each deferred free
  // of a txg <= `txg` followed by its kFree), and `pending` is what take_pending() would have
  // returned (the pending list is left empty).
  struct Condensed {
    std::vector<SpaceRecord> records;
    std::vector<SpaceRecord> pending;
  };
  Condensed take_condensed(uint64_t txg);
  // Puts records returned by take_pending() back in front of the pending ones (when writing
  // them failed), so the next take_pending() returns them again.
  void return_pending(std::vector<SpaceRecord> records);

  AllocStats stats() const;

  // The file system holding a sparse pool file is full: a write to space the file has never
  // had fails there, however free the pool. A space ceiling keeps allocations in slabs wholly
  // below it, and stats() and alloc() count only the free space there, so writers get ENOSPC
  // from admission instead of a commit failing on the device. space_ceiling() is 0 without
  // one. lower_space_ceiling(seen) does nothing if the ceiling is no longer `seen` (another
  // caller lowered it meanwhile); else it sets the first ceiling at the last whole slab below
  // the high-water mark (space written before), or lowers it by a slab (a failed write showed
  // never-written space below it). lift_space_ceiling() removes it.
  uint64_t space_ceiling() const;
  // Free bytes in the whole slabs below the high-water mark (space a sparse file has). A scan of
  // the slabs: not part of stats(), which every admission reads.
  uint64_t written_free_bytes() const;
  void lower_space_ceiling(uint64_t seen);
  void lift_space_ceiling();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zvfs::alloc
