// range_set_test.cc — merging and membership of RangeSet.
#include "engine/dmu/range_set.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace zvfs::dmu {
namespace {

TEST(RangeSet, MergesOverlappingAndAdjacent) {
  RangeSet s;
  s.add(10, 20);
  s.add(30, 40);
  EXPECT_EQ(s.count(), 2u);
  s.add(20, 30);  // adjacent on both sides
  EXPECT_EQ(s.count(), 1u);
  EXPECT_TRUE(s.contains(10));
  EXPECT_TRUE(s.contains(39));
  EXPECT_FALSE(s.contains(40));
  EXPECT_FALSE(s.contains(9));
  EXPECT_EQ(s.end_of(15), 40u);
  EXPECT_EQ(s.end_of(5), 5u);
  s.add(5, 6);
  s.add(0, 100);
  EXPECT_EQ(s.count(), 1u);
  EXPECT_EQ(s.ranges().begin()->second, 100u);
}

TEST(RangeSet, MatchesABitmapModel) {
  std::mt19937_64 rng(7);
  RangeSet s;
  std::set<uint64_t> model;
  for (int i = 0; i < 2000; i++) {
    uint64_t a = rng() % 500, len = rng() % 20;
    s.add(a, a + len);
    for (uint64_t v = a; v < a + len; v++) model.insert(v);
  }
  for (uint64_t v = 0; v < 530; v++) ASSERT_EQ(s.contains(v), model.count(v) == 1) << v;
  uint64_t prev_end = 0;
  bool first = true;
  for (const auto& [a, b] : s.ranges()) {
    ASSERT_LT(a, b);
    if (!first) {
      ASSERT_GT(a, prev_end);  // disjoint and not adjacent
    }
    prev_end = b;
    first = false;
  }
}

}  // namespace
}  // namespace zvfs::dmu
