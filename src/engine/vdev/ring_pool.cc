// ring_pool.cc — see ring_pool.h.
#include "engine/vdev/ring_pool.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "common/log.h"

namespace zvfs::vdev {
namespace {
constexpr uint64_t kFsyncTag = ~0ull;
// Draining a broken ring: the sleep between two empty peeks grows from the first to the last.
constexpr long kDrainSleepNsFirst = 100 * 1000;
constexpr long kDrainSleepNsMax = 20 * 1000 * 1000;
// How often a drain that is still waiting says so.
constexpr auto kDrainLogEvery = std::chrono::seconds(10);
}  // namespace

int RingPool::create(int fd, unsigned depth, unsigned max_rings, std::unique_ptr<RingPool>* out,
                     RingHooks hooks) {
  if (depth == 0) depth = 1;
  if (max_rings == 0) max_rings = 1;
  std::unique_ptr<RingPool> p(new RingPool(fd, depth, max_rings, std::move(hooks)));
  std::unique_ptr<Ring> first;
  int rc = p->new_ring(&first);
  if (rc != 0) return rc;
  p->idle_.push_back(std::move(first));
  p->live_ = 1;
  *out = std::move(p);
  return 0;
}

RingPool::~RingPool() {
  for (auto& r : idle_) io_uring_queue_exit(&r->ring);
}

int RingPool::new_ring(std::unique_ptr<Ring>* out) {
  auto r = std::make_unique<Ring>();
  int rc = io_uring_queue_init(depth_, &r->ring, 0);
  if (rc < 0) return rc;
  int fds[1] = {fd_};
  r->fixed = io_uring_register_files(&r->ring, fds, 1) == 0;
  *out = std::move(r);
  return 0;
}

int RingPool::acquire(std::unique_ptr<Ring>* out) {
  std::unique_lock<std::mutex> g(mu_);
  for (;;) {
    if (!idle_.empty()) {
      *out = std::move(idle_.back());
      idle_.pop_back();
      return 0;
    }
    if (live_ < max_) {
      ++live_;
      g.unlock();
      int rc = new_ring(out);
      if (rc == 0) return 0;
      g.lock();
      --live_;
      if (live_ == 0) return rc;  // no ring at all can be made: report it
      // Otherwise wait for one of the existing rings.
    }
    cv_.wait(g, [&] { return !idle_.empty() || live_ < max_; });
  }
}

void RingPool::release(std::unique_ptr<Ring> r, bool broken) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (broken) {
      io_uring_queue_exit(&r->ring);
      --live_;
    } else {
      idle_.push_back(std::move(r));
    }
  }
  cv_.notify_one();
}

void RingPool::prep(Ring& r, io_uring_sqe* sqe, IoReq& q, uint64_t tag) {
  int fd = r.fixed ? 0 : fd_;
  if (q.iovcnt > 0 && q.op == IoReq::Op::kRead)
    io_uring_prep_readv(sqe, fd, q.iov, q.iovcnt, q.off);
  else if (q.iovcnt > 0)
    io_uring_prep_writev(sqe, fd, q.iov, q.iovcnt, q.off);
  else if (q.op == IoReq::Op::kRead)
    io_uring_prep_read(sqe, fd, q.buf, q.len, q.off);
  else
    io_uring_prep_write(sqe, fd, q.buf, q.len, q.off);
  if (r.fixed) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, tag);
}

bool RingPool::drive(Ring& r, std::span<IoReq> reqs, int* flush_res) {
  // The fdatasync, if asked for, is one more request (tag n) queued after all the others.
  const size_t n = reqs.size() + (flush_res ? 1 : 0);
  size_t next = 0, done = 0;
  while (done < n) {
    while (next < n) {
      io_uring_sqe* sqe = io_uring_get_sqe(&r.ring);
      if (!sqe) break;
      if (next < reqs.size()) {
        prep(r, sqe, reqs[next], next);
      } else {
        // DRAIN: the kernel starts it only once every earlier request on this ring completed.
        io_uring_prep_fsync(sqe, r.fixed ? 0 : fd_, IORING_FSYNC_DATASYNC);
        sqe->flags |= IOSQE_IO_DRAIN | (r.fixed ? IOSQE_FIXED_FILE : 0);
        io_uring_sqe_set_data64(sqe, next);
      }
      ++next;
    }
    // With everything queued, wait for all of it in the same system call.
    unsigned wait_nr = next == n ? static_cast<unsigned>(next - done) : 1;
    int rc = hooks_.submit_and_wait ? hooks_.submit_and_wait(&r.ring, wait_nr)
                                    : io_uring_submit_and_wait(&r.ring, wait_nr);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      LOG_ERROR("vdev", "io_uring_enter failed: %d; abandoning ring", rc);
      fail_batch(r, reqs, flush_res, next, done, rc);
      return false;
    }
    if (rc == -EAGAIN || rc == -EBUSY) {
      io_uring_cqe* cqe = nullptr;
      if (done < next) io_uring_wait_cqe(&r.ring, &cqe);
    }
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&r.ring, head, cqe) {
      uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag < reqs.size()) {
        reqs[tag].result = cqe->res;
        ++done;
      } else if (tag < n) {
        *flush_res = cqe->res < 0 ? cqe->res : 0;
        ++done;
      }
      ++seen;
    }
    io_uring_cq_advance(&r.ring, seen);
  }
  return true;
}

void RingPool::fail_batch(Ring& r, std::span<IoReq> reqs, int* flush_res, size_t next, size_t done,
                          int rc) {
  const size_t n = reqs.size();  // tags below n are requests; tag n is the fdatasync, if any
  // Requests are queued in tag order and the kernel consumes the submission queue in order, so
  // the ones it never took are the last `untaken` queued; they will not complete.
  const size_t untaken = io_uring_sq_ready(&r.ring);
  const size_t taken = next - untaken;
  long sleep_ns = kDrainSleepNsFirst;
  auto start = std::chrono::steady_clock::now();
  auto next_log = start + kDrainLogEvery;
  while (done < taken) {
    // Only shared memory is read here: io_uring_enter is what failed.
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&r.ring, head, cqe) {
      uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag < n) reqs[tag].result = cqe->res < 0 ? cqe->res : rc;
      if (tag < n + (flush_res ? 1 : 0)) ++done;
      ++seen;
    }
    io_uring_cq_advance(&r.ring, seen);
    if (seen > 0) {
      sleep_ns = kDrainSleepNsFirst;
      continue;
    }
    if (hooks_.drain_idle) hooks_.drain_idle();
    auto now = std::chrono::steady_clock::now();
    if (now >= next_log) {
      LOG_WARN("vdev", "broken ring: still waiting for %zu request(s) after %lld s", taken - done,
               static_cast<long long>(
                   std::chrono::duration_cast<std::chrono::seconds>(now - start).count()));
      next_log = now + kDrainLogEvery;
    }
    timespec ts{0, sleep_ns};
    ::nanosleep(&ts, nullptr);
    sleep_ns = std::min(sleep_ns * 2, kDrainSleepNsMax);
  }
  for (size_t i = taken; i < n; ++i) reqs[i].result = rc;
  if (flush_res) *flush_res = rc;  // the batch failed: nothing of it may count as durable
}

void RingPool::run(std::span<IoReq> reqs) {
  if (reqs.empty()) return;
  for (IoReq& q : reqs) q.result = 0;
  std::unique_ptr<Ring> r;
  int rc = acquire(&r);
  if (rc != 0) {
    for (IoReq& q : reqs) q.result = rc;
    return;
  }
  bool usable = drive(*r, reqs);
  release(std::move(r), !usable);
}

int RingPool::run_then_fdatasync(std::span<IoReq> reqs) {
  for (IoReq& q : reqs) q.result = 0;
  std::unique_ptr<Ring> r;
  int rc = acquire(&r);
  if (rc != 0) {
    for (IoReq& q : reqs) q.result = rc;
    return rc;
  }
  int flush_res = -EIO;
  bool usable = drive(*r, reqs, &flush_res);
  release(std::move(r), !usable);
  return flush_res;
}

int RingPool::fdatasync() {
  std::unique_ptr<Ring> r;
  int rc = acquire(&r);
  if (rc != 0) return rc;
  io_uring_sqe* sqe = io_uring_get_sqe(&r->ring);
  if (!sqe) {  // cannot happen on an idle ring; treat as a broken ring
    release(std::move(r), true);
    return -EIO;
  }
  io_uring_prep_fsync(sqe, r->fixed ? 0 : fd_, IORING_FSYNC_DATASYNC);
  if (r->fixed) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, kFsyncTag);
  int res = 0;
  bool got = false;
  while (!got) {
    rc = io_uring_submit_and_wait(&r->ring, 1);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      LOG_ERROR("vdev", "io_uring_enter (fsync) failed: %d; abandoning ring", rc);
      release(std::move(r), true);
      return rc;
    }
    io_uring_cqe* cqe = nullptr;
    if (io_uring_peek_cqe(&r->ring, &cqe) == 0 && cqe) {
      res = cqe->res;
      io_uring_cqe_seen(&r->ring, cqe);
      got = true;
    }
  }
  release(std::move(r), false);
  return res < 0 ? res : 0;
}

}  // namespace zvfs::vdev
