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
#include <cstring>
#include <deque>
#include <map>
#include <random>

#include "common/aligned_buf.h"
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

// Deferred frees as (txg, range), sorted, adjacent ranges of one txg merged (the space map
// merges the records of adjacent frees, the allocator that made them keeps one per call).
std::vector<SpaceRecord> sorted_deferred_ranges(std::vector<SpaceRecord> d) {
  std::sort(d.begin(), d.end(), [](const SpaceRecord& a, const SpaceRecord& b) {
    return a.txg != b.txg ? a.txg < b.txg : a.off < b.off;
  });
  std::vector<SpaceRecord> v;
  for (const SpaceRecord& r : d) {
    if (!v.empty() && v.back().txg == r.txg && v.back().off + v.back().len == r.off)
      v.back().len += r.len;
    else
      v.push_back(r);
  }
  return v;
}

bool same_deferred(const std::vector<SpaceRecord>& a, const std::vector<SpaceRecord>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].txg != b[i].txg || a[i].off != b[i].off || a[i].len != b[i].len) return false;
  return true;
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
        ASSERT_TRUE(same_deferred(sorted_deferred_ranges(b.deferred()),
                                  sorted_deferred_ranges(p.deferred)));
        ++roots_checked;
      }
    }
  }
  EXPECT_GE(cuts, 100);
  EXPECT_GE(roots_checked, 250);
}

// Import takes the newest root whose map loads, else one of the two before it, and commits
// new txgs from that older state (the abandoned newer roots are made unimportable). While txg X
// is being written, an import may take any root of X-3..X-1 of the current history, so across
// such fallbacks nothing those roots hold (their blocks' contents, their chains) may be
// overwritten. The bound counts from the newest txg any history reached: the commit after an
// abandoned txg may have reused what the roots more than two txgs below it held. Every block
// written here carries its offset and birth txg, and after each txg the blocks of the roots an
// import could have taken meanwhile are read back and their maps loaded.
TEST(SpaceMapCrash, FallbacksNeverReuseSpaceOfImportableRoots) {
  struct Block {
    uint64_t off, len, birth;
  };
  struct Root {
    SpaceMapRoot root;
    std::vector<Range> allocated;
    std::vector<SpaceRecord> deferred;
    std::vector<Block> live;
  };
  vdev::FaultVdev dev(kDev, 1);
  zio::Pipeline zio(dev);
  std::mt19937_64 rng(42);
  AlignedBuf buf(8 * K);
  ASSERT_NE(buf.data(), nullptr);
  auto fill = [&](const Block& b) {
    for (uint64_t i = 0; i < b.len / 8; i++) {
      const uint64_t v = (b.off + i * 8) ^ (b.birth << 40);
      std::memcpy(buf.data() + i * 8, &v, 8);
    }
  };
  auto a = std::make_unique<Allocator>(kStart, kDev, 32 * K);
  SpaceMapRoot root;
  std::vector<Block> live;
  std::map<uint64_t, Root> history;  // txg -> root, of the current history
  uint64_t synced = 0, reached = 0;  // newest txg of this history; of any history
  int fallbacks = 0, blocks_checked = 0;
  for (int step = 0; step < 300 && !::testing::Test::HasFailure(); step++) {
    const uint64_t txg = synced + 1;
    std::vector<Block> born;  // allocated in this txg: free_now is allowed for them only
    const int ops = 5 + static_cast<int>(rng() % 40);
    for (int i = 0; i < ops; i++) {
      const bool roomy = a->stats().free_bytes > kDev / 3;  // keep room for the map itself
      if ((rng() % 3 && roomy) || live.size() + born.size() < 8) {
        const uint64_t len = K * (1 + rng() % 2);
        auto off = a->alloc(len);
        if (!off.ok()) continue;
        Block b{*off, len, txg};
        fill(b);
        ASSERT_TRUE(zio.write_raw(b.off, buf.data(), static_cast<uint32_t>(len)).ok());
        born.push_back(b);
      } else if (!born.empty() && rng() % 4 == 0) {
        const size_t k = rng() % born.size();
        a->free_now(born[k].off, born[k].len);
        born[k] = born.back();
        born.pop_back();
      } else if (!live.empty()) {
        const size_t k = rng() % live.size();
        a->free_deferred(live[k].off, live[k].len, txg);
        live[k] = live.back();
        live.pop_back();
      }
    }
    live.insert(live.end(), born.begin(), born.end());
    auto r = SpaceMap::sync(zio, root, *a, txg);
    ASSERT_TRUE(r.ok()) << r.error().msg << " txg " << txg;
    ASSERT_TRUE(zio.flush().ok());
    root = *r;
    a->txg_synced(txg);
    synced = txg;
    history[txg] = {root, a->allocated_ranges(), a->deferred(), live};
    history.erase(history.begin(), history.lower_bound(txg >= 5 ? txg - 5 : 0));
    // The roots an import could have taken while this txg was written (at most two txgs below
    // the newest txg reached, abandoned ones included) are intact.
    const uint64_t floor = std::max(txg - 1, reached);
    reached = std::max(reached, txg);
    for (const auto& [t, h] : history) {
      if (t + kDeferTxgs < floor) continue;
      SCOPED_TRACE("root of txg " + std::to_string(t) + ", newest " + std::to_string(txg));
      Allocator b(kStart, kDev, 32 * K);
      ASSERT_TRUE(SpaceMap::load(zio, h.root, b, t).ok());
      ASSERT_TRUE(same(b.allocated_ranges(), h.allocated));
      for (const Block& blk : h.live) {
        AlignedBuf got(blk.len);
        ASSERT_TRUE(zio.read_raw(blk.off, got.data(), static_cast<uint32_t>(blk.len)).ok());
        fill(blk);
        ASSERT_EQ(std::memcmp(got.data(), buf.data(), blk.len), 0)
            << "block " << blk.off << " born in txg " << blk.birth << " was overwritten";
        blocks_checked++;
      }
    }
    // Now and then the newest root does not load: fall back to one of the two before it.
    const uint64_t back = 1 + rng() % 2;
    const uint64_t t = txg - back;
    if (rng() % 6 == 0 && history.count(t) && t + kDeferTxgs >= reached) {
      const Root h = history.at(t);
      a = std::make_unique<Allocator>(kStart, kDev, 32 * K);
      ASSERT_TRUE(SpaceMap::load(zio, h.root, *a, t).ok());
      ASSERT_TRUE(same(a->allocated_ranges(), h.allocated));
      root = h.root;
      live = h.live;
      synced = t;
      history.erase(history.upper_bound(t), history.end());
      fallbacks++;
    }
  }
  EXPECT_GE(fallbacks, 20);
  EXPECT_GT(blocks_checked, 10000);
}

}  // namespace
}  // namespace zvfs::alloc
