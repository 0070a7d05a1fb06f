// space_map_crash_test.cc — the space map survives power cuts.
//
// A deterministic workload allocates and frees space txg after txg, syncing the space map and
// flushing; a root counts as published (what an uberblock would hold) once the flush after its
// sync returned 0. The power is cut at write N for many N (the unflushed writes kept, dropped
// or torn), the device is rebooted, and the last three published roots must load into exactly
// the allocator state of their txg: frees are deferred two txgs, so nothing those roots
// reference (their chains included) can have been overwritten by the writes of a later txg.
#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <random>

#include "engine/alloc/alloc_test_util.h"
#include "engine/alloc/space_map.h"
#include "engine/vdev/fault_vdev.h"

namespace zvfs::alloc {
namespace {

using testing::same;

constexpr uint64_t K = kUnit;
constexpr uint64_t kDev = 4ull << 20;  // fills up: freed space is soon reused
constexpr uint64_t kStart = 1ull << 20;
constexpr uint64_t kTxgs = 120;

struct Published {
  uint64_t txg = 0;
  SpaceMapRoot root;
  std::vector<Range> allocated;
  std::vector<SpaceRecord> deferred;
};

std::vector<Range> sorted_deferred_ranges(std::vector<SpaceRecord> d) {
  std::vector<Range> v;
  for (auto& r : d) v.push_back({r.off, r.len});
  std::sort(v.begin(), v.end(), [](const Range& a, const Range& b) { return a.off < b.off; });
  return v;
}

// Runs the workload on `dev` until it finishes or the device dies; returns what was published
// (at most the last four roots).
std::deque<Published> run_workload(vdev::FaultVdev& dev, uint64_t seed) {
  zio::Pipeline zio(dev);
  Allocator a(kStart, kDev, 32 * K);
  std::mt19937_64 rng(seed);
  std::vector<std::pair<uint64_t, uint64_t>> live;
  SpaceMapRoot root;
  std::deque<Published> pub;
  for (uint64_t txg = 1; txg <= kTxgs; ++txg) {
    int ops = 5 + rng() % 60;
    for (int i = 0; i < ops; ++i) {
      if (rng() % 3 || live.size() < 8) {
        uint64_t len = K * (1 + rng() % 8);
        if (auto r = a.alloc(len); r.ok()) live.push_back({*r, len});
      } else {
        size_t k = rng() % live.size();
        if (rng() % 4 == 0)
          a.free_now(live[k].first, live[k].second);
        else
          a.free_deferred(live[k].first, live[k].second, txg);
        live[k] = live.back();
        live.pop_back();
      }
    }
    auto r = SpaceMap::sync(zio, root, a, txg);
    if (!r.ok() || !zio.flush().ok()) break;  // power is gone
    root = *r;
    a.txg_synced(txg);
    pub.push_back({txg, root, a.allocated_ranges(), a.deferred()});
    if (pub.size() > 4) pub.pop_front();
  }
  return pub;
}

// Crash points per workload seed, and seeds: ZVFS_CRASH_POINTS (default 150, one seed) sets the
// total; the long run registered with ctest -L long asks for thousands.
uint64_t crash_points() {
  const char* e = std::getenv("ZVFS_CRASH_POINTS");
  uint64_t n = e ? std::strtoull(e, nullptr, 10) : 0;
  return n ? n : 150;
}

TEST(SpaceMapCrash, PublishedRootsSurvivePowerCuts) {
  const uint64_t points = crash_points();
  const uint64_t seeds = (points + 149) / 150;
  int cuts = 0, roots_checked = 0;
  for (uint64_t seed = 99; seed < 99 + seeds; ++seed) {
    SCOPED_TRACE("workload seed " + std::to_string(seed));
    // Dry run: how many writes the workload makes.
    uint64_t total_writes = 0;
    {
      vdev::FaultVdev dev(kDev, 1);
      auto pub = run_workload(dev, seed);
      ASSERT_EQ(pub.back().txg, kTxgs);
      total_writes = dev.write_count();
    }
    ASSERT_GT(total_writes, 100u);
    const uint64_t step = std::max<uint64_t>(1, total_writes / 150);
    for (uint64_t n = 1; n <= total_writes; n += step) {
      SCOPED_TRACE("cut at write " + std::to_string(n));
      vdev::FaultVdev dev(kDev, n + seed);
      dev.arm_power_cut_at_write(n);
      auto pub = run_workload(dev, seed);
      ASSERT_TRUE(dev.power_is_cut());
      ++cuts;
      auto after = dev.reboot(n + 1);
      zio::Pipeline zio(*after);
      // The newest published root and the two before it.
      for (size_t back = 0; back < 3 && back < pub.size(); ++back) {
        const Published& p = pub[pub.size() - 1 - back];
        SCOPED_TRACE("root of txg " + std::to_string(p.txg));
        Allocator b(kStart, kDev, 32 * K);
        ASSERT_TRUE(SpaceMap::load(zio, p.root, b, p.txg).ok());
        ASSERT_TRUE(same(b.allocated_ranges(), p.allocated));
        ASSERT_TRUE(same(sorted_deferred_ranges(b.deferred()), sorted_deferred_ranges(p.deferred)));
        ++roots_checked;
      }
    }
  }
  EXPECT_GE(cuts, 100);
  EXPECT_GE(roots_checked, 250);
}

}  // namespace
}  // namespace zvfs::alloc
