// hook_io.cc — data and size calls on descriptors: read/write and their p/v/64/2/_chk forms,
// lseek, ftruncate, fallocate, posix_fallocate, fsync, fdatasync, sync_file_range, syncfs, sync.
//
// A non-ZVFS descriptor costs one table load before the real call. ZVFS descriptors go to
// file_ops; fsync never touches the placeholder (its size mirror is the daemon's business and an
// ext4 journal commit per fsync would cost what the intent log saves).
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "client/fd_table.h"
#include "client/file_ops.h"
#include "client/hook.h"
#include "client/real.h"
#include "client/zlog.h"

extern "C" void __chk_fail(void) __attribute__((noreturn));

namespace zvfs::client {

ssize_t any_read(int fd, void* buf, size_t n) {
  if (OpenFile* of = fd_lookup(fd)) return zf_read(of, fd, buf, n);
  ssize_t r = REAL(read)(fd, buf, n);
  return r < 0 ? -errno : r;
}
ssize_t any_write(int fd, const void* buf, size_t n) {
  if (OpenFile* of = fd_lookup(fd)) return zf_write(of, fd, buf, n);
  ssize_t r = REAL(write)(fd, buf, n);
  return r < 0 ? -errno : r;
}
ssize_t any_pread(int fd, void* buf, size_t n, off_t off) {
  if (OpenFile* of = fd_lookup(fd)) return zf_pread(of, fd, buf, n, off);
  ssize_t r = REAL(pread)(fd, buf, n, off);
  return r < 0 ? -errno : r;
}
ssize_t any_pwrite(int fd, const void* buf, size_t n, off_t off) {
  if (OpenFile* of = fd_lookup(fd)) return zf_pwrite(of, fd, buf, n, off);
  ssize_t r = REAL(pwrite)(fd, buf, n, off);
  return r < 0 ? -errno : r;
}
off_t any_lseek(int fd, off_t off, int whence) {
  if (OpenFile* of = fd_lookup(fd)) return zf_lseek(of, fd, off, whence);
  off_t r = REAL(lseek)(fd, off, whence);
  return r < 0 ? -errno : r;
}

}  // namespace zvfs::client

using namespace zvfs::client;

// ---- read / write ----------------------------------------------------------------------------

ZVFS_HOOK ssize_t read(int fd, void* buf, size_t n) {
  OpenFile* of = fd_lookup(fd);
  if (__builtin_expect(of == nullptr, 1)) return REAL(read)(fd, buf, n);
  return set_errno_result(zf_read(of, fd, buf, n));
}

ZVFS_HOOK ssize_t write(int fd, const void* buf, size_t n) {
  OpenFile* of = fd_lookup(fd);
  if (__builtin_expect(of == nullptr, 1)) return REAL(write)(fd, buf, n);
  return set_errno_result(zf_write(of, fd, buf, n));
}

ZVFS_HOOK ssize_t pread(int fd, void* buf, size_t n, off_t off) {
  OpenFile* of = fd_lookup(fd);
  if (__builtin_expect(of == nullptr, 1)) return REAL(pread)(fd, buf, n, off);
  return set_errno_result(zf_pread(of, fd, buf, n, off));
}

ZVFS_HOOK ssize_t pread64(int fd, void* buf, size_t n, off64_t off) {
  OpenFile* of = fd_lookup(fd);
  if (__builtin_expect(of == nullptr, 1)) return REAL(pread64)(fd, buf, n, off);
  return set_errno_result(zf_pread(of, fd, buf, n, off));
}

ZVFS_HOOK ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  OpenFile* of = fd_lookup(fd);
  if (__builtin_expect(of == nullptr, 1)) return REAL(pwrite)(fd, buf, n, off);
  return set_errno_result(zf_pwrite(of, fd, buf, n, off));
}

ZVFS_HOOK ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  OpenFile* of = fd_lookup(fd);
  if (__builtin_expect(of == nullptr, 1)) return REAL(pwrite64)(fd, buf, n, off);
  return set_errno_result(zf_pwrite(of, fd, buf, n, off));
}

// Fortified reads: the caller's buffer size is known; overflowing it aborts as glibc does.
ZVFS_HOOK ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  if (n > buflen) __chk_fail();
  return read(fd, buf, n);
}
ZVFS_HOOK ssize_t __pread_chk(int fd, void* buf, size_t n, off_t off, size_t buflen) {
  if (n > buflen) __chk_fail();
  return pread(fd, buf, n, off);
}
ZVFS_HOOK ssize_t __pread64_chk(int fd, void* buf, size_t n, off64_t off, size_t buflen) {
  if (n > buflen) __chk_fail();
  return pread64(fd, buf, n, off);
}

ZVFS_HOOK ssize_t readv(int fd, const struct iovec* iov, int cnt) {
  OpenFile* of = fd_lookup(fd);
  if (__builtin_expect(of == nullptr, 1)) return REAL(readv)(fd, iov, cnt);
  return set_errno_result(zf_readv(of, fd, iov, cnt, -1, 0));
}

ZVFS_HOOK ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  OpenFile* of = fd_lookup(fd);
  if (__builtin_expect(of == nullptr, 1)) return REAL(writev)(fd, iov, cnt);
  return set_errno_result(zf_writev(of, fd, iov, cnt, -1, 0));
}

// preadv/pwritev take an explicit offset (negative: EINVAL); the *v2 forms accept -1 for "the
// file position" and RWF_* flags.
#define ZVFS_VEC_HOOK(name, offtype, op)                                          \
  ZVFS_HOOK ssize_t name(int fd, const struct iovec* iov, int cnt, offtype off) { \
    OpenFile* of = fd_lookup(fd);                                                 \
    if (__builtin_expect(of == nullptr, 1)) return REAL(name)(fd, iov, cnt, off); \
    if (off < 0) return set_errno_result<ssize_t>(-EINVAL);                       \
    return set_errno_result(op(of, fd, iov, cnt, off, 0));                        \
  }
#define ZVFS_VEC2_HOOK(name, offtype, op)                                                    \
  ZVFS_HOOK ssize_t name(int fd, const struct iovec* iov, int cnt, offtype off, int flags) { \
    OpenFile* of = fd_lookup(fd);                                                            \
    if (__builtin_expect(of == nullptr, 1)) return REAL(name)(fd, iov, cnt, off, flags);     \
    return set_errno_result(op(of, fd, iov, cnt, off, flags));                               \
  }

ZVFS_VEC_HOOK(preadv, off_t, zf_readv)
ZVFS_VEC_HOOK(preadv64, off64_t, zf_readv)
ZVFS_VEC_HOOK(pwritev, off_t, zf_writev)
ZVFS_VEC_HOOK(pwritev64, off64_t, zf_writev)
ZVFS_VEC2_HOOK(preadv2, off_t, zf_readv)
ZVFS_VEC2_HOOK(preadv64v2, off64_t, zf_readv)
ZVFS_VEC2_HOOK(pwritev2, off_t, zf_writev)
ZVFS_VEC2_HOOK(pwritev64v2, off64_t, zf_writev)

// ---- position and size -----------------------------------------------------------------------

ZVFS_HOOK off_t lseek(int fd, off_t off, int whence) noexcept {
  OpenFile* of = fd_lookup(fd);
  if (__builtin_expect(of == nullptr, 1)) return REAL(lseek)(fd, off, whence);
  return set_errno_result(zf_lseek(of, fd, off, whence));
}

ZVFS_HOOK off64_t lseek64(int fd, off64_t off, int whence) noexcept {
  OpenFile* of = fd_lookup(fd);
  if (__builtin_expect(of == nullptr, 1)) return REAL(lseek64)(fd, off, whence);
  return set_errno_result(zf_lseek(of, fd, off, whence));
}

ZVFS_HOOK int ftruncate(int fd, off_t len) noexcept {
  OpenFile* of = fd_lookup(fd);
  if (of == nullptr) return REAL(ftruncate)(fd, len);
  return set_errno_result(zf_ftruncate(of, fd, len));
}

ZVFS_HOOK int ftruncate64(int fd, off64_t len) noexcept {
  OpenFile* of = fd_lookup(fd);
  if (of == nullptr) return REAL(ftruncate64)(fd, len);
  return set_errno_result(zf_ftruncate(of, fd, len));
}

ZVFS_HOOK int fallocate(int fd, int mode, off_t off, off_t len) {
  OpenFile* of = fd_lookup(fd);
  if (of == nullptr) return REAL(fallocate)(fd, mode, off, len);
  return set_errno_result(zf_fallocate(of, fd, mode, off, len));
}

ZVFS_HOOK int fallocate64(int fd, int mode, off64_t off, off64_t len) {
  OpenFile* of = fd_lookup(fd);
  if (of == nullptr) return REAL(fallocate64)(fd, mode, off, len);
  return set_errno_result(zf_fallocate(of, fd, mode, off, len));
}

// posix_fallocate returns the error number instead of setting errno.
ZVFS_HOOK int posix_fallocate(int fd, off_t off, off_t len) {
  OpenFile* of = fd_lookup(fd);
  if (of == nullptr) return REAL(posix_fallocate)(fd, off, len);
  int r = zf_fallocate(of, fd, 0, off, len);
  return r < 0 ? -r : 0;
}

ZVFS_HOOK int posix_fallocate64(int fd, off64_t off, off64_t len) {
  OpenFile* of = fd_lookup(fd);
  if (of == nullptr) return REAL(posix_fallocate64)(fd, off, len);
  int r = zf_fallocate(of, fd, 0, off, len);
  return r < 0 ? -r : 0;
}

// ---- durability ------------------------------------------------------------------------------

ZVFS_HOOK int fsync(int fd) {
  OpenFile* of = fd_lookup(fd);
  if (of == nullptr) return REAL(fsync)(fd);
  return set_errno_result(zf_sync(of, false));
}

ZVFS_HOOK int fdatasync(int fd) {
  OpenFile* of = fd_lookup(fd);
  if (of == nullptr) return REAL(fdatasync)(fd);
  return set_errno_result(zf_sync(of, true));
}

ZVFS_HOOK int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags) {
  OpenFile* of = fd_lookup(fd);
  if (of == nullptr) return REAL(sync_file_range)(fd, off, n, flags);
  // The kernel validates the arguments on the placeholder (which has nothing dirty).
  if (REAL(sync_file_range)(fd, off, n, flags & ~SYNC_FILE_RANGE_WAIT_AFTER) != 0) return -1;
  if ((flags & SYNC_FILE_RANGE_WAIT_AFTER) == 0) return 0;
  return set_errno_result(zf_sync(of, true));
}

namespace {
// Syncs every ZVFS file open in this process; returns the first error.
int sync_all_open() {
  constexpr int kMaxHandles = 4096;
  static thread_local int handles[kMaxHandles];
  int n = 0;
  for_each_live([&](OpenFile* of) {
    if (n < kMaxHandles) handles[n++] = of->handle;
  });
  int first = 0;
  for (int i = 0; i < n; ++i) {
    OpenFile tmp;
    tmp.handle = handles[i];
    int r = zf_sync(&tmp, false);
    if (r < 0 && r != -EBADF && first == 0) first = r;
  }
  return first;
}
}  // namespace

ZVFS_HOOK int syncfs(int fd) noexcept {
  int r = REAL(syncfs)(fd);
  if (r != 0) return r;
  if (live_open_files() == 0) return 0;
  return set_errno_result(sync_all_open());
}

ZVFS_HOOK void sync(void) noexcept {
  if (live_open_files() > 0) (void)sync_all_open();
  REAL(sync)();
}
