// vdev_bench.cc — the file vdev at queue depth 1: what one caller gets from io_uring + O_DIRECT.
//
// The pool file (256 MiB) is filled once so reads hit real blocks (O_DIRECT reads of holes
// return zeros without touching the disk) and writes overwrite allocated space.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "common/aligned_buf.h"
#include "engine/vdev/vdev.h"

namespace zvfs::vdev {
namespace {

constexpr uint64_t kFileBytes = 256ull << 20;

Vdev& bench_vdev() {
  static std::unique_ptr<Vdev> dev = [] {
    const char* dir = std::getenv("ZVFS_BENCH_DIR");
    std::string path = std::string(dir ? dir : ".") + "/zvfs-bench-vdev.img";
    FileVdevOptions o;
    o.create = true;
    o.size = kFileBytes;
    auto r = open_file_vdev(path, o);
    if (!r.ok()) {
      std::fprintf(stderr, "cannot open %s: %s\n", path.c_str(), r.error().msg);
      std::exit(1);
    }
    std::unique_ptr<Vdev> d = std::move(*r);
    AlignedBuf chunk(1 << 20);
    std::memset(chunk.data(), 0x5A, chunk.size());
    for (uint64_t off = 0; off < kFileBytes; off += chunk.size()) {
      IoReq w{IoReq::Op::kWrite, chunk.data(), uint32_t(chunk.size()), off};
      d->submit({&w, 1});
    }
    d->flush();
    return d;
  }();
  return *dev;
}

void run_io(benchmark::State& state, IoReq::Op op, bool flush) {
  Vdev& dev = bench_vdev();
  const uint32_t len = static_cast<uint32_t>(state.range(0));
  AlignedBuf buf(len);
  std::memset(buf.data(), 0xA5, len);
  std::mt19937_64 rng(1);
  const uint64_t slots = kFileBytes / len;
  for (auto _ : state) {
    IoReq r{op, buf.data(), len, (rng() % slots) * len};
    if (dev.submit({&r, 1}) != 0) state.SkipWithError("I/O failed");
    if (flush && dev.flush() != 0) state.SkipWithError("flush failed");
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * len);
  state.SetItemsProcessed(state.iterations());
}

void BM_VdevWrite(benchmark::State& s) {
  run_io(s, IoReq::Op::kWrite, false);
}
void BM_VdevRead(benchmark::State& s) {
  run_io(s, IoReq::Op::kRead, false);
}
void BM_VdevWriteFlush(benchmark::State& s) {
  run_io(s, IoReq::Op::kWrite, true);
}

// Write + flush into never-written space of a sparse file: each flush must also commit the
// file system's block allocation (on ext4 a journal commit), the cost a fresh sparse pool pays.
void BM_VdevWriteFlushSparse(benchmark::State& state) {
  const char* dir = std::getenv("ZVFS_BENCH_DIR");
  std::string path = std::string(dir ? dir : ".") + "/zvfs-bench-vdev-sparse.img";
  ::unlink(path.c_str());
  FileVdevOptions o;
  o.create = true;
  o.size = 4ull << 30;
  auto r = open_file_vdev(path, o);
  if (!r.ok()) {
    state.SkipWithError("cannot open the sparse file");
    return;
  }
  Vdev& dev = **r;
  const uint32_t len = static_cast<uint32_t>(state.range(0));
  AlignedBuf buf(len);
  uint64_t off = 0;
  for (auto _ : state) {
    IoReq w{IoReq::Op::kWrite, buf.data(), len, off};
    off = (off + len) % dev.size();
    if (dev.submit({&w, 1}) != 0 || dev.flush() != 0) state.SkipWithError("I/O failed");
  }
  state.SetItemsProcessed(state.iterations());
  r->reset();
  ::unlink(path.c_str());
}

void BM_VdevFlush(benchmark::State& state) {
  Vdev& dev = bench_vdev();
  for (auto _ : state)
    if (dev.flush() != 0) state.SkipWithError("flush failed");
}

BENCHMARK(BM_VdevWrite)->Arg(4096)->Arg(16384)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_VdevRead)->Arg(4096)->Arg(16384)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_VdevWriteFlush)->Arg(4096)->Arg(16384)->UseRealTime();
BENCHMARK(BM_VdevWriteFlushSparse)->Arg(4096)->Arg(16384)->UseRealTime();
BENCHMARK(BM_VdevFlush)->UseRealTime();

}  // namespace
}  // namespace zvfs::vdev
