// side_fsync.cc — see side_fsync.h.
#include "daemon/side_fsync.h"

#include <liburing.h>
#include <unistd.h>

#include <cerrno>

namespace zvfs::daemon {
namespace {

// One ring per thread: a session worker has at most one side fsync in flight. A ring whose
// submit or wait failed is not used again by its thread (an sqe left queued in it would go out
// with a later submit, naming a descriptor that may be closed or reused by then).
class ThreadRing {
 public:
  ThreadRing() : inited_(io_uring_queue_init(2, &ring_, 0) == 0), usable_(inited_) {}
  ~ThreadRing() {
    if (inited_) io_uring_queue_exit(&ring_);
  }
  ThreadRing(const ThreadRing&) = delete;
  ThreadRing& operator=(const ThreadRing&) = delete;

  io_uring* get() { return usable_ ? &ring_ : nullptr; }
  void retire() { usable_ = false; }

 private:
  io_uring ring_{};
  const bool inited_;
  bool usable_;
};

ThreadRing& thread_ring() {
  thread_local ThreadRing ring;
  return ring;
}

int fsync_now(int fd) {
  return fsync(fd) == 0 ? 0 : -errno;
}

}  // namespace

SideFsync::SideFsync(int fd) : fd_(fd) {
  ThreadRing& tr = thread_ring();
  io_uring* ring = tr.get();
  io_uring_sqe* sqe = ring != nullptr ? io_uring_get_sqe(ring) : nullptr;
  if (sqe == nullptr) {
    result_ = fsync_now(fd);
    return;
  }
  io_uring_prep_fsync(sqe, fd, 0);
  int r;
  do {
    r = io_uring_submit(ring);
  } while (r == -EINTR);
  if (r != 1) {
    tr.retire();
    result_ = fsync_now(fd);
    return;
  }
  pending_ = true;
}

SideFsync::~SideFsync() {
  (void)wait();
}

int SideFsync::wait() {
  if (!pending_) return result_;
  pending_ = false;
  ThreadRing& tr = thread_ring();
  io_uring* ring = tr.get();
  io_uring_cqe* cqe = nullptr;
  int r;
  do {
    r = io_uring_wait_cqe(ring, &cqe);
  } while (r == -EINTR);
  if (r < 0) {
    // The completion is lost to us: the fsync may or may not have run. Run it again, here.
    tr.retire();
    return result_ = fsync_now(fd_);
  }
  result_ = cqe->res < 0 ? cqe->res : 0;
  io_uring_cqe_seen(ring, cqe);
  return result_;
}

}  // namespace zvfs::daemon
