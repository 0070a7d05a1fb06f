// file_ops.h — the operations on an open ZVFS file, as the kernel would perform them.
//
// Each takes the OpenFile and the application's descriptor and returns >= 0 or -errno (the hooks
// turn that into -1/errno). Validation follows the kernel's order so errors match a local file
// system: access mode (EBADF), arguments (EINVAL), then the operation.
//
// File offsets live in the kernel: the offset of the real descriptor is the file position, so
// dup'd descriptors and forked children share it exactly as POSIX says. read() is
//   pos = lseek(fd, 0, SEEK_CUR); n = ipc::pread(pos); lseek(fd, pos + n, SEEK_SET)
// under the OpenFile's pos_lock: threads of one process never lose or duplicate an offset
// update. Two *processes* reading or writing through one shared OFD at the same instant may
// both use the same position (no lock spans processes); each call is still complete and
// consistent, as on Linux before 3.14. O_APPEND (read with F_GETFL on every write, since F_SETFL
// may change it, also from another process) writes with ipc::append, which picks the end
// atomically across processes, and moves the offset to the returned end. As on Linux, pwrite on
// an O_APPEND descriptor appends.
//
// Transfers are clamped to the kernel's MAX_RW_COUNT per call; larger requests are split by the
// IPC layer, never returned short because of their size or a signal.
#pragma once

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "client/fd_table.h"

struct fiemap;

namespace zvfs::client {

inline constexpr size_t kMaxRwCount = 0x7ffff000;  // Linux MAX_RW_COUNT (INT_MAX & PAGE_MASK)

ssize_t zf_read(OpenFile* of, int fd, void* buf, size_t n);
ssize_t zf_write(OpenFile* of, int fd, const void* buf, size_t n);
ssize_t zf_pread(OpenFile* of, int fd, void* buf, size_t n, off_t off);
ssize_t zf_pwrite(OpenFile* of, int fd, const void* buf, size_t n, off_t off);
// off == -1: at (and advancing) the file position. flags: RWF_* of preadv2/pwritev2.
ssize_t zf_readv(OpenFile* of, int fd, const struct iovec* iov, int cnt, off_t off, int flags);
ssize_t zf_writev(OpenFile* of, int fd, const struct iovec* iov, int cnt, off_t off, int flags);
off_t zf_lseek(OpenFile* of, int fd, off_t off, int whence);
// Replaces the size fields of a stat taken on the placeholder with the blob's.
int zf_fix_stat(OpenFile* of, struct stat* st);
int zf_size(OpenFile* of, uint64_t* size, uint64_t* allocated);
int zf_ftruncate(OpenFile* of, int fd, off_t len);
int zf_fallocate(OpenFile* of, int fd, int mode, off_t off, off_t len);
int zf_sync(OpenFile* of, bool datasync);
// FS_IOC_FIEMAP: the blob's data extents (fiemap.cc).
int zf_fiemap(OpenFile* of, struct fiemap* fm);

}  // namespace zvfs::client
