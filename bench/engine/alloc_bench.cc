// alloc_bench.cc — allocator rates: sequential allocation (the cursor path), alloc/free churn
// on a fragmented region (the slab-selection path), and the space-map sync of a txg.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "engine/alloc/allocator.h"
#include "engine/alloc/space_map.h"
#include "engine/vdev/vdev.h"

namespace zvfs::alloc {
namespace {

constexpr uint64_t kRegion = 64ull << 30;  // 64 GiB of address space; nothing is written

void BM_AllocSequential(benchmark::State& state) {
  const uint64_t len = static_cast<uint64_t>(state.range(0));
  auto a = std::make_unique<Allocator>(0, kRegion, 0);
  for (auto _ : state) {
    auto r = a->alloc(len);
    if (!r.ok()) {
      state.PauseTiming();
      a = std::make_unique<Allocator>(0, kRegion, 0);
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AllocSequential)->Arg(4096)->Arg(128 << 10);

// Half the region's 4 KiB blocks freed at random, then steady alloc + free of random sizes.
void BM_AllocFreeFragmented(benchmark::State& state) {
  constexpr uint64_t kSmall = 1ull << 30;
  Allocator a(0, kSmall, 0);
  std::mt19937_64 rng(7);
  std::vector<std::pair<uint64_t, uint64_t>> live;
  while (true) {
    auto r = a.alloc(4096);
    if (!r.ok()) break;
    live.push_back({*r, 4096});
  }
  for (size_t i = 0; i < live.size(); ++i) {
    size_t j = rng() % (live.size() - i) + i;
    std::swap(live[i], live[j]);
  }
  for (size_t i = 0; i < live.size() / 2; ++i) a.free_now(live[i].first, live[i].second);
  live.erase(live.begin(), live.begin() + live.size() / 2);
  for (auto _ : state) {
    uint64_t len = 4096u << (rng() % 3);
    auto r = a.alloc(len);
    if (r.ok()) live.push_back({*r, len});
    size_t k = rng() % live.size();
    a.free_now(live[k].first, live[k].second);
    live[k] = live.back();
    live.pop_back();
    if (live.size() % 1024 == 0) a.take_pending();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AllocFreeFragmented);

// Space-map sync of a txg with range(0) changes, on a memory vdev.
void BM_SpaceMapSync(benchmark::State& state) {
  auto dev = vdev::make_memory_vdev(1ull << 30);
  zio::Pipeline zio(*dev);
  Allocator a(1 << 20, 1ull << 30, 0);
  SpaceMapRoot root;
  uint64_t txg = 1;
  std::vector<std::pair<uint64_t, uint64_t>> live;
  for (auto _ : state) {
    state.PauseTiming();
    for (int64_t i = 0; i < state.range(0); ++i) {
      if (live.size() > 4096 || (i % 2 && !live.empty())) {
        a.free_deferred(live.back().first, live.back().second, txg);
        live.pop_back();
      } else if (auto r = a.alloc(16384); r.ok()) {
        live.push_back({*r, 16384});
      }
    }
    state.ResumeTiming();
    auto r = SpaceMap::sync(zio, root, a, txg);
    if (!r.ok()) state.SkipWithError("sync failed");
    root = *r;
    a.txg_synced(txg++);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SpaceMapSync)->Arg(100)->Arg(10000);

}  // namespace
}  // namespace zvfs::alloc
