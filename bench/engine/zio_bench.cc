// zio_bench.cc — the cost the pipeline adds: checksum throughput, and write/read-verify of
// blocks on a memory vdev (so the device costs next to nothing).
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "common/aligned_buf.h"
#include "engine/vdev/vdev.h"
#include "engine/zio/zio.h"

namespace zvfs::zio {
namespace {

void BM_Checksum(benchmark::State& state) {
  const size_t len = static_cast<size_t>(state.range(0));
  AlignedBuf buf(len);
  std::memset(buf.data(), 0x3C, len);
  for (auto _ : state) benchmark::DoNotOptimize(checksum(buf.data(), len));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(len));
}
BENCHMARK(BM_Checksum)->Arg(4096)->Arg(16384)->Arg(128 << 10)->Arg(1 << 20);

// Write (checksum + vdev) of one block; range(1) = 1 for an unaligned (bounced) buffer.
void BM_PipelineWrite(benchmark::State& state) {
  const uint32_t len = static_cast<uint32_t>(state.range(0));
  auto dev = vdev::make_memory_vdev(64 << 20);
  Pipeline zio(*dev);
  AlignedBuf buf(len + 1);
  const void* src = buf.data() + state.range(1);
  BlockPtr bp;
  uint64_t i = 0;
  for (auto _ : state) {
    WriteOp op{src, len, BlockType::kData, 0, 1, (i++ % 64) * (1 << 20), len, &bp};
    if (!zio.write({&op, 1}, 1).ok()) state.SkipWithError("write failed");
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * len);
}
BENCHMARK(BM_PipelineWrite)->Args({4096, 0})->Args({4096, 1})->Args({128 << 10, 0});

void BM_PipelineReadVerify(benchmark::State& state) {
  const uint32_t len = static_cast<uint32_t>(state.range(0));
  auto dev = vdev::make_memory_vdev(64 << 20);
  Pipeline zio(*dev);
  AlignedBuf buf(len);
  BlockPtr bp;
  WriteOp op{buf.data(), len, BlockType::kData, 0, 1, 0, len, &bp};
  if (!zio.write({&op, 1}, 1).ok()) state.SkipWithError("write failed");
  for (auto _ : state)
    if (!zio.read_block(bp, buf.data()).ok()) state.SkipWithError("read failed");
  state.SetBytesProcessed(int64_t(state.iterations()) * len);
}
BENCHMARK(BM_PipelineReadVerify)->Arg(4096)->Arg(128 << 10);

}  // namespace
}  // namespace zvfs::zio
