// flat_index_test.cc — the cache's hash index against std::unordered_map: random inserts,
// lookups and erases, with keys that collide on purpose so that probe runs wrap around the
// array and erasing must shift them back correctly; and growth.
#include "engine/arc/flat_index.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

namespace zvfs::arc {
namespace {

struct FewHomes {  // 16 distinct hashes: long runs of collisions
  size_t operator()(uint64_t k) const { return k & 15; }
};
struct Plain {
  size_t operator()(uint64_t k) const { return k; }
};

template <class Hash>
void run_against_model(uint64_t seed, uint64_t key_space, int ops) {
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  FlatIndex<uint64_t, int, Hash> index;
  std::unordered_map<uint64_t, int> model;
  std::vector<int> values(key_space);
  for (int op = 0; op < ops; ++op) {
    const uint64_t k = rng() % key_space;
    const int what = static_cast<int>(rng() % 3);
    if (what == 0 && !model.count(k)) {
      index.insert(k, &values[k]);
      model[k] = 1;
    } else if (what == 1) {
      ASSERT_EQ(index.erase(k), model.erase(k) == 1) << "op " << op;
    }
    ASSERT_EQ(index.find(k), model.count(k) ? &values[k] : nullptr) << "op " << op;
    ASSERT_EQ(index.size(), model.size());
    if (op % 1000 == 0) {
      for (uint64_t j = 0; j < key_space; ++j)
        ASSERT_EQ(index.find(j), model.count(j) ? &values[j] : nullptr) << "op " << op;
    }
  }
}

TEST(FlatIndex, MatchesAModelWithCollidingKeys) {
  for (uint64_t seed = 1; seed <= 5; ++seed) run_against_model<FewHomes>(seed, 200, 20000);
}

TEST(FlatIndex, MatchesAModelWithSpreadKeys) {
  for (uint64_t seed = 1; seed <= 3; ++seed) run_against_model<Plain>(seed, 100000, 200000);
}

TEST(FlatIndex, GrowsAndStaysAtMostHalfFull) {
  FlatIndex<uint64_t, int, Plain> index(100);
  const size_t initial = index.capacity();
  EXPECT_GE(initial, 200u);
  std::vector<int> v(10000);
  for (uint64_t k = 0; k < v.size(); ++k) index.insert(k * 4096, &v[k]);
  EXPECT_GT(index.capacity(), initial);
  EXPECT_LE(index.size() * 2, index.capacity());
  for (uint64_t k = 0; k < v.size(); ++k) ASSERT_EQ(index.find(k * 4096), &v[k]);
  EXPECT_EQ(index.find(4096 * 10000), nullptr);
}

}  // namespace
}  // namespace zvfs::arc
