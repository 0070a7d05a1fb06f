// placeholder_guard.h — refuses accesses to ZVFS placeholders that bypass the library.
//
// A ZVFS file's data lives in the pool; the Linux file (the placeholder) is an empty sparse
// file of the same size. A program that reaches it without libzvfs.so (a static binary, a
// setuid program, `env -i`, io_uring driven with inline system calls) would read zeros as if
// they were the file's contents, and its writes would land beside the data, never in it. The
// guard makes both fail loudly instead: the daemon puts a fanotify mark on every placeholder a
// client opens, and a thread of its own answers each event:
//   - from the daemon's own process: allowed (its ftruncates keep each placeholder's st_size
//     equal to its blob's size, blob_table.h; it never reads or writes placeholder data);
//   - an open (FAN_OPEN_PERM) by a process with the library: allowed. Such a process is a
//     session's client (the pid in its region header, ipc/shm.h) or has libzvfs.so in its
//     memory map (a program that has not yet connected: the kernel opens its first ZVFS file
//     before the library can ask the daemon anything). Refusing every other open also refuses
//     what no later event could: an open with O_TRUNC, which empties the placeholder and
//     raises no pre-content event, and cp, which finds the placeholder all hole and would
//     write an empty copy without reading;
//   - a read, write, truncate or fallocate by a client process while one of its threads is
//     inside a system call that the library makes on the placeholder itself (the kernel's
//     argument checks of a zero-length copy_file_range or sendfile, the placeholder's new size
//     in ftruncate and truncate; the session's kernel_probes count): allowed;
//   - anything else: refused with EPERM, and a log line naming the process and the file.
// The access events still matter for processes with the library: fio's io_uring engine reads
// and writes with inline system calls that the library never sees.
//
// The mark: Linux 6.14's pre-content event (FAN_PRE_ACCESS, a group of class
// FAN_CLASS_PRE_CONTENT) fires before a read, a write, an fallocate or a truncate of the file,
// so both directions are refused. On an older kernel, or a file system that does not offer
// pre-content events, the mark is the read-permission event (FAN_ACCESS_PERM) and only reads
// by clients are refused (one log line says so); bytes a client writes around the library
// (io_uring) then land in the placeholder, and the daemon logs them when the file's last
// handle closes (the placeholder holds data blocks: BlobTable::release). Each guarded daemon
// ftruncate, and each open of a guarded placeholder, costs one fanotify round trip (a wake-up
// of this thread and of the waiting process: 100-300 us on a 2-vCPU VM); the ftruncates happen
// at most once a second per growing file, and at closes.
//
// Limits (see README, Limitations): fanotify needs CAP_SYS_ADMIN, so a daemon not run as root
// has no guard (one log line says so). Linux decides at open() whether a file is watched, so a
// descriptor opened before the daemon first saw the file is not checked. Marks live as long
// as the daemon's fanotify descriptor: a daemon that stopped or restarted protects only the
// files opened through it since it started. A program without the library that a client
// process exec'd keeps its pid, and while the session it inherited lives (a ZVFS descriptor
// kept open across the exec), it may open placeholders; its reads and writes are refused.
// Marks are evictable: they do not pin an inode, so a file closed by everyone stays guarded
// while the kernel keeps its inode cached, and an unlinked one is freed as usual.
//
// Invariant: the event thread never blocks on anything but the fanotify descriptor, its stop
// eventfd and watch_mu_, which is held only to copy or change the list of watched region
// headers (never across a system call on a placeholder). Daemon threads wait for the event
// thread's answer while they hold the locks of handles and blobs, so an answer that needed
// one of those would deadlock.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ipc/shm.h"

namespace zvfs::daemon {

class PlaceholderGuard {
 public:
  // Starts the event thread. Returns null (after one log line) when fanotify is unavailable:
  // no CAP_SYS_ADMIN, or a kernel without permission events.
  static std::unique_ptr<PlaceholderGuard> start();
  ~PlaceholderGuard();
  PlaceholderGuard(const PlaceholderGuard&) = delete;
  PlaceholderGuard& operator=(const PlaceholderGuard&) = delete;

  // Guards the placeholder open as fd. Idempotent. Returns 0 or -errno (logged once).
  int protect(int fd);

  // A session's region header, whose kernel_probes count lets its process through (see
  // above). unwatch() must come before the header is unmapped.
  void watch(const ipc::RegionHeader* h);
  void unwatch(const ipc::RegionHeader* h);

  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  PlaceholderGuard(int fan_fd, int stop_fd);
  void run();
  // Whether pid is a watched session's client (probing: with a thread inside one of the
  // library's own calls on a placeholder, kernel_probes).
  bool has_session(pid_t pid, bool probing);
  int mark_failed(int e);  // logs the first failure; returns -e
  // what: the refused access, for the log line ("an open of", "an access to", "a read of").
  void answer(int event_fd, pid_t pid, const char* what, bool allow);

  int fan_fd_;
  int stop_fd_;
  pid_t self_;
  std::mutex watch_mu_;
  std::vector<const ipc::RegionHeader*> watched_;  // guarded by watch_mu_
  std::atomic<bool> mark_failed_logged_{false};
  std::atomic<bool> reads_only_logged_{false};
  std::atomic<uint64_t> refused_{0};
  uint64_t log_window_ns_ = 0;
  uint32_t logged_in_window_ = 0;
  std::thread thread_;
};

}  // namespace zvfs::daemon
