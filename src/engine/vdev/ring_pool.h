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
// unknown is drained (bounded wait) and destroyed rather than reused.
#pragma once

#include <liburing.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "engine/vdev/vdev.h"

namespace zvfs::vdev {

class RingPool {
 public:
  // Creates the pool and its first ring (so an unusable io_uring is reported at open time).
  // Returns -errno on failure.
  static int create(int fd, unsigned depth, unsigned max_rings, std::unique_ptr<RingPool>* out);
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
  RingPool(int fd, unsigned depth, unsigned max_rings) : fd_(fd), depth_(depth), max_(max_rings) {}

  int new_ring(std::unique_ptr<Ring>* out);
  int acquire(std::unique_ptr<Ring>* out);
  void release(std::unique_ptr<Ring> r, bool broken);
  // Drives one batch (followed by a draining fdatasync whose result goes to *flush_res, if
  // flush_res is set); returns false if the ring is no longer usable.
  bool drive(Ring& r, std::span<IoReq> reqs, int* flush_res = nullptr);
  void prep(Ring& r, io_uring_sqe* sqe, IoReq& q, uint64_t tag);

  const int fd_;
  const unsigned depth_;
  const unsigned max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Ring>> idle_;  // guarded by mu_
  unsigned live_ = 0;                        // rings in existence, guarded by mu_
};

}  // namespace zvfs::vdev
