// side_fsync.h — an fsync of a placeholder that runs beside the caller's own work.
//
// The first sync of a file makes two things durable: the blob's data (the engine's intent log:
// one write and one flush) and the placeholder's inode with its binding xattr (an fsync of the
// placeholder: a journal commit of the file system under the prefix). Neither waits for the
// other: until both are done the client has no answer, and a crash between them leaves a state
// that attach already repairs (a binding to a blob the crash took, or a blob no placeholder
// names: `zvfs fsck --root`). Run one after the other, a new file's first fdatasync cost the
// two device round trips in series (SQLite's rollback journal: 430 us against ext4's 185 us).
//
// SideFsync submits IORING_OP_FSYNC on a small io_uring of the calling thread (made on first
// use, torn down when the thread ends; the kernel runs the fsync in one of its io-wq workers),
// and wait() reaps it. Where io_uring is unavailable (disabled by sysctl, out of memory for the
// ring) it runs the fsync synchronously at construction instead: the same result, in series.
// Invariant: the descriptor stays open until wait() returns; wait() is called exactly once
// (the destructor calls it if the caller did not), so no completion outlives its request.
#pragma once

namespace zvfs::daemon {

class SideFsync {
 public:
  explicit SideFsync(int fd);
  ~SideFsync();
  SideFsync(const SideFsync&) = delete;
  SideFsync& operator=(const SideFsync&) = delete;

  // 0, or the fsync's negative errno.
  int wait();

 private:
  int fd_;
  int result_ = 0;
  bool pending_ = false;
};

}  // namespace zvfs::daemon
