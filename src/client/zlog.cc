// zlog.cc — see zlog.h.
#include "client/zlog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

#include "client/real.h"

namespace zvfs::client {
namespace {
std::atomic<int> g_log_fd{-1};
}  // namespace

void zlog_init() {
  const char* v = getenv("ZVFS_LOG");
  if (v == nullptr || v[0] == '\0' || strcmp(v, "0") == 0) return;
  if (strcmp(v, "stderr") == 0 || strcmp(v, "1") == 0) {
    g_log_fd = 2;
    return;
  }
  int fd = REAL(open)(v, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0 && fd < 3) {
    int moved = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 3);
    REAL(close)(fd);
    fd = moved;
  }
  g_log_fd = fd;
}

int zlog_fd() {
  int fd = g_log_fd.load(std::memory_order_relaxed);
  return fd >= 3 ? fd : -1;
}

void zlog_move_fd() {
  int fd = zlog_fd();
  if (fd < 0) return;
  int saved = errno;
  int moved = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 3);
  g_log_fd.store(moved);
  REAL(close)(fd);
  errno = saved;
}

bool zlog_enabled() {
  return g_log_fd >= 0;
}

void zlog(const char* fmt, ...) {
  int fd = g_log_fd.load(std::memory_order_relaxed);
  if (fd < 0) return;
  int saved = errno;
  char line[512];
  int n = snprintf(line, sizeof line, "zvfs[%d]: ", static_cast<int>(getpid()));
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - static_cast<size_t>(n) - 1, fmt, ap);
  va_end(ap);
  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : static_cast<size_t>(m));
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t w = REAL(write)(fd, line, len);
  (void)w;
  errno = saved;
}

}  // namespace zvfs::client
