// ticks_test.cc — the cheap clock measures durations as CLOCK_MONOTONIC does.
#include "common/ticks.h"

#include <gtest/gtest.h>
#include <time.h>

namespace zvfs {
namespace {

uint64_t mono_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

TEST(Ticks, DurationsAgreeWithTheMonotonicClock) {
  const Ticks& c = Ticks::get();
  for (long ms : {5L, 20L, 50L}) {
    uint64_t n0 = mono_ns();
    uint64_t t0 = c.now();
    struct timespec ts = {0, ms * 1000 * 1000};
    nanosleep(&ts, nullptr);
    uint64_t t1 = c.now();
    uint64_t n1 = mono_ns();
    double want = static_cast<double>(n1 - n0);
    double got = static_cast<double>(c.to_ns(t1 - t0));
    // The two reads of each clock are a few hundred ns apart; a 2% rate error would be 100 us
    // over 5 ms.
    EXPECT_NEAR(got, want, want * 0.02 + 20000) << ms << " ms";
    EXPECT_GE(got, static_cast<double>(ms) * 1e6 * 0.98) << ms << " ms";
  }
}

TEST(Ticks, NeverRunsBackwards) {
  const Ticks& c = Ticks::get();
  uint64_t prev = c.now();
  for (int i = 0; i < 100000; ++i) {
    uint64_t t = c.now();
    ASSERT_GE(t, prev);
    prev = t;
  }
}

}  // namespace
}  // namespace zvfs
