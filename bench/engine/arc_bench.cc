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

struct Fixture {
  Fixture() : dev(vdev::make_memory_vdev(64 << 20)), zio(*dev), arc(zio, 64 << 20) {
    AlignedBuf buf(4096);
    bps.resize(kBlocks);
    for (int i = 0; i < kBlocks; ++i) {
      zio::WriteOp op{buf.data(), 4096,   zio::BlockType::kData, 0, 1, uint64_t(i) * 4096,
                      4096,       &bps[i]};
      if (!zio.write({&op, 1}, 1).ok() || !arc.read(bps[i]).ok()) std::exit(1);
    }
  }
  std::unique_ptr<vdev::Vdev> dev;
  zio::Pipeline zio;
  Arc arc;
  std::vector<zio::BlockPtr> bps;
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_ArcHit(benchmark::State& state) {
  Fixture& f = fixture();
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
  static auto dev = vdev::make_memory_vdev(kLarge * 4096 + (1 << 20));
  static zio::Pipeline zio(*dev);
  static Arc arc(zio, 1ull << 30);
  static std::vector<zio::BlockPtr> bps = [] {
    std::vector<zio::BlockPtr> v(kLarge);
    AlignedBuf buf(4096);
    for (uint64_t i = 0; i < kLarge; ++i) {
      std::memcpy(buf.data(), &i, sizeof i);
      zio::WriteOp op{buf.data(), 4096, zio::BlockType::kData, 0, 1, i * 4096, 4096, &v[i]};
      if (!zio.write({&op, 1}, 1).ok() || !arc.read(v[i]).ok()) std::exit(1);
    }
    return v;
  }();
  uint64_t x = 88172645463325252ull;
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    auto r = arc.read(bps[x % kLarge]);
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
