// ring_pool.h — a bounded pool of io_uring instances over one file descriptor.
//
// An io_uring submission queue belongs to one submitter at a time, so a vdev shared by many
// threads needs several. A caller leases a whole ring for its batch, drives it to completion
// and gives it back; the pool's mutex is held only to pop and push a ring, never across I/O, so
// concurrent callers proceed in parallel. Rings are created on demand up to `max_rings`
// (enough for the peak concurrency, not one per thread that ever existed); beyond that callers
// wait for a ring to come back. The file descriptor is registered with each ring (fixed file)
// when the kernel allows it, which saves a file lookup per request.
//
// Batches larger than the ring's depth are streamed through it: the ring is refilled as
// completions are reaped. A ring whose io_uring_enter fails in a way that leaves its state
// unknown is destroyed rather than reused, but only after every request the kernel had taken
// has completed: those requests still own the caller's buffers, so the drain has no time limit
// (it peeks at the completion queue, sleeping a bounded time between peeks, and never calls
// io_uring_enter again). Every request of the failed batch not reaped before the error then
// reports an error: its own if it failed in the kernel, otherwise the io_uring_enter error.
//
// RingHooks is the fault seam for tests: it can stand in for io_uring_enter (to inject an
// error after the kernel took the requests) and observe the drain.
#pragma once

#include <liburing.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "engine/vdev/vdev.h"

namespace zvfs::vdev {

// Test seams; empty in production.
struct RingHooks {
  // Replaces io_uring_submit_and_wait(ring, wait_nr) in drive(); returns what it would.
  std::function<int(io_uring* ring, unsigned wait_nr)> submit_and_wait;
  // Called by the drain after a fatal error each time a peek found nothing, before it sleeps.
  std::function<void()> drain_idle;
};

class RingPool {
 public:
  // Creates the pool and its first ring (so an unusable io_uring is reported at open time).
  // Returns -errno on failure.
  static int create(int fd, unsigned depth, unsigned max_rings, std::unique_ptr<RingPool>* out,
                    RingHooks hooks = {});
  ~RingPool();
  RingPool(const RingPool&) = delete;
  RingPool& operator=(const RingPool&) = delete;

  // Runs every request (already validated) and sets each result. Blocks until all completed.
  void run(std::span<IoReq> reqs);
  // fdatasync through the ring: 0 or -errno.
  int fdatasync();
  // run(reqs), then an fdatasync that the kernel starts when every request has completed, all in
  // one submission (IOSQE_IO_DRAIN): a synchronous log write costs one wait instead of two.
  // Returns the fdatasync's 0 or -errno; the requests' results are set as by run().
  int run_then_fdatasync(std::span<IoReq> reqs);

 private:
  struct Ring {
    io_uring ring{};
    bool fixed = false;  // fd registered as fixed file 0
  };
  RingPool(int fd, unsigned depth, unsigned max_rings, RingHooks hooks)
      : fd_(fd), depth_(depth), max_(max_rings), hooks_(std::move(hooks)) {}

  int new_ring(std::unique_ptr<Ring>* out);
  int acquire(std::unique_ptr<Ring>* out);
  void release(std::unique_ptr<Ring> r, bool broken);
  // Drives one batch (followed by a draining fdatasync whose result goes to *flush_res, if
  // flush_res is set); returns false if the ring is no longer usable.
  bool drive(Ring& r, std::span<IoReq> reqs, int* flush_res = nullptr);
  // After a fatal io_uring_enter error `rc`: waits for every request the kernel took, then
  // sets the result of each request not reaped before the error (see the top of the file) and
  // *flush_res (if set) to rc.
  void fail_batch(Ring& r, std::span<IoReq> reqs, int* flush_res, size_t next, size_t done, int rc);
  void prep(Ring& r, io_uring_sqe* sqe, IoReq& q, uint64_t tag);

  const int fd_;
  const unsigned depth_;
  const unsigned max_;
  const RingHooks hooks_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Ring>> idle_;  // guarded by mu_
  unsigned live_ = 0;                        // rings in existence, guarded by mu_
};

}  // namespace zvfs::vdev
