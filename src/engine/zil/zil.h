// zil.h — the intent log: durable per-blob changes between transaction groups.
//
// Blob::sync() must not wait for a txg commit (a rewrite of trees). Instead the changes of that
// blob not yet committed are appended to the log region as one log block and made durable with
// one flush. Concurrent commits group: while one thread writes and flushes a block, the others
// queue; the next writer takes every queued request into one block (one write + one flush for
// all of them).
//
// Ring: positions are linear byte counts (`pos`); a block lives at pos % capacity and never
// wraps (if it does not fit before the end, it starts at the next ring start). `head` is the
// oldest block a crash might need (stored in each uberblock); blocks behind it may be
// overwritten. After txg T is durable, blocks whose records all belong to txgs <= T are
// obsolete and the head moves past them (head_for / trim). If a block does not fit in front
// of the head, commit() returns ENOSPC and the caller commits a txg to free the ring.
//
// Replay walks blocks from the uberblock's head while each verifies (magic, pool guid,
// generation, consecutive sequence number, checksum) and hands their records over in order.
// The first block that does not verify ends the log: it was never acknowledged (its flush did
// not complete) or it is a stale block from before.
//
// Errors: a failed write or flush fails every commit of that block with EIO and the position
// is not advanced (the next block overwrites it). Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "common/aligned_buf.h"
#include "engine/dmu/object.h"
#include "engine/zil/log_format.h"
#include "engine/zio/zio.h"
#include "zvfs/status.h"

namespace zvfs::zil {

struct LogHead {
  uint64_t pos = 0;  // linear position
  uint64_t seq = 1;  // sequence number of the block at pos
};

struct ZilStats {
  uint64_t records = 0, blocks = 0, bytes_written = 0, commits = 0;
  uint64_t used_bytes = 0, capacity_bytes = 0;
};

struct Region {
  uint64_t off = 0, len = 0;  // on the vdev
};

class IntentLog {
 public:
  IntentLog(zio::Pipeline& zio, Region region, uint64_t pool_guid, uint64_t gen, LogHead start);

  // Appends the records durably (one write + one flush, shared with concurrent callers).
  // ENOSPC: the ring has no room in front of the head (commit a txg and retry).
  Status commit(const std::vector<dmu::ChangeRecord>& records);

  // Replays the blocks of generation `gen` from `head`, calling fn for each record in order.
  // Returns the position after the last valid block (where new blocks go).
  using ReplayFn = std::function<Status(const dmu::ChangeRecord&)>;
  static Result<LogHead> replay(zio::Pipeline& zio, Region region, uint64_t pool_guid, uint64_t gen,
                                LogHead head, const ReplayFn& fn);

  // The head to record in the uberblock of txg `txg` (blocks needed once txg is durable).
  LogHead head_for(uint64_t txg) const;
  // That uberblock is durable: space behind `h` may be reused.
  void trim(LogHead h);

  uint64_t gen() const { return gen_; }
  uint64_t capacity() const { return region_.len; }
  uint64_t used_bytes() const;
  ZilStats stats() const;

 private:
  struct Waiter {
    const std::vector<dmu::ChangeRecord>* records;
    Status st;
    bool done = false;
  };
  struct Live {
    uint64_t pos, bytes, seq, max_txg;
  };
  Status write_block(const std::vector<Waiter*>& batch);

  zio::Pipeline& zio_;
  const Region region_;
  const uint64_t guid_, gen_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool writing_ = false;
  std::deque<Waiter*> queue_;
  LogHead head_, tail_;    // durable head; next block position
  std::deque<Live> live_;  // blocks between head and tail
  AlignedBuf buf_;         // the writer's encoding buffer
  uint64_t records_ = 0, blocks_ = 0, bytes_written_ = 0, commits_ = 0;
};

}  // namespace zvfs::zil
