// placeholder_guard.h — refuses reads of ZVFS placeholders that bypass the library.
//
// A ZVFS file's data lives in the pool; the Linux file (the placeholder) is an empty sparse
// file of the same size. A program that reaches it without libzvfs.so (a static binary, a
// setuid program, `env -i`, io_uring driven with inline system calls) would read zeros as if
// they were the file's contents. The guard makes that fail loudly instead: the daemon puts a
// fanotify read-permission mark (FAN_ACCESS_PERM) on every placeholder a client opens, and a
// thread of its own answers each event:
//   - from the daemon's own process: allowed (it never reads a placeholder; this only keeps
//     it from ever waiting on itself);
//   - from a client process while one of its threads is inside a zero-length copy_file_range
//     or sendfile that the library makes only to let the kernel validate its arguments (the
//     session's kernel_probes count, ipc/shm.h): allowed;
//   - anything else: refused with EPERM, and a log line naming the process and the file.
// The library itself never reads a placeholder through the kernel otherwise.
//
// Writes are not refused. Linux 6.14's pre-content events (FAN_PRE_ACCESS) would refuse them
// too, but they also fire on every ftruncate, including the daemon's own that keep each
// placeholder's st_size equal to its blob's size (blob_table.h): one fanotify round trip, about
// 100 us here, on every write that extends a file. Bytes written without the library land in
// the placeholder and never reach the pool; the daemon notices them when the file's last
// handle closes (the placeholder then holds data blocks) and logs it (BlobTable::release).
//
// Limits (see README, Limitations): fanotify needs CAP_SYS_ADMIN, so a daemon not run as root
// has no guard (one log line says so). Linux decides at open() whether a file is watched, so a
// descriptor opened before the daemon first saw the file is not checked. Marks live as long
// as the daemon's fanotify descriptor: a daemon that stopped or restarted protects only the
// files opened through it since it started. Marks are evictable: they do not pin an inode, so
// a file closed by everyone stays guarded while the kernel keeps its inode cached, and an
// unlinked one is freed as usual.
//
// Invariant: the event thread never blocks on anything but the fanotify descriptor and its
// stop eventfd.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

namespace zvfs::daemon {

class PlaceholderGuard {
 public:
  // Starts the event thread. Returns null (after one log line) when fanotify is unavailable:
  // no CAP_SYS_ADMIN, or a kernel without permission events.
  // probing(pid): whether a session of pid is inside a validation call (see above).
  static std::unique_ptr<PlaceholderGuard> start(std::function<bool(pid_t)> probing);
  ~PlaceholderGuard();
  PlaceholderGuard(const PlaceholderGuard&) = delete;
  PlaceholderGuard& operator=(const PlaceholderGuard&) = delete;

  // Guards the placeholder open as fd. Idempotent. Returns 0 or -errno (logged once).
  int protect(int fd);

  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  PlaceholderGuard(int fan_fd, int stop_fd, std::function<bool(pid_t)> probing);
  void run();
  void answer(int event_fd, pid_t pid, bool allow);

  int fan_fd_;
  int stop_fd_;
  pid_t self_;
  std::function<bool(pid_t)> probing_;
  std::atomic<bool> mark_failed_logged_{false};
  std::atomic<uint64_t> refused_{0};
  uint64_t log_window_ns_ = 0;
  uint32_t logged_in_window_ = 0;
  std::thread thread_;
};

}  // namespace zvfs::daemon
