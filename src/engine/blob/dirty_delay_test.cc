// dirty_delay_test.cc — the shape of the soft write throttle (dirty_delay.h).
#include "engine/blob/dirty_delay.h"

#include <gtest/gtest.h>

namespace zvfs::engine {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kLimit = 224 * kMiB;
constexpr uint64_t kStart = kLimit / 100 * kDelayStartPct;

TEST(DirtyDelay, NoneBelowTheStartNorAtTheLimit) {
  EXPECT_EQ(dirty_delay_ns(0, kLimit, kMiB), 0u);
  EXPECT_EQ(dirty_delay_ns(kStart, kLimit, kMiB), 0u);
  EXPECT_GT(dirty_delay_ns(kStart + kMiB, kLimit, kMiB), 0u);
  // At or over the limit the hard throttle waits for a commit instead.
  EXPECT_EQ(dirty_delay_ns(kLimit, kLimit, kMiB), 0u);
  EXPECT_EQ(dirty_delay_ns(kLimit + kMiB, kLimit, kMiB), 0u);
  EXPECT_EQ(dirty_delay_ns(kStart + kMiB, kLimit, 0), 0u);
}

TEST(DirtyDelay, GrowsTowardTheLimitAndIsBounded) {
  const uint64_t mid = kStart + (kLimit - kStart) / 2;
  EXPECT_NEAR(static_cast<double>(dirty_delay_ns(mid, kLimit, kMiB)),
              static_cast<double>(kDelayScaleNs), kDelayScaleNs * 0.01);
  uint64_t prev = 0;
  for (uint64_t d = kStart; d < kLimit; d += kMiB / 4) {
    uint64_t ns = dirty_delay_ns(d, kLimit, kMiB);
    EXPECT_GE(ns, prev) << d;
    EXPECT_LE(ns, kDelayMaxNs) << d;
    prev = ns;
  }
  EXPECT_EQ(dirty_delay_ns(kLimit - 1, kLimit, kMiB), kDelayMaxNs);
}

TEST(DirtyDelay, ProportionalToTheChange) {
  const uint64_t d = kStart + (kLimit - kStart) / 3;
  const uint64_t one = dirty_delay_ns(d, kLimit, kMiB);
  EXPECT_NEAR(static_cast<double>(dirty_delay_ns(d, kLimit, 4 * kMiB)), 4.0 * one, 4.0);
  EXPECT_NEAR(static_cast<double>(dirty_delay_ns(d, kLimit, kMiB / 4)), one / 4.0, 1.0);
}

}  // namespace
}  // namespace zvfs::engine
