// real.h — the C library's own entry points, found behind libzvfs.so with dlsym(RTLD_NEXT).
//
// Every interposed function forwards to the next definition in the search order (normally
// glibc's) through this table. The table is filled in by the library constructor; a hook that
// runs before it (from another library's constructor) resolves its own entry lazily with REAL().
// dlsym may call calloc, which is not interposed, so lazy resolution cannot recurse into us.
// Code inside libzvfs.so that needs a system call on a descriptor it owns calls REAL(x) directly:
// calling the plain name would go through our own hook.
#pragma once

#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

// glibc 2.36's <sys/pidfd.h> declares its functions without C linkage in C++; the one the
// library interposes is declared here instead.
extern "C" int pidfd_getfd(int pidfd, int targetfd, unsigned int flags) noexcept;

namespace zvfs::client {

// X(name): every libc function that libzvfs.so interposes and forwards to.
#define ZVFS_REAL_FUNCTIONS(X)                                                                     \
  X(open)                                                                                          \
  X(open64)                                                                                        \
  X(openat)                                                                                        \
  X(openat64)                                                                                      \
  X(creat)                                                                                         \
  X(creat64)                                                                                       \
  X(close)                                                                                         \
  X(close_range) X(read) X(write) X(pread) X(pread64) X(pwrite) X(pwrite64) X(readv) X(writev)     \
      X(preadv) X(preadv64) X(pwritev) X(pwritev64) X(preadv2) X(pwritev2) X(preadv64v2)           \
          X(pwritev64v2) X(lseek) X(lseek64) X(ftruncate) X(ftruncate64) X(truncate) X(truncate64) \
              X(fallocate) X(fallocate64) X(posix_fallocate) X(posix_fallocate64) X(fsync)         \
                  X(fdatasync) X(sync_file_range) X(syncfs) X(sync) X(fstat) X(fstat64) X(stat)    \
                      X(stat64) X(lstat) X(lstat64) X(fstatat) X(fstatat64) X(statx) X(dup)        \
                          X(dup2) X(dup3) X(fcntl) X(fcntl64) X(fork) X(unlink) X(unlinkat)        \
                              X(rename) X(renameat) X(renameat2) X(link) X(linkat)                 \
                                  X(copy_file_range) X(sendfile) X(sendfile64) X(splice) X(mmap)   \
                                      X(mmap64) X(ioctl) X(fopen) X(fopen64) X(fdopen) X(freopen)  \
                                          X(freopen64) X(fclose) X(execve) X(execveat) X(fexecve)  \
                                              X(execv) X(execvp) X(execvpe) X(syscall)             \
  X(open_by_handle_at) X(recvmsg) X(recvmmsg) X(pidfd_getfd) X(listxattr) X(llistxattr)          \
  X(flistxattr) X(getxattr) X(lgetxattr) X(fgetxattr) X(setxattr) X(lsetxattr) X(fsetxattr)      \
  X(removexattr) X(lremovexattr) X(fremovexattr) X(futimens) X(utimensat) X(futimes)             \
  X(futimesat) X(utimes) X(lutimes) X(utime) X(setrlimit) X(setrlimit64) X(prlimit) X(prlimit64)

struct RealFunctions {
#define ZVFS_REAL_MEMBER(name) decltype(&::name) name;
  ZVFS_REAL_FUNCTIONS(ZVFS_REAL_MEMBER)
#undef ZVFS_REAL_MEMBER
};

// Zero-initialised (constant initialisation: usable before any constructor has run).
extern RealFunctions g_real;

// dlsym(RTLD_NEXT, name); nullptr if no later object defines it.
void* resolve_next(const char* name);
// The next definition of `name`, typed like `f` (for functions outside ZVFS_REAL_FUNCTIONS:
// libaio's, liburing's, POSIX AIO's), or nullptr.
template <class F>
inline F* next_as(F*, const char* name) {
  return reinterpret_cast<F*>(resolve_next(name));
}
// Fills every entry of g_real (called once by the constructor).
void resolve_all_real();

template <class F>
inline F real_or_resolve(F& slot, const char* name) {
  F f = slot;
  if (__builtin_expect(f != nullptr, 1)) return f;
  f = reinterpret_cast<F>(resolve_next(name));
  slot = f;
  return f;
}

}  // namespace zvfs::client

// The real `name`, resolving it on first use if the constructor has not run yet.
#define REAL(name) (::zvfs::client::real_or_resolve(::zvfs::client::g_real.name, #name))
