// extent_set_test.cc — ExtentSet against a bitmap model: coalescing, containment, fits.
#include "engine/alloc/extent_set.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace zvfs::alloc {
namespace {

TEST(ExtentSet, CoalescesAndSplits) {
  ExtentSet s;
  EXPECT_TRUE(s.add(0, 10));
  EXPECT_TRUE(s.add(20, 10));
  EXPECT_TRUE(s.add(10, 10));  // bridges the two
  EXPECT_EQ(s.count(), 1u);
  EXPECT_EQ(s.bytes(), 30u);
  EXPECT_FALSE(s.add(5, 10)) << "overlap refused";
  EXPECT_TRUE(s.remove(10, 5));
  EXPECT_EQ(s.count(), 2u);
  EXPECT_FALSE(s.remove(8, 5)) << "partly outside refused";
  EXPECT_EQ(s.bytes(), 25u);
  EXPECT_TRUE(s.contains(15, 15));
  EXPECT_FALSE(s.contains(9, 2));
  EXPECT_TRUE(s.overlaps(9, 2));
  EXPECT_FALSE(s.overlaps(10, 5));
  EXPECT_EQ(s.at_or_after(12), (std::pair<uint64_t, uint64_t>{15, 15}));
  EXPECT_EQ(s.at_or_after(3), (std::pair<uint64_t, uint64_t>{0, 10}));
  EXPECT_EQ(s.at_or_after(30), (std::pair<uint64_t, uint64_t>{0, 0}));
  EXPECT_EQ(s.best_fit(11), (std::pair<uint64_t, uint64_t>{15, 15}));
  EXPECT_EQ(s.best_fit(3), (std::pair<uint64_t, uint64_t>{0, 10}));
  EXPECT_EQ(s.best_fit(16).second, 0u);
  EXPECT_EQ(s.largest(), 15u);
  EXPECT_FALSE(s.add(0, 0));
  EXPECT_FALSE(s.add(~0ull - 1, 5)) << "wrapping range refused";
}

TEST(ExtentSet, RandomAgainstBitmap) {
  constexpr uint64_t kN = 512;
  std::mt19937_64 rng(12345);
  ExtentSet s;
  std::vector<bool> model(kN, false);
  for (int step = 0; step < 20000; ++step) {
    uint64_t off = rng() % kN, len = 1 + rng() % 16;
    if (off + len > kN) len = kN - off;
    bool any = false, all = true;
    for (uint64_t i = off; i < off + len; ++i) {
      any |= model[i];
      all &= model[i];
    }
    ASSERT_EQ(s.overlaps(off, len), any);
    ASSERT_EQ(s.contains(off, len), all);
    if (rng() % 2) {
      ASSERT_EQ(s.add(off, len), !any);
      if (!any)
        for (uint64_t i = off; i < off + len; ++i) model[i] = true;
    } else {
      ASSERT_EQ(s.remove(off, len), all);
      if (all)
        for (uint64_t i = off; i < off + len; ++i) model[i] = false;
    }
    // Canonical form: extents are maximal runs of the model.
    uint64_t bytes = 0, pos = 0;
    for (const auto& [o, l] : s.extents()) {
      ASSERT_TRUE(o == 0 || !model[o - 1]);
      ASSERT_TRUE(o >= pos);
      for (uint64_t i = o; i < o + l; ++i) ASSERT_TRUE(model[i]);
      ASSERT_TRUE(o + l == kN || !model[o + l]);
      bytes += l;
      pos = o + l + 1;
    }
    uint64_t want = 0;
    for (bool b : model) want += b;
    ASSERT_EQ(bytes, want);
    ASSERT_EQ(s.bytes(), want);
  }
}

}  // namespace
}  // namespace zvfs::alloc
