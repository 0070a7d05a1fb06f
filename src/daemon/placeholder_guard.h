// placeholder_guard.h — refuses accesses to ZVFS placeholders that bypass the library.
//
// A ZVFS file's data lives in the pool; the Linux file (the placeholder) is an empty sparse
// file of the same size. A program that reaches it without libzvfs.so (a static binary, a
// setuid program, `env -i`, io_uring driven with inline system calls) would read zeros as if
// they were the file's contents, and its writes would land beside the data, never in it. The
// guard makes both fail loudly instead: the daemon watches the placeholders with fanotify marks
// (below), and a thread of its own answers each event:
//   - from the daemon's own process: allowed (its ftruncates keep each placeholder's st_size
//     equal to its blob's size, blob_table.h; it never reads or writes placeholder data);
//   - on a file that is not a placeholder (no valid binding xattr of either name, binding.h),
//     e.g. one written without the library in a watched directory: allowed, and an evictable ignore
//     mark on its inode lets its later opens and accesses through inside the kernel;
//   - an open (FAN_OPEN_PERM) of a placeholder by a process with the library: allowed. Such a
//     process is a session's client (the pid in its region header, ipc/shm.h) or has
//     libzvfs.so in its memory map (a program that has not yet connected: the kernel opens its
//     first ZVFS file before the library can ask the daemon anything). Refusing every other
//     open also refuses what no later event could: an open with O_TRUNC, which empties the
//     placeholder and raises no pre-content event, and cp, which finds the placeholder all
//     hole and would write an empty copy without reading;
//   - a read, write, truncate or fallocate of a placeholder by a client process while one of
//     its threads is inside a system call that the library makes on the placeholder itself (the
//     kernel's argument checks of a zero-length copy_file_range or sendfile, the placeholder's
//     new size in ftruncate and truncate; the session's kernel_probes count): allowed;
//   - anything else: refused with EPERM, and a log line naming the process and the file.
// The access events still matter for processes with the library: fio's io_uring engine reads
// and writes with inline system calls that the library never sees.
//
// The marks. Directories: at start, a thread of its own marks every directory under the mount
// prefixes (--root, by default $ZVFS_ROOT) that lies on the prefix's own file system, never
// through a symbolic link (dir_walk.h), at most kMaxDirectoryMarks in all (one log line when
// the limit stops it); the socket is ready before the walk ends. Each attach also marks the
// directory that holds the placeholder (one created after the walk, or under a prefix of the
// client's that the daemon was not given). A directory mark reports the opens of and the
// accesses to the files in it (FAN_EVENT_ON_CHILD; not the directory itself), so a placeholder
// that no client opened since the daemon started is guarded too. Directory marks pin their
// inodes and are remembered by DirKey, so none is made twice. Placeholders: each one a client
// attaches, or that an open event shows to be one, also gets an evictable inode mark, which
// guards it wherever its directory has none (beyond the limit, or moved into an unmarked
// directory) while the kernel keeps its inode cached.
//
// The access event: Linux 6.14's pre-content event (FAN_PRE_ACCESS, a group of class
// FAN_CLASS_PRE_CONTENT) fires before a read, a write, an fallocate or a truncate of the file,
// so both directions are refused. On an older kernel, or a file system that does not offer
// pre-content events (tmpfs), the mark is the read-permission event (FAN_ACCESS_PERM) and only
// reads by clients are refused (one log line says so); bytes a client writes around the library
// (io_uring) then land in the placeholder, and the daemon logs them when the file's last handle
// closes (the placeholder holds data blocks: BlobTable::release). Each guarded daemon
// ftruncate, each open of a placeholder, and the first open of any other file in a watched
// directory (until its inode leaves the cache) costs one fanotify round trip (a wake-up of this
// thread and of the waiting process: 100-300 us on a 2-vCPU VM); the ftruncates happen at most
// once a second per growing file, and at closes.
//
// Limits (see README, Limitations): fanotify needs CAP_SYS_ADMIN, so a daemon not run as root
// has no guard (one log line says so). Marks live as long as the daemon's fanotify descriptor:
// nothing is guarded while no daemon runs, and a restarted daemon guards a directory once its
// walk has reached it. Linux decides at open() which events a descriptor raises, so one opened
// while no mark covered its file (before the daemon started, or before the walk reached its
// directory) is not checked; the daemon reports bytes written through it at the file's last
// close. A program without the library that a client process exec'd keeps its pid, and while
// the session it inherited lives (a ZVFS descriptor kept open across the exec), it may open
// placeholders; its reads and writes are refused. A directory removed and replaced, within one
// daemon lifetime, by one with the same inode number on a file system that records no birth
// time is taken for the marked one: its placeholders keep their inode marks only. The set of
// marked directories is never pruned: removed ones still count toward the limit.
//
// Invariant: the event thread never blocks on anything but the fanotify descriptor, its stop
// eventfd and watch_mu_, which is held only to copy or change the list of watched region
// headers (never across a system call on a placeholder); its other system calls act on the
// event's descriptor (fgetxattr, readlink, fanotify_mark) or read /proc. Daemon
// threads wait for the event thread's answer while they hold the locks of handles and blobs, so
// an answer that needed one of those would deadlock. dirs_mu_ (the marked directories) is taken
// by the walk and by attaches, never by the event thread.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "daemon/dir_walk.h"
#include "ipc/shm.h"

namespace zvfs::daemon {

class PlaceholderGuard {
 public:
  // Directories marked at most, by the walk and by attaches together.
  static constexpr size_t kMaxDirectoryMarks = 100000;

  // Starts the event thread, and the thread that marks the directories under roots (absolute
  // paths; missing ones are skipped with a log line). Returns null (after one log line) when
  // fanotify is unavailable: no CAP_SYS_ADMIN, or a kernel without permission events.
  static std::unique_ptr<PlaceholderGuard> start(const std::vector<std::string>& roots);
  ~PlaceholderGuard();
  PlaceholderGuard(const PlaceholderGuard&) = delete;
  PlaceholderGuard& operator=(const PlaceholderGuard&) = delete;

  // Guards the placeholder open as fd (an inode mark; clears an ignore mark that an open of the
  // file before it was bound left). Idempotent. Returns 0 or -errno (logged once).
  int protect(int fd);
  // Marks the directory that holds the placeholder open as fd (st: its fstat), found by the
  // kernel's name for fd; nothing if the file was renamed or unlinked meanwhile, or the
  // directory is marked already. Idempotent.
  void guard_directory_of(int fd, const struct stat& st);

  // A session's region header, whose kernel_probes count lets its process through (see
  // above). unwatch() must come before the header is unmapped.
  void watch(const ipc::RegionHeader* h);
  void unwatch(const ipc::RegionHeader* h);

  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  enum class DirMark { kAdded, kKnown, kFull, kFailed };

  PlaceholderGuard(int fan_fd, int stop_fd);
  void run();
  void walk(const std::vector<std::string>& roots);
  DirMark mark_directory(int dirfd, const DirKey& key);
  void log_dirs_full_locked();  // once; dirs_mu_ held
  // fanotify_mark(flags, mask and the access event the file's file system offers) on the
  // object open as fd: FAN_PRE_ACCESS, else FAN_ACCESS_PERM (logged once). 0 or -errno.
  int mark(unsigned flags, uint64_t mask, int fd);
  // Lets a file that is not a placeholder through inside the kernel from now on (event thread).
  void ignore(int fd);
  // Whether pid is a watched session's client (probing: with a thread inside one of the
  // library's own calls on a placeholder, kernel_probes).
  bool has_session(pid_t pid, bool probing);
  int mark_failed(const char* what, int e);  // logs the first failure; returns -e
  // what: the refused access, for the log line ("an open of", "an access to", "a read of").
  void answer(int event_fd, pid_t pid, const char* what, bool allow);

  int fan_fd_;
  int stop_fd_;
  pid_t self_;
  std::mutex watch_mu_;
  std::vector<const ipc::RegionHeader*> watched_;  // guarded by watch_mu_
  std::mutex dirs_mu_;
  std::unordered_set<DirKey, DirKeyHash> marked_dirs_;  // guarded by dirs_mu_
  bool dirs_full_logged_ = false;                       // guarded by dirs_mu_
  std::atomic<bool> stopping_{false};                   // ends the walk early
  std::atomic<bool> mark_failed_logged_{false};
  std::atomic<bool> reads_only_logged_{false};
  std::atomic<uint64_t> refused_{0};
  uint64_t log_window_ns_ = 0;
  uint32_t logged_in_window_ = 0;
  std::thread thread_;
  std::thread walker_;
};

}  // namespace zvfs::daemon
