// hook_stat.cc — the stat family: fstat, stat, lstat, fstatat, statx and glibc's old __*xstat*
// entry points (still exported for programs linked before glibc 2.33).
//
// The placeholder's st_size mirrors the logical size and its st_blocks is 0 (its data lives in
// the pool), so both size fields of a ZVFS file are replaced with the blob's: st_size = logical
// size, st_blocks = allocated bytes / 512 (cp and RocksDB infer holes from st_blocks).
// Path-based calls, and fstat of an O_PATH descriptor, find the blob through a descriptor of the
// same inode already open in this process, or else pass an O_PATH descriptor of the file to the
// daemon (ipc::stat_file): no open of the file itself (which the daemon's guard would have to
// let through, and which would need read permission where stat needs none), no handle.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "client/adopt.h"
#include "client/fd_table.h"
#include "client/file_ops.h"
#include "client/hook.h"
#include "client/prefix.h"
#include "client/real.h"
#include "ipc/client.h"

static_assert(sizeof(struct stat) == sizeof(struct stat64), "stat and stat64 share one layout");

namespace zvfs::client {

namespace {

void set_sizes(const ipc::BlobStatInfo& bs, off_t* size, blkcnt_t* blocks) {
  *size = static_cast<off_t>(bs.size);
  *blocks = static_cast<blkcnt_t>((bs.allocated_bytes + 511) / 512);
}

}  // namespace

int path_blob_size(int dirfd, const char* path, bool follow, const struct stat& seen, off_t* size,
                   blkcnt_t* blocks) {
  if (g_fd_table == nullptr || prefix_count() == 0) return 0;
  const dev_t dev = seen.st_dev;
  const ino_t ino = seen.st_ino;
  if (!dev_may_hold_prefix(dev) || known_outside_prefix(seen)) return 0;
  ipc::BlobStatInfo bs;
  int h = fd_find_inode_handle(dev, ino);
  if (h >= 0 && ipc::stat(h, &bs) == 0) {
    set_sizes(bs, size, blocks);
    return 1;
  }
  int saved = errno;
  int pfd = REAL(openat)(dirfd, path, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
  if (pfd < 0) {
    errno = saved;
    return 0;
  }
  // Under a prefix at all (a readlink, or remembered) before the reopen: most files a program
  // stats are not ZVFS files, even on the prefix's file system.
  int result = 0;
  struct stat st;
  if (REAL(fstat)(pfd, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == dev && st.st_ino == ino &&
      fd_under_prefix(pfd, st)) {
    result = ipc::stat_file(pfd, &bs);
    if (result == 1) set_sizes(bs, size, blocks);
  }
  REAL(close)(pfd);
  errno = saved;
  return result;
}

// An O_PATH descriptor (never in the table) on a ZVFS file: the stat of the placeholder gets the
// blob's sizes.
int opath_fd_blob_size(int fd, struct stat* st) {
  if (g_fd_table == nullptr || prefix_count() == 0 || !opath_files_may_exist() ||
      !dev_may_hold_prefix(st->st_dev) || known_outside_prefix(*st))
    return 0;
  int saved = errno;
  int fl = REAL(fcntl)(fd, F_GETFL);
  if (fl < 0 || (fl & O_PATH) == 0) {
    errno = saved;
    return 0;
  }
  ipc::BlobStatInfo bs;
  int h = fd_find_inode_handle(st->st_dev, st->st_ino);
  int r = 0;
  if (h >= 0 && ipc::stat(h, &bs) == 0)
    r = 1;
  else if (fd_under_prefix(fd, *st))
    r = ipc::stat_file(fd, &bs);
  errno = saved;
  if (r == 1) set_sizes(bs, &st->st_size, &st->st_blocks);
  return r < 0 ? r : 0;
}

namespace {

// The placeholder of a ZVFS file holding data is a hole: no data blocks (an xattr block at most).
// Files with real blocks, or empty ones, are described by the kernel already.
bool may_be_placeholder(const struct stat* st) {
  return S_ISREG(st->st_mode) && st->st_size != 0 && st->st_blocks <= 8;
}

int fix_fd(int fd, struct stat* st) {
  OpenFile* of = fd_lookup(fd);
  int r = 0;
  if (of != nullptr)
    r = zf_fix_stat(of, st);
  else if (may_be_placeholder(st))
    r = opath_fd_blob_size(fd, st);
  return set_errno_result(r);
}

int fix_path(int dirfd, const char* path, int at_flags, struct stat* st) {
  if (!S_ISREG(st->st_mode)) return 0;
  if ((at_flags & AT_EMPTY_PATH) != 0 && path != nullptr && path[0] == '\0')
    return fix_fd(dirfd, st);
  if (!may_be_placeholder(st)) return 0;
  off_t size;
  blkcnt_t blocks;
  int r = path_blob_size(dirfd, path, (at_flags & AT_SYMLINK_NOFOLLOW) == 0, *st, &size, &blocks);
  if (r < 0) return set_errno_result(r);
  if (r == 1) {
    st->st_size = size;
    st->st_blocks = blocks;
  }
  return 0;
}

}  // namespace
}  // namespace zvfs::client

using namespace zvfs::client;

ZVFS_HOOK int fstat(int fd, struct stat* st) noexcept {
  int r = REAL(fstat)(fd, st);
  if (r != 0 || (fd_lookup(fd) == nullptr && !may_be_placeholder(st))) return r;
  return fix_fd(fd, st);
}

ZVFS_HOOK int fstat64(int fd, struct stat64* st) noexcept {
  int r = REAL(fstat64)(fd, st);
  auto* s = reinterpret_cast<struct stat*>(st);
  if (r != 0 || (fd_lookup(fd) == nullptr && !may_be_placeholder(s))) return r;
  return fix_fd(fd, s);
}

ZVFS_HOOK int stat(const char* path, struct stat* st) noexcept {
  int r = REAL(stat)(path, st);
  if (r != 0) return r;
  return fix_path(AT_FDCWD, path, 0, st);
}

ZVFS_HOOK int stat64(const char* path, struct stat64* st) noexcept {
  int r = REAL(stat64)(path, st);
  if (r != 0) return r;
  return fix_path(AT_FDCWD, path, 0, reinterpret_cast<struct stat*>(st));
}

ZVFS_HOOK int lstat(const char* path, struct stat* st) noexcept {
  int r = REAL(lstat)(path, st);
  if (r != 0) return r;
  return fix_path(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, st);
}

ZVFS_HOOK int lstat64(const char* path, struct stat64* st) noexcept {
  int r = REAL(lstat64)(path, st);
  if (r != 0) return r;
  return fix_path(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, reinterpret_cast<struct stat*>(st));
}

ZVFS_HOOK int fstatat(int dirfd, const char* path, struct stat* st, int flags) noexcept {
  int r = REAL(fstatat)(dirfd, path, st, flags);
  if (r != 0) return r;
  return fix_path(dirfd, path, flags, st);
}

ZVFS_HOOK int fstatat64(int dirfd, const char* path, struct stat64* st, int flags) noexcept {
  int r = REAL(fstatat64)(dirfd, path, st, flags);
  if (r != 0) return r;
  return fix_path(dirfd, path, flags, reinterpret_cast<struct stat*>(st));
}

// The system call's own name, exported by some C libraries and called by some programs.
ZVFS_HOOK int newfstatat(int dirfd, const char* path, struct stat* st, int flags) {
  return fstatat(dirfd, path, st, flags);
}

ZVFS_HOOK int statx(int dirfd, const char* path, int flags, unsigned int mask,
                    struct statx* stx) noexcept {
  int r = REAL(statx)(dirfd, path, flags, mask, stx);
  if (r != 0 || !S_ISREG(stx->stx_mode)) return r;
  struct stat st;
  memset(&st, 0, sizeof st);
  st.st_mode = stx->stx_mode;
  st.st_dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
  st.st_ino = static_cast<ino_t>(stx->stx_ino);
  st.st_size = static_cast<off_t>(stx->stx_size);
  st.st_blocks = static_cast<blkcnt_t>(stx->stx_blocks);
  if ((stx->stx_mask & STATX_NLINK) != 0) st.st_nlink = stx->stx_nlink;
  if ((stx->stx_mask & STATX_CTIME) != 0) {
    st.st_ctim.tv_sec = stx->stx_ctime.tv_sec;
    st.st_ctim.tv_nsec = stx->stx_ctime.tv_nsec;
  }
  int fr = fix_path(dirfd, path, flags, &st);
  if (fr != 0) return fr;
  stx->stx_size = static_cast<uint64_t>(st.st_size);
  stx->stx_blocks = static_cast<uint64_t>(st.st_blocks);
  return 0;
}

// glibc < 2.33 ABI: the version argument is _STAT_VER (1 on x86-64), and struct stat is the
// same as today's.
ZVFS_HOOK int __fxstat(int, int fd, struct stat* st) {
  return fstat(fd, st);
}
ZVFS_HOOK int __fxstat64(int, int fd, struct stat64* st) {
  return fstat64(fd, st);
}
ZVFS_HOOK int __xstat(int, const char* path, struct stat* st) {
  return stat(path, st);
}
ZVFS_HOOK int __xstat64(int, const char* path, struct stat64* st) {
  return stat64(path, st);
}
ZVFS_HOOK int __lxstat(int, const char* path, struct stat* st) {
  return lstat(path, st);
}
ZVFS_HOOK int __lxstat64(int, const char* path, struct stat64* st) {
  return lstat64(path, st);
}
ZVFS_HOOK int __fxstatat(int, int dirfd, const char* path, struct stat* st, int flags) {
  return fstatat(dirfd, path, st, flags);
}
ZVFS_HOOK int __fxstatat64(int, int dirfd, const char* path, struct stat64* st, int flags) {
  return fstatat64(dirfd, path, st, flags);
}
