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

// s holds exactly the model's integers below `upto`, in disjoint, non-adjacent ranges.
void expect_matches(const RangeSet& s, const std::set<uint64_t>& model, uint64_t upto) {
  for (uint64_t v = 0; v < upto; v++) ASSERT_EQ(s.contains(v), model.count(v) == 1) << v;
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

// `ops` random adds and (with remove_one_in > 0, one in that many) removes against a set of
// integers: remove()'s count and total() agree with the model after each, and so does the
// set's content at the end.
void run_model(uint64_t seed, int ops, uint64_t remove_one_in) {
  std::mt19937_64 rng(seed);
  RangeSet s;
  std::set<uint64_t> model;
  for (int i = 0; i < ops; i++) {
    uint64_t a = rng() % 500, len = rng() % 30;
    if (remove_one_in == 0 || rng() % remove_one_in != 0) {
      s.add(a, a + len);
      for (uint64_t v = a; v < a + len; v++) model.insert(v);
    } else {
      uint64_t gone = 0;
      for (uint64_t v = a; v < a + len; v++) gone += model.erase(v);
      ASSERT_EQ(s.remove(a, a + len), gone) << "remove [" << a << ", " << a + len << ")";
    }
    ASSERT_EQ(s.total(), model.size());
  }
  expect_matches(s, model, 540);
  EXPECT_EQ(s.remove(0, UINT64_MAX), model.size());
  EXPECT_TRUE(s.empty());
}

TEST(RangeSet, MatchesABitmapModel) {
  run_model(7, 2000, 0);
}

// remove() cuts ranges apart and drops them whole; the rest stays disjoint and not adjacent.
TEST(RangeSet, RemoveMatchesAModel) {
  run_model(11, 4000, 2);
}

}  // namespace
}  // namespace zvfs::dmu
