// file_ops.cc — see file_ops.h.
#include "client/file_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/fsize_limit.h"
#include "client/real.h"
#include "common/copy.h"
#include "ipc/client.h"

namespace zvfs::client {
namespace {

constexpr uintptr_t kDirectAlign = 512;  // logical block size O_DIRECT demands
constexpr size_t kMaxGatherBytes = 64u << 20;

class PosLock {
 public:
  explicit PosLock(OpenFile* of) : of_(of) { pthread_mutex_lock(&of_->pos_lock); }
  ~PosLock() { pthread_mutex_unlock(&of_->pos_lock); }
  PosLock(const PosLock&) = delete;
  PosLock& operator=(const PosLock&) = delete;

 private:
  OpenFile* of_;
};

// F_GETFL of the real descriptor, or -errno.
int get_flags(int fd) {
  int saved = errno;
  int fl = REAL(fcntl)(fd, F_GETFL);
  if (fl < 0) {
    int e = errno;
    errno = saved;
    return -e;
  }
  return fl;
}

// Flags for a read without a system call. The access mode of an open file description never
// changes; of its status flags a read depends only on O_DIRECT (the alignment it demands),
// which only fcntl(F_SETFL) changes, and the library's fcntl refreshes OpenFile::status_flags.
// Another process sharing the description (a forked child) may change O_DIRECT behind our
// back: so a read that the remembered flags would refuse as misaligned asks the kernel first,
// and a stale copy never fails a read the kernel would serve (it can only let through a
// misaligned read the kernel would have refused).
int read_flags(OpenFile* of) {
  return of->status_flags.load(std::memory_order_relaxed);
}
bool writable(int fl) {
  return (fl & O_ACCMODE) == O_WRONLY || (fl & O_ACCMODE) == O_RDWR;
}

bool misaligned(int fl, const void* buf, size_t n, off_t off) {
  if ((fl & O_DIRECT) == 0) return false;
  return (reinterpret_cast<uintptr_t>(buf) | n | static_cast<uintptr_t>(off)) % kDirectAlign != 0;
}

// true if the read must fail with EINVAL for O_DIRECT alignment; *err gets -errno if the
// descriptor itself is gone.
bool direct_misaligned(OpenFile* of, int fd, int fl, const void* buf, size_t n, off_t off,
                       int* err) {
  *err = 0;
  if (!misaligned(fl, buf, n, off)) return false;
  int now = get_flags(fd);
  if (now < 0) {
    *err = now;
    return true;
  }
  of->status_flags.store(now, std::memory_order_relaxed);
  return misaligned(now, buf, n, off);
}

off_t cur_pos(int fd) {
  int saved = errno;
  off_t p = REAL(lseek)(fd, 0, SEEK_CUR);
  if (p < 0) {
    p = -errno;
    errno = saved;
  }
  return p;
}

void set_pos(int fd, off_t pos) {
  int saved = errno;
  (void)REAL(lseek)(fd, pos, SEEK_SET);
  errno = saved;
}

// Reads until n bytes or EOF (the IPC layer splits large requests).
ssize_t read_at(OpenFile* of, void* buf, size_t n, uint64_t off) {
  return ipc::pread(of->handle, buf, n, off);
}

// A regular file never accepts zero bytes of a non-empty write (the kernel reports an error
// instead); callers loop on short writes, so a zero from the daemon becomes EIO.
ssize_t nonzero_write(ssize_t r, size_t n) {
  return (r == 0 && n != 0) ? -EIO : r;
}

ssize_t write_at(OpenFile* of, const void* buf, size_t n, uint64_t off) {
  return nonzero_write(ipc::pwrite(of->handle, buf, n, off), n);
}

// An O_SYNC / O_DSYNC write: the data and its sync in one round trip.
ssize_t write_sync_at(OpenFile* of, int fl, const void* buf, size_t n, uint64_t off) {
  return nonzero_write(ipc::pwrite_sync(of->handle, buf, n, off, (fl & O_SYNC) != O_SYNC), n);
}

// Validates an iovec array as readv/writev do; returns the total or -EINVAL.
ssize_t iov_total(const struct iovec* iov, int cnt) {
  if (cnt < 0 || cnt > IOV_MAX) return -EINVAL;
  size_t total = 0;
  for (int i = 0; i < cnt; ++i) {
    if (iov[i].iov_len > static_cast<size_t>(SSIZE_MAX) - total) return -EINVAL;
    total += iov[i].iov_len;
  }
  return static_cast<ssize_t>(total);
}

// RLIMIT_FSIZE (fsize_limit.h) for a write of *n > 0 bytes at pos, or at the file's end for
// an append (as the kernel checks an O_APPEND write): *n cut to what is allowed; 0 or -errno.
int limit_write(OpenFile* of, bool append, uint64_t pos, size_t* n) {
  if (!fsize_limited()) return 0;
  if (append) {
    int r = ipc::end_of_file(of->handle, &pos);
    if (r < 0) return r;
  }
  const ssize_t allowed = fsize_limit_write(pos, *n);
  if (allowed < 0) return static_cast<int>(allowed);
  *n = static_cast<size_t>(allowed);
  return 0;
}

ssize_t append_locked(OpenFile* of, int fd, const void* buf, size_t n, bool move_pos) {
  uint64_t end = 0;
  ssize_t r = nonzero_write(ipc::append(of->handle, buf, n, &end), n);
  if (r >= 0 && move_pos) set_pos(fd, static_cast<off_t>(end));
  return r;
}

}  // namespace

ssize_t zf_pread(OpenFile* of, int fd, void* buf, size_t n, off_t off) {
  if (off < 0) return -EINVAL;
  if (!of->readable) return -EBADF;
  int fl = read_flags(of);
  if (n > kMaxRwCount) n = kMaxRwCount;
  if (static_cast<uint64_t>(off) + n > static_cast<uint64_t>(LLONG_MAX)) return -EINVAL;
  if (n == 0) return 0;
  int err;
  if (direct_misaligned(of, fd, fl, buf, n, off, &err)) return err != 0 ? err : -EINVAL;
  return read_at(of, buf, n, static_cast<uint64_t>(off));
}

ssize_t zf_pwrite(OpenFile* of, int fd, const void* buf, size_t n, off_t off) {
  if (off < 0) return -EINVAL;
  int fl = get_flags(fd);
  if (fl < 0) return fl;
  if (!writable(fl)) return -EBADF;
  if (n > kMaxRwCount) n = kMaxRwCount;
  if (static_cast<uint64_t>(off) + n > static_cast<uint64_t>(LLONG_MAX)) return -EINVAL;
  if (n == 0) return 0;
  if (int e = limit_write(of, (fl & O_APPEND) != 0, static_cast<uint64_t>(off), &n); e < 0)
    return e;
  if (misaligned(fl, buf, n, off)) return -EINVAL;
  ssize_t r;
  if ((fl & O_APPEND) != 0) {
    r = append_locked(of, fd, buf, n, false);
  } else if ((fl & (O_SYNC | O_DSYNC)) != 0) {
    return write_sync_at(of, fl, buf, n, static_cast<uint64_t>(off));
  } else {
    r = write_at(of, buf, n, static_cast<uint64_t>(off));
  }
  if (r > 0 && (fl & (O_SYNC | O_DSYNC)) != 0) {
    int s = ipc::sync(of->handle, (fl & O_SYNC) != O_SYNC);
    if (s < 0) return s;
  }
  return r;
}

ssize_t zf_read(OpenFile* of, int fd, void* buf, size_t n) {
  if (!of->readable) return -EBADF;
  int fl = read_flags(of);
  if (n > kMaxRwCount) n = kMaxRwCount;
  PosLock lock(of);
  off_t pos = cur_pos(fd);
  if (pos < 0) return pos;
  if (n == 0) return 0;
  int err;
  if (direct_misaligned(of, fd, fl, buf, n, pos, &err)) return err != 0 ? err : -EINVAL;
  ssize_t r = read_at(of, buf, n, static_cast<uint64_t>(pos));
  if (r > 0) set_pos(fd, pos + r);
  return r;
}

ssize_t zf_write(OpenFile* of, int fd, const void* buf, size_t n) {
  int fl = get_flags(fd);
  if (fl < 0) return fl;
  if (!writable(fl)) return -EBADF;
  if (n > kMaxRwCount) n = kMaxRwCount;
  PosLock lock(of);
  ssize_t r;
  if ((fl & O_APPEND) != 0) {
    if (n == 0) return 0;
    if (int e = limit_write(of, true, 0, &n); e < 0) return e;
    if (misaligned(fl, buf, n, 0)) return -EINVAL;
    r = append_locked(of, fd, buf, n, true);
  } else {
    off_t pos = cur_pos(fd);
    if (pos < 0) return pos;
    if (n == 0) return 0;
    if (int e = limit_write(of, false, static_cast<uint64_t>(pos), &n); e < 0) return e;
    if (misaligned(fl, buf, n, pos)) return -EINVAL;
    if ((fl & (O_SYNC | O_DSYNC)) != 0) {
      r = write_sync_at(of, fl, buf, n, static_cast<uint64_t>(pos));
      if (r > 0) set_pos(fd, pos + r);
      return r;
    }
    r = write_at(of, buf, n, static_cast<uint64_t>(pos));
    if (r > 0) set_pos(fd, pos + r);
  }
  if (r > 0 && (fl & (O_SYNC | O_DSYNC)) != 0) {
    int s = ipc::sync(of->handle, (fl & O_SYNC) != O_SYNC);
    if (s < 0) return s;
  }
  return r;
}

ssize_t zf_readv(OpenFile* of, int fd, const struct iovec* iov, int cnt, off_t off, int flags) {
  if (off < -1) return -EINVAL;
  if ((flags & ~(RWF_HIPRI | RWF_NOWAIT)) != 0) return -EOPNOTSUPP;
  if (!of->readable) return -EBADF;
  int fl = read_flags(of);
  ssize_t total = iov_total(iov, cnt);
  if (total < 0) return total;
  bool at_pos = off == -1;
  PosLock lock(of);
  off_t pos = at_pos ? cur_pos(fd) : off;
  if (pos < 0) return pos;
  size_t done = 0;
  for (int i = 0; i < cnt && done < kMaxRwCount; ++i) {
    size_t len = iov[i].iov_len;
    if (len == 0) continue;
    if (len > kMaxRwCount - done) len = kMaxRwCount - done;
    int err;
    if (direct_misaligned(of, fd, fl, iov[i].iov_base, len, pos + static_cast<off_t>(done), &err)) {
      if (done == 0) return err != 0 ? err : -EINVAL;
      break;
    }
    ssize_t r = read_at(of, iov[i].iov_base, len, static_cast<uint64_t>(pos) + done);
    if (r < 0) {
      if (done == 0) return r;
      break;
    }
    done += static_cast<size_t>(r);
    if (static_cast<size_t>(r) < len) break;  // EOF
  }
  if (at_pos && done > 0) set_pos(fd, pos + static_cast<off_t>(done));
  return static_cast<ssize_t>(done);
}

ssize_t zf_writev(OpenFile* of, int fd, const struct iovec* iov, int cnt, off_t off, int flags) {
  if (off < -1) return -EINVAL;
  constexpr int kKnown = RWF_HIPRI | RWF_NOWAIT | RWF_DSYNC | RWF_SYNC | RWF_APPEND;
  if ((flags & ~kKnown) != 0) return -EOPNOTSUPP;
  int fl = get_flags(fd);
  if (fl < 0) return fl;
  if (!writable(fl)) return -EBADF;
  ssize_t total = iov_total(iov, cnt);
  if (total < 0) return total;
  bool at_pos = off == -1;
  bool append = (fl & O_APPEND) != 0 || (flags & RWF_APPEND) != 0;
  size_t want = static_cast<size_t>(total) > kMaxRwCount ? kMaxRwCount : static_cast<size_t>(total);
  PosLock lock(of);
  ssize_t result = 0;
  if (append) {
    // One append keeps the record atomic across processes: gather the pieces when there are
    // several (bounded; beyond the bound the pieces are appended one by one).
    int nonempty = 0;
    int last = -1;
    for (int i = 0; i < cnt; ++i)
      if (iov[i].iov_len != 0) ++nonempty, last = i;
    if (want == 0) return 0;
    if (int e = limit_write(of, true, 0, &want); e < 0) return e;
    if (nonempty == 1) {
      if (misaligned(fl, iov[last].iov_base, want, 0)) return -EINVAL;
      result = append_locked(of, fd, iov[last].iov_base, want, at_pos);
    } else if (want <= kMaxGatherBytes) {
      char* tmp = static_cast<char*>(malloc(want));
      if (tmp == nullptr) return -ENOMEM;
      size_t k = 0;
      for (int i = 0; i < cnt && k < want; ++i) {
        size_t len = iov[i].iov_len < want - k ? iov[i].iov_len : want - k;
        copy_bytes(tmp + k, iov[i].iov_base, len);
        k += len;
      }
      result = append_locked(of, fd, tmp, want, at_pos);
      free(tmp);
    } else {
      size_t done = 0;
      for (int i = 0; i < cnt && done < want; ++i) {
        size_t len = iov[i].iov_len < want - done ? iov[i].iov_len : want - done;
        if (len == 0) continue;
        ssize_t r = append_locked(of, fd, iov[i].iov_base, len, at_pos);
        if (r < 0) {
          if (done == 0) return r;
          break;
        }
        done += static_cast<size_t>(r);
      }
      result = static_cast<ssize_t>(done);
    }
  } else {
    off_t pos = at_pos ? cur_pos(fd) : off;
    if (pos < 0) return pos;
    if (static_cast<uint64_t>(pos) + want > static_cast<uint64_t>(LLONG_MAX)) return -EINVAL;
    if (want > 0) {
      if (int e = limit_write(of, false, static_cast<uint64_t>(pos), &want); e < 0) return e;
    }
    size_t done = 0;
    for (int i = 0; i < cnt && done < want; ++i) {
      size_t len = iov[i].iov_len < want - done ? iov[i].iov_len : want - done;
      if (len == 0) continue;
      if (misaligned(fl, iov[i].iov_base, len, pos + static_cast<off_t>(done))) {
        if (done == 0) return -EINVAL;
        break;
      }
      ssize_t r = write_at(of, iov[i].iov_base, len, static_cast<uint64_t>(pos) + done);
      if (r < 0) {
        if (done == 0) return r;
        break;
      }
      done += static_cast<size_t>(r);
    }
    if (at_pos && done > 0) set_pos(fd, pos + static_cast<off_t>(done));
    result = static_cast<ssize_t>(done);
  }
  bool sync = (fl & (O_SYNC | O_DSYNC)) != 0 || (flags & (RWF_SYNC | RWF_DSYNC)) != 0;
  if (result > 0 && sync) {
    bool full = (fl & O_SYNC) == O_SYNC || (flags & RWF_SYNC) != 0;
    int s = ipc::sync(of->handle, !full);
    if (s < 0) return s;
  }
  return result;
}

int zf_size(OpenFile* of, uint64_t* size, uint64_t* allocated) {
  ipc::BlobStatInfo bs;
  int r = ipc::stat(of->handle, &bs);
  if (r < 0) return r;
  *size = bs.size;
  if (allocated != nullptr) *allocated = bs.allocated_bytes;
  return 0;
}

off_t zf_lseek(OpenFile* of, int fd, off_t off, int whence) {
  int saved = errno;
  off_t target;
  switch (whence) {
    case SEEK_SET:
    case SEEK_CUR: {
      off_t r = REAL(lseek)(fd, off, whence);
      if (r < 0) {
        r = -errno;
        errno = saved;
      }
      return r;
    }
    case SEEK_END: {
      // The size comes from the handle's size cell in shared memory, which the daemon updates
      // before it answers any request that changes the size: no round trip (databases ask for
      // the end of their files several times per transaction), and exact even while the
      // placeholder's own st_size lags behind a growing file.
      uint64_t size = 0;
      int e = ipc::end_of_file(of->handle, &size);
      if (e < 0) return e;
      if (off > 0 && size > static_cast<uint64_t>(LLONG_MAX - off)) return -EINVAL;  // as ext4
      target = static_cast<off_t>(size) + off;
      if (target < 0) return -EINVAL;
      break;
    }
    case SEEK_DATA:
    case SEEK_HOLE: {
      if (off < 0) return -ENXIO;
      uint64_t res = 0;
      int r = ipc::seek(of->handle, static_cast<uint64_t>(off), whence, &res);
      if (r < 0) return r;
      target = static_cast<off_t>(res);
      break;
    }
    default:
      return -EINVAL;
  }
  off_t r = REAL(lseek)(fd, target, SEEK_SET);
  if (r < 0) {
    r = -errno;
  }
  errno = saved;
  return r;
}

int zf_fix_stat(OpenFile* of, struct stat* st) {
  uint64_t size = 0, allocated = 0;
  int r = zf_size(of, &size, &allocated);
  if (r < 0) return r;
  st->st_size = static_cast<off_t>(size);
  st->st_blocks = static_cast<blkcnt_t>((allocated + 511) / 512);
  return 0;
}

int zf_ftruncate(OpenFile* of, int fd, off_t len) {
  // The kernel validates (EINVAL for a negative length or a descriptor not open for writing,
  // EFBIG, EPERM) and keeps the placeholder's size equal to the new logical size: a call on
  // the placeholder itself, which the daemon's guard lets through as a kernel probe.
  int saved = errno;
  struct Args {
    int fd;
    off_t len;
  } a{fd, len};
  if (ipc::with_kernel_probe(
          [](void* p) -> long {
            auto* x = static_cast<Args*>(p);
            return REAL(ftruncate)(x->fd, x->len);
          },
          &a) != 0) {
    int e = errno;
    errno = saved;
    return -e;
  }
  return ipc::truncate(of->handle, static_cast<uint64_t>(len));
}

int zf_fallocate(OpenFile* of, int fd, int mode, off_t off, off_t len) {
  // Same order of checks as vfs_fallocate().
  if (off < 0 || len <= 0) return -EINVAL;
  switch (mode) {
    case 0:
    case FALLOC_FL_KEEP_SIZE:
    case FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
    case FALLOC_FL_ZERO_RANGE:
    case FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE:
      break;
    default:
      return -EOPNOTSUPP;  // includes PUNCH_HOLE without KEEP_SIZE, as the kernel says
  }
  int fl = get_flags(fd);
  if (fl < 0) return fl;
  if (!writable(fl)) return -EBADF;
  if (static_cast<uint64_t>(off) + static_cast<uint64_t>(len) > static_cast<uint64_t>(LLONG_MAX))
    return -EFBIG;
  if ((mode & FALLOC_FL_KEEP_SIZE) == 0 && fsize_limited()) {  // growing past the limit
    uint64_t size = 0;
    int r = ipc::end_of_file(of->handle, &size);
    if (r < 0) return r;
    const uint64_t end = static_cast<uint64_t>(off) + static_cast<uint64_t>(len);
    if (end > size && (r = fsize_limit_size(end)) < 0) return r;
  }
  return ipc::fallocate(of->handle, mode, static_cast<uint64_t>(off), static_cast<uint64_t>(len));
}

int zf_sync(OpenFile* of, bool datasync) {
  return ipc::sync(of->handle, datasync);
}

}  // namespace zvfs::client
