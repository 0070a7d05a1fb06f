// arc_bench.cc — cache hit latency (the cached-read path of the engine), alone and with two
// threads sharing the cache, and the miss path on a memory vdev (read + verify + admit).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/arc/arc.h"
#include "engine/vdev/vdev.h"

namespace zvfs::arc {
namespace {

constexpr int kBlocks = 1024;

// `n` blocks of 4 KiB written to a memory vdev and read once, so every one is cached.
struct Fixture {
  Fixture(uint64_t n, uint64_t cache_bytes)
      : dev(vdev::make_memory_vdev(n * 4096 + (1 << 20))), zio(*dev), arc(zio, cache_bytes) {
    AlignedBuf buf(4096);
    bps.resize(n);
    for (uint64_t i = 0; i < n; ++i) {
      std::memcpy(buf.data(), &i, sizeof i);
      zio::WriteOp op{buf.data(), 4096, zio::BlockType::kData, 0, 1, i * 4096, 4096, &bps[i]};
      if (!zio.write({&op, 1}, 1).ok() || !arc.read(bps[i]).ok()) std::exit(1);
    }
  }
  std::unique_ptr<vdev::Vdev> dev;
  zio::Pipeline zio;
  Arc arc;
  std::vector<zio::BlockPtr> bps;
};

void BM_ArcHit(benchmark::State& state) {
  static Fixture f(kBlocks, 64 << 20);
  uint64_t i = state.thread_index() * 7;
  for (auto _ : state) {
    auto r = f.arc.read(f.bps[i++ % kBlocks]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ArcHit)->Threads(1)->Threads(2)->UseRealTime();

// Hits at random over a cache far larger than the CPU's caches (131072 blocks, 512 MiB): the
// cost of the lookup when the index and the entries are not in the CPU cache.
void BM_ArcHitLargeRandom(benchmark::State& state) {
  constexpr uint64_t kLarge = 131072;
  static Fixture f(kLarge, 1ull << 30);
  uint64_t x = 88172645463325252ull;
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    auto r = f.arc.read(f.bps[x % kLarge]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ArcHitLargeRandom);

void BM_ArcMiss(benchmark::State& state) {
  auto dev = vdev::make_memory_vdev(64 << 20);
  zio::Pipeline zio(*dev);
  Arc arc(zio, 16 * 4096);  // far smaller than the working set: every read misses
  AlignedBuf buf(4096);
  std::vector<zio::BlockPtr> bps(kBlocks);
  for (int i = 0; i < kBlocks; ++i) {
    zio::WriteOp op{buf.data(), 4096,   zio::BlockType::kData, 0, 1, uint64_t(i) * 4096,
                    4096,       &bps[i]};
    if (!zio.write({&op, 1}, 1).ok()) state.SkipWithError("write failed");
  }
  uint64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(arc.read(bps[i++ % kBlocks]));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ArcMiss);

}  // namespace
}  // namespace zvfs::arc
