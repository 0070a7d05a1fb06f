// log.cc — see log.h.
#include "common/log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

namespace zvfs::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_fd{-1};
std::atomic<bool> g_stderr{true};
const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
}  // namespace

Level parse_level(const std::string& s) {
  if (s == "debug") return Level::kDebug;
  if (s == "warn") return Level::kWarn;
  if (s == "error") return Level::kError;
  if (s == "off") return Level::kOff;
  return Level::kInfo;
}

bool configure(Level lvl, const std::string& file, bool to_stderr) {
  g_level = static_cast<int>(lvl);
  g_stderr = to_stderr;
  if (!file.empty()) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return false;
    int old = g_fd.exchange(fd);
    if (old >= 0) ::close(old);
  }
  return true;
}

Level level() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

void vwrite(Level lvl, const char* component, const char* fmt, va_list ap) {
  int li = static_cast<int>(lvl);
  if (li < 0 || li > 3) return;
  char line[2048];
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %-5s %s: ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   static_cast<long>(tv.tv_usec), kNames[li], component);
  if (n < 0) return;
  size_t len = static_cast<size_t>(n);
  if (len < sizeof line - 1) {
    int m = vsnprintf(line + len, sizeof line - len, fmt, ap);
    if (m > 0) len += static_cast<size_t>(m);
  }
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  int fd = g_fd.load();
  if (fd >= 0) (void)!::write(fd, line, len);
  if (g_stderr.load()) (void)!::write(2, line, len);
}

void write(Level lvl, const char* component, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vwrite(lvl, component, fmt, ap);
  va_end(ap);
}

}  // namespace zvfs::log
