// hook_copy.cc — copies the kernel would do without user space (copy_file_range, sendfile,
// splice), and ioctls that reach file data.
//
// When either side is a ZVFS file the kernel cannot move the bytes (it would copy the empty
// placeholder), so the copy runs here through a bounded buffer, reading and writing through
// whichever path each side needs; offsets and the file positions move exactly as the real call
// would move them. The kernel validates the arguments first with a zero-length call.
// FICLONE/FICLONERANGE/FIDEDUPERANGE on a ZVFS file answer EOPNOTSUPP (cp and pg_upgrade then
// copy); FIEMAP describes the blob's extents (fiemap.cc). Asynchronous I/O: libaio in hook_aio.cc,
// liburing in hook_uring.cc.
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/fd_table.h"
#include "client/file_ops.h"
#include "client/fsize_limit.h"
#include "client/hook.h"
#include "client/real.h"
#include "client/zlog.h"
#include "ipc/client.h"

namespace zvfs::client {
namespace {

// Writes all of buf (pipes and sockets may take less per call). -errno on failure before
// anything was written, else the count.
ssize_t write_fully(int fd, const char* buf, size_t n, loff_t* off) {
  size_t done = 0;
  for (int spins = 0; done < n && spins < (1 << 20); ++spins) {
    ssize_t w = off != nullptr
                    ? any_pwrite(fd, buf + done, n - done, *off + static_cast<off_t>(done))
                    : any_write(fd, buf + done, n - done);
    if (w == -EINTR) continue;
    if (w <= 0) {
      if (done == 0) return w == 0 ? -EIO : w;
      break;
    }
    done += static_cast<size_t>(w);
  }
  if (off != nullptr) *off += static_cast<loff_t>(done);
  return static_cast<ssize_t>(done);
}

// The kernel moves in-kernel copies through a pipe of 16 pages: each round reads up to the end
// of the 16th page counted from the source position. Copying in the same rounds keeps copies
// whose source and destination overlap (sendfile of a file to itself) byte-identical with it.
constexpr size_t kPipeBytes = 16 * 4096;

size_t round_bytes(off_t in_pos) {
  if (in_pos < 0) return kPipeBytes;
  return kPipeBytes - static_cast<size_t>(in_pos % 4096);
}

ssize_t copy_through(int in, loff_t* off_in, int out, loff_t* off_out, size_t len) {
  if (len == 0) return 0;
  char* buf = static_cast<char*>(malloc(kPipeBytes));
  if (buf == nullptr) return -ENOMEM;
  off_t in_pos = off_in != nullptr ? *off_in : any_lseek(in, 0, SEEK_CUR);
  size_t done = 0;
  ssize_t err = 0;
  while (done < len) {
    size_t want = round_bytes(in_pos);
    if (want > len - done) want = len - done;
    ssize_t n = off_in != nullptr ? any_pread(in, buf, want, *off_in) : any_read(in, buf, want);
    if (n == -EINTR) continue;
    if (n < 0) {
      err = n;
      break;
    }
    if (n == 0) break;
    if (off_in != nullptr) *off_in += n;
    if (in_pos >= 0) in_pos += n;
    ssize_t w = write_fully(out, buf, static_cast<size_t>(n), off_out);
    if (w < n) {
      // What was read and not written stays in the source, as the kernel consumes only what
      // it wrote: its offset goes back (a pipe's bytes are gone; the kernel would keep them).
      const off_t unread = static_cast<off_t>(n - (w < 0 ? 0 : w));
      if (off_in != nullptr)
        *off_in -= unread;
      else
        (void)any_lseek(in, -unread, SEEK_CUR);
      if (w < 0) {
        err = w;
        break;
      }
      done += static_cast<size_t>(w);
      break;
    }
    done += static_cast<size_t>(w);
  }
  free(buf);
  if (done == 0 && err < 0) return err;
  return static_cast<ssize_t>(done);
}

// copy_file_range as the kernel prepares it: the copy is shortened to the end of the source
// first; within one file, overlapping ranges are refused; the writer's file size limit. Positions
// default to the descriptors' offsets. Returns the length to copy or -errno.
ssize_t prepare_copy_range(int in, const loff_t* off_in, int out, const loff_t* off_out,
                           size_t len) {
  struct stat a, b;
  if (fstat(in, &a) != 0 || fstat(out, &b) != 0) return -errno;  // fstat: the blob's size
  off_t pin = off_in != nullptr ? *off_in : any_lseek(in, 0, SEEK_CUR);
  off_t pout = off_out != nullptr ? *off_out : any_lseek(out, 0, SEEK_CUR);
  if (pin < 0 || pout < 0) return static_cast<ssize_t>(len);
  uint64_t count = pin >= a.st_size ? 0 : static_cast<uint64_t>(a.st_size - pin);
  if (count > len) count = len;
  if (a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
    uint64_t uin = static_cast<uint64_t>(pin), uout = static_cast<uint64_t>(pout);
    if (uout + count > uin && uout < uin + count) return -EINVAL;
  }
  // Then the writer's file size limit, once for the whole copy (fsize_limit.h): cut short
  // across it, EFBIG and SIGXFSZ from it on.
  return fsize_limit_write(static_cast<uint64_t>(pout), static_cast<size_t>(count));
}

}  // namespace
}  // namespace zvfs::client

using namespace zvfs::client;

ZVFS_HOOK ssize_t copy_file_range(int in, loff_t* off_in, int out, loff_t* off_out, size_t len,
                                  unsigned int flags) {
  if (fd_lookup(in) == nullptr && fd_lookup(out) == nullptr)
    return REAL(copy_file_range)(in, off_in, out, off_out, len, flags);
  struct Args {
    int in, out;
    loff_t *off_in, *off_out;
    unsigned flags;
  } a{in, out, off_in, off_out, flags};
  if (zvfs::ipc::with_kernel_probe(
          [](void* p) -> long {
            auto* x = static_cast<Args*>(p);
            return REAL(copy_file_range)(x->in, x->off_in, x->out, x->off_out, 0, x->flags);
          },
          &a) < 0)
    return -1;
  ssize_t count = prepare_copy_range(in, off_in, out, off_out, len);
  if (count < 0) return set_errno_result(count);
  return set_errno_result(copy_through(in, off_in, out, off_out, static_cast<size_t>(count)));
}

ZVFS_HOOK ssize_t sendfile(int out, int in, off_t* offset, size_t count) noexcept {
  if (fd_lookup(in) == nullptr && fd_lookup(out) == nullptr)
    return REAL(sendfile)(out, in, offset, count);
  struct Args {
    int out, in;
    off_t* offset;
  } a{out, in, offset};
  if (zvfs::ipc::with_kernel_probe(
          [](void* p) -> long {
            auto* x = static_cast<Args*>(p);
            return REAL(sendfile)(x->out, x->in, x->offset, 0);
          },
          &a) < 0)
    return -1;
  loff_t off = offset != nullptr ? *offset : 0;
  ssize_t r = copy_through(in, offset != nullptr ? &off : nullptr, out, nullptr, count);
  if (offset != nullptr && r > 0) *offset = off;
  return set_errno_result(r);
}

ZVFS_HOOK ssize_t sendfile64(int out, int in, off64_t* offset, size_t count) noexcept {
  return sendfile(out, in, offset, count);
}

ZVFS_HOOK ssize_t splice(int in, loff_t* off_in, int out, loff_t* off_out, size_t len,
                         unsigned int flags) {
  if (fd_lookup(in) == nullptr && fd_lookup(out) == nullptr)
    return REAL(splice)(in, off_in, out, off_out, len, flags);
  if (REAL(splice)(in, off_in, out, off_out, 0, flags) < 0) return -1;
  return set_errno_result(copy_through(in, off_in, out, off_out, len));
}

ZVFS_HOOK int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (OpenFile* of = fd_lookup(fd); of != nullptr) {
    switch (request) {
      case FICLONE:
      case FICLONERANGE:
      case FIDEDUPERANGE:
        errno = EOPNOTSUPP;
        return -1;
      case FS_IOC_FIEMAP: {
        if (arg == nullptr) {
          errno = EFAULT;
          return -1;
        }
        int r = zf_fiemap(of, static_cast<struct fiemap*>(arg));
        return r < 0 ? set_errno_result(r) : 0;
      }
      default:
        break;
    }
  } else if (request == FICLONE || request == FICLONERANGE) {
    // The source of a clone is the argument: a ZVFS source cannot be cloned either.
    int src = request == FICLONE
                  ? static_cast<int>(reinterpret_cast<intptr_t>(arg))
                  : static_cast<int>(static_cast<struct file_clone_range*>(arg)->src_fd);
    if (fd_lookup(src) != nullptr) {
      errno = EOPNOTSUPP;
      return -1;
    }
  }
  return REAL(ioctl)(fd, request, arg);
}
