// hook_open.cc — descriptors coming and going: the open family, close, close_range, closefrom,
// dup*, fcntl(F_DUPFD*), vfork. The library's own descriptors survive the application's closing
// sprees (own_fds.h).
//
// open really opens the Linux file first (the kernel resolves dirfds, "..", symlinks, O_NOFOLLOW,
// /proc/self/fd/N and O_CREAT exactly), then asks whether the opened descriptor is a ZVFS file
// (adopt.h). If the daemon cannot be reached for a file under a prefix, open fails with EIO (the
// just-opened descriptor is closed again; no other descriptor of the file can exist in this
// process, since every one of them would have needed the daemon too); a file the failed open
// made is removed again (open_noting_create tells whether the open made it).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/adopt.h"
#include "client/fd_table.h"
#include "client/hook.h"
#include "client/own_fds.h"
#include "client/preconnect.h"
#include "client/prefix.h"
#include "client/real.h"
#include "ipc/protocol.h"

namespace zvfs::client {

void note_new_fd(int fd, OpenFile* of) {
  if (fd < 0) return;
  Released displaced;
  if (of != nullptr) {
    fd_install(fd, of, &displaced);
  } else {
    if (fd_lookup(fd) == nullptr) return;
    displaced = fd_remove(fd);
  }
  finish_release(displaced);
}

int close_zvfs_fd(int fd) {
  finish_release(fd_remove(fd));
  return REAL(close)(fd);
}

namespace {

bool needs_mode(int flags) {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

}  // namespace

// This open made the file, and the daemon refused it or could not be asked: remove it again,
// so that the failed open leaves nothing behind (as a failed open on Linux; a retry of an
// exclusive create gets the same error, not EEXIST). Only if the name still names that empty,
// unbound inode.
void undo_create(int fd) {
  char path[PATH_MAX];
  if (fd_kernel_name(fd, path, sizeof path) <= 0) return;
  // Bound by the daemon before the failure (a session lost after the attach): its blob goes
  // with the name only through the library's unlink, so leave it to the program.
  for (const char* name : {ipc::kTrustedBindingXattr, ipc::kUserBindingXattr}) {
    if (syscall(SYS_fgetxattr, fd, name, nullptr, 0) >= 0) return;
  }
  struct stat mine, named;
  if (REAL(fstat)(fd, &mine) != 0 || mine.st_size != 0) return;
  if (REAL(fstatat)(AT_FDCWD, path, &named, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (named.st_dev != mine.st_dev || named.st_ino != mine.st_ino) return;
  syscall(SYS_unlinkat, AT_FDCWD, path, 0);  // an unbound file: nothing for the daemon
}

namespace {

// The real open of `path` (relative to `dirfd`) with `flags`, by real(flags); *created tells
// whether it made the file. Linux does not say whether an O_CREAT open created the file or
// opened an existing one, so for a name that may lie under a prefix it is asked apart: first
// with O_EXCL (made it), then, if the name exists, without O_CREAT (as O_CREAT would: O_TRUNC,
// symbolic links followed, EISDIR for a directory). A name that exists but cannot be opened
// without O_CREAT (a dangling symbolic link, whose target O_CREAT creates; or a name removed
// in between) is opened as the program asked, counted as not made by this open. Costs one
// more failing system call for an existing file under a prefix opened with O_CREAT.
template <class Real>
int open_noting_create(int dirfd, const char* path, int flags, bool* created, Real&& real) {
  *created = false;
  if ((flags & O_CREAT) == 0 || (flags & O_TMPFILE) == O_TMPFILE) return real(flags);
  if ((flags & O_EXCL) != 0 || !name_may_be_under_prefix(dirfd, path, true)) {
    int fd = real(flags);
    *created = fd >= 0 && (flags & O_EXCL) != 0;
    return fd;
  }
  int saved = errno;
  int fd = real(flags | O_EXCL);
  if (fd >= 0) {
    *created = true;
    errno = saved;
    return fd;
  }
  if (errno != EEXIST) return -1;
  fd = real(flags & ~O_CREAT);
  if (fd < 0) return errno == ENOENT ? real(flags) : -1;
  struct stat st;
  if ((flags & O_ACCMODE) == O_RDONLY && REAL(fstat)(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    REAL(close)(fd);
    errno = EISDIR;
    return -1;
  }
  errno = saved;
  return fd;
}

int after_open_made(int fd, int flags, const char* path, bool created) {
  if (fd < 0) return fd;
  note_new_fd(fd, nullptr);  // a stale slot from a descriptor closed behind our back
  int rc = adopt_fd(fd, flags, open_may_bind(path));
  if (rc < 0) {
    if (created) undo_create(fd);
    REAL(close)(fd);
    errno = -rc;
    return -1;
  }
  return fd;
}

}  // namespace

// The common tail of every open: classify the new descriptor.
int after_open(int fd, int flags, const char* path) {
  return after_open_made(fd, flags, path, (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL));
}

namespace {

int dup_common(int oldfd, int newfd) {
  if (newfd < 0) return newfd;
  note_new_fd(newfd, fd_lookup(oldfd));
  return newfd;
}

}  // namespace
}  // namespace zvfs::client

using namespace zvfs::client;

#define ZVFS_OPEN_MODE(flags)                    \
  mode_t mode = 0;                               \
  if (needs_mode(flags)) {                       \
    va_list ap;                                  \
    va_start(ap, flags);                         \
    mode = static_cast<mode_t>(va_arg(ap, int)); \
    va_end(ap);                                  \
  }

ZVFS_HOOK int open(const char* path, int flags, ...) {
  ZVFS_OPEN_MODE(flags);
  preconnect_before_open(AT_FDCWD, path, flags);
  bool made;
  int fd = open_noting_create(AT_FDCWD, path, flags, &made,
                              [&](int f) { return REAL(open)(path, f, mode); });
  return after_open_made(fd, flags, path, made);
}

ZVFS_HOOK int open64(const char* path, int flags, ...) {
  ZVFS_OPEN_MODE(flags);
  preconnect_before_open(AT_FDCWD, path, flags);
  bool made;
  int fd = open_noting_create(AT_FDCWD, path, flags, &made,
                              [&](int f) { return REAL(open64)(path, f, mode); });
  return after_open_made(fd, flags, path, made);
}

ZVFS_HOOK int openat(int dirfd, const char* path, int flags, ...) {
  ZVFS_OPEN_MODE(flags);
  preconnect_before_open(dirfd, path, flags);
  bool made;
  int fd = open_noting_create(dirfd, path, flags, &made,
                              [&](int f) { return REAL(openat)(dirfd, path, f, mode); });
  return after_open_made(fd, flags, path, made);
}

ZVFS_HOOK int openat64(int dirfd, const char* path, int flags, ...) {
  ZVFS_OPEN_MODE(flags);
  preconnect_before_open(dirfd, path, flags);
  bool made;
  int fd = open_noting_create(dirfd, path, flags, &made,
                              [&](int f) { return REAL(openat64)(dirfd, path, f, mode); });
  return after_open_made(fd, flags, path, made);
}

// Fortified forms: glibc calls them when it can prove no mode is passed.
ZVFS_HOOK int __open_2(const char* path, int flags) {
  preconnect_before_open(AT_FDCWD, path, flags);
  return after_open(REAL(open)(path, flags, 0), flags, path);
}
ZVFS_HOOK int __open64_2(const char* path, int flags) {
  preconnect_before_open(AT_FDCWD, path, flags);
  return after_open(REAL(open64)(path, flags, 0), flags, path);
}
ZVFS_HOOK int __openat_2(int dirfd, const char* path, int flags) {
  preconnect_before_open(dirfd, path, flags);
  return after_open(REAL(openat)(dirfd, path, flags, 0), flags, path);
}
ZVFS_HOOK int __openat64_2(int dirfd, const char* path, int flags) {
  preconnect_before_open(dirfd, path, flags);
  return after_open(REAL(openat64)(dirfd, path, flags, 0), flags, path);
}

// The file a handle names may be a ZVFS file like any other (the kernel checked the caller's
// right to open by handle).
ZVFS_HOOK int open_by_handle_at(int mount_fd, struct file_handle* handle, int flags) {
  return after_open(REAL(open_by_handle_at)(mount_fd, handle, flags), flags, nullptr);
}

ZVFS_HOOK int creat(const char* path, mode_t mode) {
  int flags = O_CREAT | O_WRONLY | O_TRUNC;
  preconnect_before_open(AT_FDCWD, path, flags);
  bool made;
  int fd = open_noting_create(AT_FDCWD, path, flags, &made,
                              [&](int f) { return REAL(open)(path, f, mode); });
  return after_open_made(fd, flags, path, made);
}
ZVFS_HOOK int creat64(const char* path, mode_t mode) {
  int flags = O_CREAT | O_WRONLY | O_TRUNC;
  preconnect_before_open(AT_FDCWD, path, flags);
  bool made;
  int fd = open_noting_create(AT_FDCWD, path, flags, &made,
                              [&](int f) { return REAL(open64)(path, f, mode); });
  return after_open_made(fd, flags, path, made);
}

ZVFS_HOOK int close(int fd) {
  if (fd_lookup(fd) == nullptr) {
    if (__builtin_expect(own_fd(fd), 0)) return 0;  // the library's: "closed" for the caller
    raw_ring_closed(fd);
    return REAL(close)(fd);
  }
  return close_zvfs_fd(fd);
}

ZVFS_HOOK int close_range(unsigned first, unsigned last, int flags) noexcept {
  constexpr int kKnown = CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC;
  // Invalid arguments, or only marking close-on-exec (ours already are): the kernel decides.
  if ((flags & ~kKnown) != 0 || first > last || (flags & CLOSE_RANGE_CLOEXEC) != 0)
    return REAL(close_range)(first, last, flags);
  // Bounded by the highest slot ever used, whatever `last` is (often ~0U).
  fd_remove_range(first, last, [](const Released& r) { finish_release(r); });
  // Close the range around the library's own descriptors.
  int own[4];
  int n = own_fds(own, 4);
  unsigned lo = first;
  bool split = false;
  for (int i = 0; i < n; ++i) {
    auto o = static_cast<unsigned>(own[i]);  // >= 3 and < INT_MAX: o + 1 does not wrap
    if (o < lo || o > last) continue;
    split = true;
    if (o > lo && REAL(close_range)(lo, o - 1, flags) != 0) return -1;
    lo = o + 1;
  }
  if (!split) return REAL(close_range)(first, last, flags);
  if (lo <= last && REAL(close_range)(lo, last, flags) != 0) return -1;
  return 0;
}

// glibc's closefrom calls its internal close_range, not ours.
ZVFS_HOOK void closefrom(int lowfd) noexcept {
  unsigned lo = lowfd < 0 ? 0u : static_cast<unsigned>(lowfd);
  if (close_range(lo, ~0U, 0) == 0) return;
  // No close_range in this kernel: close what /proc lists, as glibc's fallback does (in rounds:
  // each closes what one listing found).
  for (int round = 0; round < 1024; ++round) {
    int fds[256];
    int n = list_open_fds(fds, 256);
    if (n <= 0) return;
    int closed = 0;
    for (int i = 0; i < n; ++i)
      if (fds[i] >= lowfd && !own_fd(fds[i])) closed += close(fds[i]) == 0;
    if (n < 256 || closed == 0) return;
  }
}

ZVFS_HOOK int dup(int fd) noexcept {
  return dup_common(fd, REAL(dup)(fd));
}

ZVFS_HOOK int dup2(int oldfd, int newfd) noexcept {
  if (newfd >= 0 && newfd <= 2) std_stream_before_change(newfd);
  if (oldfd != newfd && own_fd(newfd)) own_fd_make_room(newfd);
  int r = REAL(dup2)(oldfd, newfd);
  if (r < 0 || oldfd == newfd) return r;
  r = dup_common(oldfd, r);
  if (newfd <= 2) std_stream_update(newfd);
  return r;
}

ZVFS_HOOK int dup3(int oldfd, int newfd, int flags) noexcept {
  if (newfd >= 0 && newfd <= 2) std_stream_before_change(newfd);
  if (oldfd != newfd && own_fd(newfd)) own_fd_make_room(newfd);
  int r = REAL(dup3)(oldfd, newfd, flags);
  if (r < 0) return r;
  r = dup_common(oldfd, r);
  if (newfd <= 2) std_stream_update(newfd);
  return r;
}

static int fcntl_common(decltype(&::fcntl) real, int fd, int cmd, void* arg) {
  int r = real(fd, cmd, arg);
  if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && r >= 0) return dup_common(fd, r);
  if (cmd == F_SETFL && r == 0) {
    // Reads take O_DIRECT from the remembered flags (file_ops.cc): refresh them.
    if (OpenFile* of = fd_lookup(fd)) {
      int saved = errno;
      int fl = real(fd, F_GETFL, nullptr);
      if (fl >= 0) of->status_flags.store(fl, std::memory_order_relaxed);
      errno = saved;
    }
  }
  return r;
}

ZVFS_HOOK int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

ZVFS_HOOK int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return fcntl_common(REAL(fcntl64), fd, cmd, arg);
}

// A vfork child shares our memory: a dup2 or close in it would rewrite the parent's table.
// fork gives the child its own copy, at the cost of copying page tables.
ZVFS_HOOK pid_t vfork(void) noexcept {
  return REAL(fork)();
}
