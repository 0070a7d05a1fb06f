// hook_syscall.cc — libc's syscall(): the system calls glibc has no wrapper for.
//
// Programs reach some file system calls only through syscall(): openat2 (glibc 2.36 has no
// wrapper for it), pidfd_getfd (glibc 2.36 has one, older programs call syscall()), recvmsg
// and recvmmsg (descriptors may arrive) and io_uring's three calls; and a program may issue any
// call this way, such as the xattr calls. Those are looked at here; every other number is
// passed on untouched. Like glibc's own wrapper, all six arguments are read and passed on (the
// kernel ignores the ones a call does not use).
//   - openat2: the new descriptor is classified as every open's is (after_open).
//   - pidfd_getfd, recvmsg, recvmmsg: descriptors that arrive from another process are
//     classified as received ones (hook_socket.cc).
//   - io_uring_setup/enter/register: hook_uring_raw.cc refuses submissions and fixed-file
//     registrations that name a ZVFS descriptor.
//   - the xattr calls: the binding xattr is hidden and protected as in hook_xattr.cc.
//   - utimensat, futimesat, utimes, utime: a set mtime is reported as in hook_times.cc.
//   - setrlimit, prlimit64: the library's copy of RLIMIT_FSIZE follows (hook_rlimit.cc).
// System calls issued with inline instructions (not through libc) cannot be seen.
#include <errno.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>

#include "client/binding_xattr.h"
#include "client/fsize_limit.h"
#include "client/hook.h"
#include "client/real.h"

using namespace zvfs::client;

ZVFS_HOOK long syscall(long number, ...) noexcept {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (long& x : a) x = va_arg(ap, long);
  va_end(ap);
  auto real = REAL(syscall);
  switch (number) {
    case SYS_openat2: {
      long fd = real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
      auto* how = reinterpret_cast<const open_how*>(a[2]);
      if (fd < 0 || how == nullptr) return fd;
      return after_open(static_cast<int>(fd), static_cast<int>(how->flags),
                        reinterpret_cast<const char*>(a[1]));
    }
    case SYS_pidfd_getfd: {
      long fd = real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
      if (fd < 0 || fd > INT_MAX) return fd;
      return after_getfd(static_cast<int>(fd));
    }
    case SYS_recvmsg: {
      long r = real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
      if (r >= 0) after_recvmsg(static_cast<int>(a[0]), reinterpret_cast<msghdr*>(a[1]));
      return r;
    }
    case SYS_recvmmsg: {
      long r = real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
      if (r > 0)
        after_recvmmsg(static_cast<int>(a[0]), reinterpret_cast<mmsghdr*>(a[1]),
                       static_cast<int>(r));
      return r;
    }
    case SYS_io_uring_enter:
      if (raw_ring_submission_refused(static_cast<int>(a[0]), a[1])) {
        errno = EINVAL;
        return -1;
      }
      break;
    case SYS_io_uring_register:
      if (raw_ring_registration_refused(static_cast<unsigned>(a[1]),
                                        reinterpret_cast<const void*>(a[2]),
                                        static_cast<unsigned>(a[3]))) {
        errno = EINVAL;
        return -1;
      }
      break;
    case SYS_io_uring_setup: {
      long fd = real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
      if (fd >= 0 && fd <= INT_MAX) {
        const int saved = errno;
        raw_ring_created(static_cast<int>(fd), reinterpret_cast<const void*>(a[1]));
        errno = saved;
      }
      return fd;
    }
    // The binding xattr (hook_xattr.cc): every call names the file first and the xattr (or the
    // list's buffer) second.
    case SYS_listxattr:
    case SYS_llistxattr:
    case SYS_flistxattr:
      return hide_binding_xattrs(reinterpret_cast<char*>(a[1]),
                                 real(number, a[0], a[1], a[2], a[3], a[4], a[5]));
    case SYS_getxattr:
    case SYS_lgetxattr:
    case SYS_fgetxattr:
    case SYS_setxattr:
    case SYS_lsetxattr:
    case SYS_fsetxattr:
    case SYS_removexattr:
    case SYS_lremovexattr:
    case SYS_fremovexattr:
      if (is_binding_xattr(reinterpret_cast<const char*>(a[1]))) {
        const bool read =
            number == SYS_getxattr || number == SYS_lgetxattr || number == SYS_fgetxattr;
        const bool by_fd =
            number == SYS_fgetxattr || number == SYS_fsetxattr || number == SYS_fremovexattr;
        const bool no_follow =
            number == SYS_lgetxattr || number == SYS_lsetxattr || number == SYS_lremovexattr;
        const XattrTarget target = by_fd       ? XattrTarget::kFd
                                   : no_follow ? XattrTarget::kPathNoFollow
                                               : XattrTarget::kPath;
        // Absent to readers, refused to writers (after the kernel's own error for the file).
        return binding_xattr_refused(target, by_fd ? nullptr : reinterpret_cast<const char*>(a[0]),
                                     by_fd ? static_cast<int>(a[0]) : -1,
                                     reinterpret_cast<const char*>(a[1]), read ? ENODATA : EPERM);
      }
      break;
    // The times (hook_times.cc): after a call that set the mtime, the daemon is told.
    case SYS_utimensat:
#ifdef SYS_futimesat  // the older three are not on every architecture (aarch64 has none)
    case SYS_futimesat:
    case SYS_utimes:
    case SYS_utime:
#endif
    {
      const long r = real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
      if (r != 0) return r;
      bool at = number == SYS_utimensat;
#ifdef SYS_futimesat
      at = at || number == SYS_futimesat;
#endif
      const auto* path = reinterpret_cast<const char*>(at ? a[1] : a[0]);
      const int dirfd = at ? static_cast<int>(a[0]) : AT_FDCWD;
      if (number == SYS_utimensat)
        after_times_set(dirfd, path, static_cast<int>(a[3]),
                        reinterpret_cast<const struct timespec*>(a[2]));
      else
        after_times_set(dirfd, path, 0, nullptr);  // timevals: both times set
      return r;
    }
    case SYS_setrlimit:
    case SYS_prlimit64: {
      const long r = real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
      const bool set = number == SYS_setrlimit ? fsize_limit_set_here(0, a[0])
                                               : a[2] != 0 && fsize_limit_set_here(a[0], a[1]);
      if (r == 0 && set) fsize_limit_refresh();
      return r;
    }
    default:
      break;
  }
  return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
