// ticks.cc — TSC detection and calibration (see ticks.h).
#include "common/ticks.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace zvfs {

uint64_t monotonic_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

namespace {

// True if the kernel's current clocksource is the TSC.
bool kernel_uses_tsc() {
  int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[32] = {};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n >= 3 && strncmp(buf, "tsc", 3) == 0 && (n == 3 || buf[3] == '\n');
}

#if defined(__x86_64__)
// Reads the monotonic clock and the TSC at (nearly) the same instant: the TSC reads that
// bracket the clock read are at most 2000 ticks apart (no preemption in between).
bool read_pair(uint64_t* ns, uint64_t* tsc) {
  for (int tries = 0; tries < 10; ++tries) {
    uint64_t a = __builtin_ia32_rdtsc();
    uint64_t n = monotonic_ns();
    uint64_t b = __builtin_ia32_rdtsc();
    if (b >= a && b - a < 2000) {
      *ns = n;
      *tsc = a + (b - a) / 2;
      return true;
    }
  }
  return false;
}
#endif

}  // namespace

Ticks::Ticks() {
#if defined(__x86_64__)
  if (!kernel_uses_tsc()) return;
  uint64_t ns0, t0, ns1, t1;
  if (!read_pair(&ns0, &t0)) return;
  struct timespec pause = {0, 2 * 1000 * 1000};
  nanosleep(&pause, nullptr);
  if (!read_pair(&ns1, &t1)) return;
  if (t1 <= t0 || ns1 <= ns0) return;
  ns_per_tick_q32_ = static_cast<uint64_t>((static_cast<unsigned __int128>(ns1 - ns0) << 32) /
                                           static_cast<unsigned __int128>(t1 - t0));
  tsc_ = ns_per_tick_q32_ != 0;
#endif
}

const Ticks& Ticks::get() {
  static const Ticks clock;
  return clock;
}

}  // namespace zvfs
