// hook_times.cc — the calls that set a file's times: the daemon learns of a set mtime.
//
// A ZVFS file's placeholder carries the mtime. The daemon moves it after changes of the data
// (at most a second late while a file is written, exactly at a close: daemon/blob_table.h) and
// keeps one the program set after its last change (`cp -p`, `tar`). Which came last it reads
// from the inode's ctime, but only to within a clock tick; within one the program's time is
// kept, which would be wrong for a set followed by a write in the same tick. So after a
// successful call that sets the mtime of a file this process has open as a ZVFS file, the
// library tells the daemon (one round trip, the mtime_set request): the daemon then knows the
// set came after the changes it had counted and before any later one.
//
// Hooked: futimens, utimensat, futimes, futimesat, utimes, lutimes, utime, and the same
// system calls through syscall() (hook_syscall.cc). A path names a file of an open ZVFS
// descriptor when its device and inode are those of one (a stat, done only while the process
// has a ZVFS file open). An atime-only call changes nothing here. The kernel's result and errno
// are the program's; the report's own failure is ignored (the ctime rule stands in for it).
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <utime.h>

#include "client/hook.h"
#include "client/real.h"
#include "ipc/client.h"

namespace zvfs::client {
namespace {

// Reports a set mtime on the handle of descriptor fd, if it is a ZVFS file.
void report_fd(int fd) {
  OpenFile* of = fd_lookup(fd);
  if (of == nullptr) return;
  const int saved = errno;
  (void)ipc::note_mtime_set(of->handle);
  errno = saved;
}

// Reports a set mtime on a ZVFS file this process has open under (dirfd, path).
void report_path(int dirfd, const char* path, int at_flags) {
  if (path == nullptr || live_open_files() == 0) return;
  const int saved = errno;
  struct stat st;
  if (REAL(fstatat)(dirfd, path, &st, at_flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) == 0 &&
      S_ISREG(st.st_mode)) {
    const int h = fd_find_inode_handle(st.st_dev, st.st_ino);
    if (h >= 0) (void)ipc::note_mtime_set(h);
  }
  errno = saved;
}

// Whether a utimensat/futimens times argument sets the mtime (nullptr: both to now).
bool sets_mtime(const struct timespec* ts) {
  return ts == nullptr || ts[1].tv_nsec != UTIME_OMIT;
}

}  // namespace

void after_times_set(int dirfd, const char* path, int at_flags, const struct timespec* times) {
  if (!sets_mtime(times)) return;
  // Linux takes a null path as the descriptor itself (glibc passes it on, though its header
  // calls utimensat's path nonnull: hidden from the compiler, which would drop the test), as
  // does "" with AT_EMPTY_PATH.
  const char* name = path;
  __asm__("" : "+r"(name));
  if (name == nullptr || (name[0] == '\0' && (at_flags & AT_EMPTY_PATH) != 0))
    report_fd(dirfd);
  else
    report_path(dirfd, name, at_flags);
}

}  // namespace zvfs::client

using namespace zvfs::client;

ZVFS_HOOK int futimens(int fd, const struct timespec times[2]) noexcept {
  const int r = REAL(futimens)(fd, times);
  if (r == 0) after_times_set(fd, nullptr, 0, times);
  return r;
}

ZVFS_HOOK int utimensat(int dirfd, const char* path, const struct timespec times[2],
                        int flags) noexcept {
  const int r = REAL(utimensat)(dirfd, path, times, flags);
  if (r == 0) after_times_set(dirfd, path, flags, times);
  return r;
}

ZVFS_HOOK int futimes(int fd, const struct timeval tv[2]) noexcept {
  const int r = REAL(futimes)(fd, tv);
  if (r == 0) report_fd(fd);
  return r;
}

ZVFS_HOOK int futimesat(int dirfd, const char* path, const struct timeval tv[2]) noexcept {
  const int r = REAL(futimesat)(dirfd, path, tv);
  if (r == 0) after_times_set(dirfd, path, 0, nullptr);
  return r;
}

ZVFS_HOOK int utimes(const char* path, const struct timeval tv[2]) noexcept {
  const int r = REAL(utimes)(path, tv);
  if (r == 0) report_path(AT_FDCWD, path, 0);
  return r;
}

ZVFS_HOOK int lutimes(const char* path, const struct timeval tv[2]) noexcept {
  const int r = REAL(lutimes)(path, tv);
  if (r == 0) report_path(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW);
  return r;
}

ZVFS_HOOK int utime(const char* path, const struct utimbuf* times) noexcept {
  const int r = REAL(utime)(path, times);
  if (r == 0) report_path(AT_FDCWD, path, 0);
  return r;
}
