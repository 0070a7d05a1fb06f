// hook_cwd.cc — chdir and fchdir: the library notes that the working directory changed
// (preconnect.h keeps whether it lies under a prefix). The calls themselves are the kernel's.
#include <sys/syscall.h>
#include <unistd.h>

#include "client/hook.h"
#include "client/preconnect.h"

using namespace zvfs::client;

ZVFS_HOOK int chdir(const char* path) noexcept {
  long r = syscall(SYS_chdir, path);
  cwd_changed();
  return static_cast<int>(r);
}

ZVFS_HOOK int fchdir(int fd) noexcept {
  long r = syscall(SYS_fchdir, fd);
  cwd_changed();
  return static_cast<int>(r);
}
