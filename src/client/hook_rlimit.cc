// hook_rlimit.cc — setrlimit and prlimit: the library's copy of RLIMIT_FSIZE follows them.
//
// ZVFS files' writes are checked against the process's file size limit by the library
// (fsize_limit.h), from a cached value; these calls refresh it after they changed that limit
// of this process. Every other resource and process passes through untouched, and the
// kernel's result and errno are the program's.
#include <errno.h>
#include <sys/resource.h>

#include "client/fsize_limit.h"
#include "client/hook.h"
#include "client/real.h"

using namespace zvfs::client;

ZVFS_HOOK int setrlimit(__rlimit_resource_t resource, const struct rlimit* rl) noexcept {
  const int r = REAL(setrlimit)(resource, rl);
  if (r == 0 && fsize_limit_set_here(0, resource)) fsize_limit_refresh();
  return r;
}

ZVFS_HOOK int setrlimit64(__rlimit_resource_t resource, const struct rlimit64* rl) noexcept {
  const int r = REAL(setrlimit64)(resource, rl);
  if (r == 0 && fsize_limit_set_here(0, resource)) fsize_limit_refresh();
  return r;
}

ZVFS_HOOK int prlimit(pid_t pid, enum __rlimit_resource resource, const struct rlimit* rl,
                      struct rlimit* old) noexcept {
  const int r = REAL(prlimit)(pid, resource, rl, old);
  if (r == 0 && rl != nullptr && fsize_limit_set_here(pid, resource)) fsize_limit_refresh();
  return r;
}

ZVFS_HOOK int prlimit64(pid_t pid, enum __rlimit_resource resource, const struct rlimit64* rl,
                        struct rlimit64* old) noexcept {
  const int r = REAL(prlimit64)(pid, resource, rl, old);
  if (r == 0 && rl != nullptr && fsize_limit_set_here(pid, resource)) fsize_limit_refresh();
  return r;
}
