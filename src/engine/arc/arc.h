// arc.h — the adaptive replacement cache of verified, clean blocks.
//
// Blocks are keyed by where and when they were written (vdev, offset, birth_txg), so a key never
// names two different contents (copy-on-write never rewrites a live block in place). The cache
// balances recency and frequency the ARC way (T1/T2 lists with B1/B2 ghost lists steering the
// target size p), is bounded by max_bytes, and counts hits and misses. Reads that miss go
// through zio (verified), so everything in the cache has passed its checksum.
// Buffers are handed out as shared_ptr<const AlignedBuf>: eviction never frees a buffer that a
// reader still holds. Thread-safe; concurrent misses on the same block read it once.
// Dirty data is not here: the object layer keeps it until its txg is written, then insert()s it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "common/aligned_buf.h"
#include "engine/zio/zio.h"
#include "zvfs/status.h"

namespace zvfs::arc {

using BufRef = std::shared_ptr<const AlignedBuf>;

struct ArcStats {
  uint64_t hits = 0, misses = 0, evictions = 0;
  uint64_t bytes = 0, max_bytes = 0, entries = 0;
  uint64_t mru_bytes = 0, mfu_bytes = 0, target_mru_bytes = 0;
};

class Arc {
 public:
  Arc(zio::Pipeline& zio, uint64_t max_bytes);
  ~Arc();

  // The block's verified contents (bp->lsize bytes), from cache or read through zio.
  Result<BufRef> read(const zio::BlockPtr& bp);
  // Copies n bytes at offset off of the block into out. A cached block is copied from with the
  // cache's lock held, without taking a reference to its buffer (whose shared count is one
  // more contended cache line per lookup); a block not cached is read() first. For small
  // pieces, such as one pointer of an indirect block. EIO if the block is shorter.
  Status copy_out(const zio::BlockPtr& bp, size_t off, void* out, size_t n);
  // After a write: cache what was just written under its new BlockPtr.
  void insert(const zio::BlockPtr& bp, BufRef data);
  // The block was freed: drop it (its space may be reused under the same offset).
  void evict(const zio::BlockPtr& bp);
  // The same for many blocks (a txg's frees), under one acquisition of the lock.
  void evict(std::span<const zio::BlockPtr> bps);
  void set_max_bytes(uint64_t max_bytes);
  ArcStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zvfs::arc
