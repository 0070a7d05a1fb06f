// load_monitor.cc — see load_monitor.h.
#include "daemon/load_monitor.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "common/log.h"
#include "common/thread_name.h"

namespace zvfs::daemon {
namespace {
constexpr auto kPeriod = std::chrono::milliseconds(5);
}  // namespace

bool LoadMonitor::Verdict::feed(uint32_t runnable, uint32_t active, unsigned cpus) {
  // Average over about 8 samples (40 ms): one sample is a snapshot of a moving target.
  avg_x256 = avg_x256 - avg_x256 / 8 + runnable * 256 / 8;
  active_avg_x256 = active_avg_x256 - active_avg_x256 / 8 + active * 256 / 8;
  if (spin_ok && avg_x256 >= (cpus + 1) * 256 && active_avg_x256 >= 2 * 256 - 128)
    spin_ok = false;
  else if (!spin_ok && (avg_x256 + 128 < cpus * 256 || active_avg_x256 < 256 + 64))
    spin_ok = true;
  return spin_ok;
}

int LoadMonitor::parse_running(const char* line) {
  // Three load averages, then "running/total".
  const char* p = line;
  for (int field = 0; field < 3; ++field) {
    while (*p == ' ') ++p;
    while (*p && *p != ' ') ++p;
    if (!*p) return -1;
  }
  while (*p == ' ') ++p;
  char* end = nullptr;
  long n = std::strtol(p, &end, 10);
  if (end == p || *end != '/' || n < 0) return -1;
  return static_cast<int>(n);
}

void LoadMonitor::start() {
  int fd = ::open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    LOG_WARN("daemon", "cannot read /proc/loadavg: workers and clients spin whatever the load");
    return;
  }
  thread_ = std::thread([this, fd] { run(fd); });
}

void LoadMonitor::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LoadMonitor::run(int fd) {
  name_this_thread("zvfsd-load");
  Verdict v;
  std::unique_lock<std::mutex> g(mu_);
  while (!stop_) {
    g.unlock();
    char buf[128];
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
      buf[n] = '\0';
      int running = parse_running(buf);
      if (running > 0) {
        // Not counted: this thread (it is running while it reads).
        bool was = v.spin_ok;
        publish_(v.feed(static_cast<uint32_t>(running - 1), active_(), cpus_));
        if (v.spin_ok != was)
          LOG_DEBUG("daemon",
                    "busy-waiting %s: %.1f runnable threads, %.1f active sessions on average, "
                    "%u CPUs",
                    v.spin_ok ? "resumed" : "stopped", v.avg_x256 / 256.0,
                    v.active_avg_x256 / 256.0, cpus_);
      }
    }
    g.lock();
    cv_.wait_for(g, kPeriod, [this] { return stop_; });
  }
  ::close(fd);
}

}  // namespace zvfs::daemon
