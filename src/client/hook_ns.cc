// hook_ns.cc — calls on names: unlink, unlinkat, rename, renameat, renameat2, link, linkat,
// truncate, and execve of a ZVFS file.
//
// The Linux name space is the truth; these hooks only add what the blob needs:
//  - unlink/rename over a ZVFS file: an O_PATH descriptor is opened on the victim *before* the
//    real call (closing an O_PATH descriptor drops no POSIX lock), and after it succeeds the
//    daemon is told (ipc::release_if_unlinked), which frees the blob after its last close.
//  - rename or link across a prefix boundary answers EXDEV (mv and cp then copy the data),
//    because a name outside the prefixes never reaches the blob.
//  - truncate(path) updates the blob as ftruncate does.
//  - execve of a ZVFS file cannot be served (the kernel would read the empty placeholder):
//    ENOEXEC and a log line. Otherwise the exec hands the IPC session over to the new image when
//    ZVFS descriptors survive it (exec_handover.h).
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/adopt.h"
#include "client/exec_handover.h"
#include "client/exec_image.h"
#include "client/fd_table.h"
#include "client/hook.h"
#include "client/prefix.h"
#include "client/real.h"
#include "client/zlog.h"
#include "ipc/client.h"

namespace zvfs::client {
namespace {

// An O_PATH descriptor on the regular file `path` names (not following a final symlink) if it
// lies under a prefix, else -1.
int open_victim(int dirfd, const char* path) {
  if (g_fd_table == nullptr || prefix_count() == 0) return -1;
  int saved = errno;
  int fd = REAL(openat)(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st;
    if (REAL(fstat)(fd, &st) != 0 || !S_ISREG(st.st_mode) || !fd_under_prefix(fd)) {
      REAL(close)(fd);
      fd = -1;
    }
  }
  errno = saved;
  return fd;
}

void release_victim(int victim, bool unlinked) {
  if (victim < 0) return;
  int saved = errno;
  if (unlinked) {
    int r = ipc::release_if_unlinked(victim);
    if (r < 0) zlog("release_if_unlinked failed: %d", r);
  }
  REAL(close)(victim);
  errno = saved;
}

// -EXDEV if the names lie on different sides of a prefix boundary and `old` exists.
int cross_prefix(int olddir, const char* oldpath, int newdir, const char* newpath) {
  if (prefix_count() == 0) return 0;
  int a = name_under_prefix(olddir, oldpath);
  int b = name_under_prefix(newdir, newpath);
  if (a < 0 || b < 0 || a == b) return 0;  // let the kernel report its own errors
  struct stat st;
  int saved = errno;
  int r = REAL(fstatat)(olddir, oldpath, &st, AT_SYMLINK_NOFOLLOW);
  errno = saved;
  return r == 0 ? -EXDEV : 0;
}

// linkat with AT_SYMLINK_FOLLOW links the file a final symbolic link names (also the magic
// links of /proc/self/fd, how an O_TMPFILE file gets a name without privileges): -EXDEV if that
// file and the new name lie on different sides of a prefix boundary.
int cross_prefix_followed(int olddir, const char* oldpath, int newdir, const char* newpath) {
  if (prefix_count() == 0) return 0;
  int b = name_under_prefix(newdir, newpath);
  if (b < 0) return 0;
  int saved = errno;
  int fd = REAL(openat)(olddir, oldpath, O_PATH | O_CLOEXEC);
  int x = 0;
  if (fd >= 0) {
    bool a_inside = fd_under_prefix(fd);
    x = a_inside == (b == 1) ? 0 : -EXDEV;
    REAL(close)(fd);  // an O_PATH descriptor: closing it drops no POSIX lock
  }
  errno = saved;
  return x;
}

int rename_common(int olddir, const char* oldpath, int newdir, const char* newpath, unsigned flags,
                  bool use_renameat2) {
  int x = cross_prefix(olddir, oldpath, newdir, newpath);
  if (x < 0) return set_errno_result(x);
  bool replaces = (flags & (RENAME_EXCHANGE | RENAME_NOREPLACE)) == 0;
  int victim = replaces ? open_victim(newdir, newpath) : -1;
  int r = use_renameat2 ? REAL(renameat2)(olddir, oldpath, newdir, newpath, flags)
                        : REAL(renameat)(olddir, oldpath, newdir, newpath);
  release_victim(victim, r == 0);
  return r;
}

// The ZVFS file that path names (followed, as truncate(2) follows it): an O_PATH descriptor of
// it (closing that drops no POSIX lock) with its stat in *st, or -1 for any other file.
int open_zvfs_path(const char* path, struct stat* st) {
  if (g_fd_table == nullptr || prefix_count() == 0) return -1;
  int saved = errno;
  int pfd = -1;
  if (REAL(stat)(path, st) == 0 && S_ISREG(st->st_mode) && dev_may_hold_prefix(st->st_dev) &&
      !known_outside_prefix(*st)) {
    pfd = REAL(open)(path, O_PATH | O_CLOEXEC);
    struct stat now;
    if (pfd >= 0 && (REAL(fstat)(pfd, &now) != 0 || now.st_dev != st->st_dev ||
                     now.st_ino != st->st_ino || !fd_under_prefix(pfd, now))) {
      REAL(close)(pfd);
      pfd = -1;
    }
  }
  errno = saved;
  return pfd;
}

// The blob behind the placeholder pfd (stat st), updated for truncate(path): through a writable
// descriptor of this process on the same inode, or through a write reopen of pfd that cannot
// drop the process's locks.
int truncate_blob(int pfd, const struct stat& st, off_t len) {
  int h = fd_find_inode_handle(st.st_dev, st.st_ino, true);
  if (h >= 0) return ipc::truncate(h, static_cast<uint64_t>(len));
  uint64_t new_size = static_cast<uint64_t>(len);
  return with_write_reopen(
      pfd,
      [](int handle, void* arg) { return ipc::truncate(handle, *static_cast<uint64_t*>(arg)); },
      &new_size);
}

}  // namespace
}  // namespace zvfs::client

using namespace zvfs::client;

ZVFS_HOOK int unlink(const char* path) noexcept {
  int victim = open_victim(AT_FDCWD, path);
  int r = REAL(unlink)(path);
  release_victim(victim, r == 0);
  return r;
}

ZVFS_HOOK int unlinkat(int dirfd, const char* path, int flags) noexcept {
  int victim = (flags & AT_REMOVEDIR) != 0 ? -1 : open_victim(dirfd, path);
  int r = REAL(unlinkat)(dirfd, path, flags);
  release_victim(victim, r == 0);
  return r;
}

ZVFS_HOOK int rename(const char* oldpath, const char* newpath) noexcept {
  return rename_common(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, false);
}

ZVFS_HOOK int renameat(int olddir, const char* oldpath, int newdir, const char* newpath) noexcept {
  return rename_common(olddir, oldpath, newdir, newpath, 0, false);
}

ZVFS_HOOK int renameat2(int olddir, const char* oldpath, int newdir, const char* newpath,
                        unsigned int flags) noexcept {
  return rename_common(olddir, oldpath, newdir, newpath, flags, true);
}

ZVFS_HOOK int link(const char* oldpath, const char* newpath) noexcept {
  int x = cross_prefix(AT_FDCWD, oldpath, AT_FDCWD, newpath);
  if (x < 0) return set_errno_result(x);
  return REAL(link)(oldpath, newpath);
}

ZVFS_HOOK int linkat(int olddir, const char* oldpath, int newdir, const char* newpath,
                     int flags) noexcept {
  // AT_EMPTY_PATH links an open descriptor (O_TMPFILE files get their name this way).
  if ((flags & AT_EMPTY_PATH) != 0 && oldpath[0] == '\0') {
    if (fd_lookup(olddir) != nullptr && name_under_prefix(newdir, newpath) == 0)
      return set_errno_result(-EXDEV);
  } else {
    int x = (flags & AT_SYMLINK_FOLLOW) != 0
                ? cross_prefix_followed(olddir, oldpath, newdir, newpath)
                : cross_prefix(olddir, oldpath, newdir, newpath);
    if (x < 0) return set_errno_result(x);
  }
  return REAL(linkat)(olddir, oldpath, newdir, newpath, flags);
}

ZVFS_HOOK int truncate(const char* path, off_t len) noexcept {
  struct stat st;
  int pfd = open_zvfs_path(path, &st);
  if (pfd < 0) return REAL(truncate)(path, len);
  // The kernel validates and sets the placeholder's size: a call on the placeholder itself,
  // which the daemon's guard lets through only as the library's kernel probe. Then the blob.
  struct Args {
    const char* path;
    off_t len;
  } a{path, len};
  int r = static_cast<int>(zvfs::ipc::with_kernel_probe(
      [](void* p) -> long {
        auto* x = static_cast<Args*>(p);
        return REAL(truncate)(x->path, x->len);
      },
      &a));
  if (r == 0) r = set_errno_result(truncate_blob(pfd, st, len));
  int saved = errno;
  REAL(close)(pfd);
  errno = saved;
  return r;
}

ZVFS_HOOK int truncate64(const char* path, off64_t len) noexcept {
  return truncate(path, static_cast<off_t>(len));
}

ZVFS_HOOK int execve(const char* path, char* const argv[], char* const envp[]) noexcept {
  ExecTarget t;
  int r = exec_target_resolve(AT_FDCWD, path, 0, argv, envp, &t);
  if (r < 0) return set_errno_result(r);
  if (t.redirected) return exec_target_run(&t, envp);
  return with_handover_env(envp, [&](char* const* env) { return REAL(execve)(path, argv, env); });
}

// glibc's execv/execvp call its internal execve, not the hook above.
ZVFS_HOOK int execv(const char* path, char* const argv[]) noexcept {
  ExecTarget t;
  int r = exec_target_resolve(AT_FDCWD, path, 0, argv, environ, &t);
  if (r < 0) return set_errno_result(r);
  if (t.redirected) return exec_target_run(&t, environ);
  return with_handover_environ([&] { return REAL(execv)(path, argv); });
}

ZVFS_HOOK int execvp(const char* file, char* const argv[]) noexcept {
  ExecTarget t;
  int r = exec_target_resolve_search(file, argv, environ, &t);
  if (r < 0) return set_errno_result(r);
  if (t.redirected) return exec_target_run(&t, environ);
  return with_handover_environ([&] { return REAL(execvp)(file, argv); });
}

ZVFS_HOOK int execvpe(const char* file, char* const argv[], char* const envp[]) noexcept {
  ExecTarget t;
  int r = exec_target_resolve_search(file, argv, envp, &t);
  if (r < 0) return set_errno_result(r);
  if (t.redirected) return exec_target_run(&t, envp);
  return with_handover_env(envp, [&](char* const* env) { return REAL(execvpe)(file, argv, env); });
}

// The execl family: glibc builds the argument vector and calls its internal execve/execvpe;
// these build it and call the hooks above.
namespace zvfs::client {
namespace {
// The arguments from arg0 to the terminating null pointer; *envp_out (if given) gets the pointer
// after it (execle). Returns a malloc'ed array, or nullptr with errno set.
char** collect_args(const char* arg0, va_list ap, char* const** envp_out) {
  va_list count;
  va_copy(count, ap);
  size_t n = 1;
  while (va_arg(count, const char*) != nullptr) ++n;
  va_end(count);
  auto** argv = static_cast<char**>(malloc((n + 1) * sizeof(char*)));
  if (argv == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  argv[0] = const_cast<char*>(arg0);
  for (size_t i = 1; i <= n; ++i) argv[i] = va_arg(ap, char*);  // argv[n] is the null
  if (envp_out != nullptr) *envp_out = va_arg(ap, char* const*);
  return argv;
}

template <class Exec>
int exec_list(const char* arg0, va_list ap, char* const** envp_out, Exec&& exec) {
  char** argv = collect_args(arg0, ap, envp_out);
  if (argv == nullptr) return -1;
  int r = exec(argv);
  int e = errno;
  free(argv);
  errno = e;
  return r;
}
}  // namespace
}  // namespace zvfs::client

ZVFS_HOOK int execl(const char* path, const char* arg0, ...) noexcept {
  va_list ap;
  va_start(ap, arg0);
  int r = exec_list(arg0, ap, nullptr, [&](char** argv) { return execv(path, argv); });
  va_end(ap);
  return r;
}

ZVFS_HOOK int execlp(const char* file, const char* arg0, ...) noexcept {
  va_list ap;
  va_start(ap, arg0);
  int r = exec_list(arg0, ap, nullptr, [&](char** argv) { return execvp(file, argv); });
  va_end(ap);
  return r;
}

ZVFS_HOOK int execle(const char* path, const char* arg0, ...) noexcept {
  va_list ap;
  va_start(ap, arg0);
  char* const* envp = nullptr;
  int r = exec_list(arg0, ap, &envp, [&](char** argv) { return execve(path, argv, envp); });
  va_end(ap);
  return r;
}
