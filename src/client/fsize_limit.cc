// fsize_limit.cc — the cached RLIMIT_FSIZE and the kernel's checks against it (fsize_limit.h).
#include "client/fsize_limit.h"

#include <errno.h>
#include <signal.h>

namespace zvfs::client {

std::atomic<uint64_t> g_fsize_limit{RLIM_INFINITY};

void fsize_limit_refresh() {
  const int saved = errno;
  struct rlimit rl;
  if (getrlimit(RLIMIT_FSIZE, &rl) == 0)
    g_fsize_limit.store(rl.rlim_cur, std::memory_order_relaxed);
  errno = saved;
}

namespace {

int too_big() {
  const int saved = errno;
  (void)raise(SIGXFSZ);  // the calling thread, as the kernel's send_sig(SIGXFSZ, current)
  errno = saved;
  return -EFBIG;
}

}  // namespace

ssize_t fsize_limit_write(uint64_t pos, size_t n) {
  const uint64_t limit = g_fsize_limit.load(std::memory_order_relaxed);
  if (limit == RLIM_INFINITY) return static_cast<ssize_t>(n);
  if (pos >= limit) return too_big();
  if (n > limit - pos) n = static_cast<size_t>(limit - pos);
  return static_cast<ssize_t>(n);
}

int fsize_limit_size(uint64_t size) {
  const uint64_t limit = g_fsize_limit.load(std::memory_order_relaxed);
  if (limit != RLIM_INFINITY && size > limit) return too_big();
  return 0;
}

}  // namespace zvfs::client
