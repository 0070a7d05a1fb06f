// engine_bench.cc — in-process latency of the engine's durable write path, side by side with
// the raw device doing the same work (pwrite + fdatasync on an O_DIRECT file of the same size
// on the same file system). Not a test: run it by hand, it prints medians and tails.
//
//   zvfs_engine_bench DIR [seconds] [block KiB] [append] [prealloc]
//
// Phases 1 and 2 take turns in 10 rounds of seconds/10 each (the disk drifts; see below):
// Phase 1: raw O_DIRECT pwrite + fdatasync, random offsets, queue depth 1.
// Phase 2: the engine: Blob::write + Blob::sync of the same sizes, random offsets, with the
//          background txg commits running (dirty data builds up and commits every second).
//          With `append`, the engine's writes extend the blob instead (a write-ahead log).
//          With `prealloc`, the pool file is written in full at create (PoolConfig::preallocate)
//          instead of sparse.
// Phase 3: cached 4 KiB reads through the engine.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/aligned_buf.h"
#include "common/log.h"
#include "zvfs/blob.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Lat {
  std::vector<double> us;
  void add(Clock::time_point a) {
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  double pct(double p) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))];
  }
  void print(const char* what) {
    std::printf("%-34s n=%-7zu p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us\n", what, us.size(),
                pct(0.5), pct(0.99), pct(0.999));
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [seconds] [block KiB] [append] [prealloc]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const double secs = argc > 2 ? std::atof(argv[2]) : 5;
  const size_t bs = (argc > 3 ? std::atoi(argv[3]) : 16) * 1024;
  bool append = false, prealloc = false;
  for (int i = 4; i < argc; i++) {
    append |= std::strcmp(argv[i], "append") == 0;
    prealloc |= std::strcmp(argv[i], "prealloc") == 0;
  }
  const uint64_t span = 256ull << 20;  // random offsets within 256 MiB
  zvfs::log::configure(zvfs::log::Level::kWarn, "", true);
  std::mt19937_64 rng(1);
  zvfs::AlignedBuf buf(bs);
  std::memset(buf.data(), 0xab, bs);

  // Raw: an O_DIRECT file written once in full, so that no block allocation happens later.
  const std::string raw = dir + "/raw.img";
  int fd = ::open(raw.c_str(), O_RDWR | O_CREAT | O_DIRECT, 0600);
  if (fd < 0 || ::ftruncate(fd, 1ull << 30) != 0) {
    std::perror("raw file");
    return 1;
  }
  for (uint64_t off = 0; off < span; off += bs) {
    if (::pwrite(fd, buf.data(), bs, off) != static_cast<ssize_t>(bs)) return 1;
  }
  ::fdatasync(fd);

  // Engine.
  const std::string path = dir + "/pool.img";
  ::unlink(path.c_str());
  zvfs::engine::PoolConfig cfg;
  cfg.create_size = 1ull << 30;
  cfg.txg_interval_ms = 1000;
  cfg.preallocate = prealloc;
  auto pool = zvfs::engine::Pool::create(path, cfg);
  if (!pool.ok()) {
    std::fprintf(stderr, "create: %s\n", pool.error().msg);
    return 1;
  }
  auto id = (*pool)->create_blob();
  auto blob = *(*pool)->open_blob(*id);

  // Interleaved slices: the disk's speed drifts by tens of percent over seconds, so raw and
  // engine take turns, and the ratio is also given as the median of same-round ratios.
  constexpr int kRounds = 10;
  const double slice = secs / kRounds;
  Lat raw_lat, w_lat, s_lat, ws_lat;
  std::vector<double> round_ratio;
  // This thread's context switches in each phase (voluntary: it slept), per operation.
  auto switches = [] {
    rusage ru{};
    getrusage(RUSAGE_THREAD, &ru);
    return std::pair<long, long>{ru.ru_nvcsw, ru.ru_nivcsw};
  };
  long raw_vol = 0, raw_invol = 0, eng_vol = 0, eng_invol = 0;
  uint64_t next = 0;
  for (int round = 0; round < kRounds; ++round) {
    Lat raw_r, ws_r;
    auto c0 = switches();
    for (auto end = Clock::now() + std::chrono::duration<double>(slice); Clock::now() < end;) {
      uint64_t off = rng() % (span / bs) * bs;
      auto t = Clock::now();
      if (::pwrite(fd, buf.data(), bs, off) != static_cast<ssize_t>(bs) || ::fdatasync(fd) != 0) {
        std::perror("raw write");
        return 1;
      }
      raw_lat.add(t);
      raw_r.add(t);
    }
    auto c1 = switches();
    for (auto end = Clock::now() + std::chrono::duration<double>(slice); Clock::now() < end;) {
      uint64_t off = append ? next : rng() % (span / bs) * bs;
      next += bs;
      auto t = Clock::now();
      if (!blob->write(off, buf.data(), bs).ok()) return 1;
      w_lat.add(t);
      auto t2 = Clock::now();
      if (!blob->sync().ok()) return 1;
      s_lat.add(t2);
      ws_lat.add(t);
      ws_r.add(t);
    }
    auto c2 = switches();
    raw_vol += c1.first - c0.first;
    raw_invol += c1.second - c0.second;
    eng_vol += c2.first - c1.first;
    eng_invol += c2.second - c1.second;
    round_ratio.push_back(ws_r.pct(0.5) / raw_r.pct(0.5));
  }
  ::close(fd);
  ::unlink(raw.c_str());
  std::sort(round_ratio.begin(), round_ratio.end());
  // Cached reads.
  Lat r_lat;
  std::vector<uint8_t> rb(4096);
  for (int i = 0; i < 200000; i++) {
    uint64_t off = rng() % (std::min(span, next) / 4096) * 4096;
    auto t = Clock::now();
    if (!blob->read(off, rb.data(), 4096).ok()) return 1;
    r_lat.add(t);
  }
  auto st = (*pool)->stats();
  std::printf("block %zu bytes, %.0f s per phase%s%s\n", bs, secs, append ? ", engine appends" : "",
              prealloc ? ", preallocated pool file" : "");
  raw_lat.print("raw pwrite+fdatasync");
  ws_lat.print("engine write+sync");
  w_lat.print("  engine write");
  s_lat.print("  engine sync");
  r_lat.print("engine 4 KiB read (cached)");
  std::printf(
      "ratio write+sync / raw: p50 %.2f  p99 %.2f  median of %d same-round p50 ratios %.2f\n",
      ws_lat.pct(0.5) / raw_lat.pct(0.5), ws_lat.pct(0.99) / raw_lat.pct(0.99), kRounds,
      round_ratio[round_ratio.size() / 2]);
  auto per_op = [](long n, const Lat& l) {
    return l.us.empty() ? 0.0 : static_cast<double>(n) / static_cast<double>(l.us.size());
  };
  std::printf("context switches per op (voluntary, involuntary): raw %.2f %.2f, engine %.2f %.2f\n",
              per_op(raw_vol, raw_lat), per_op(raw_invol, raw_lat), per_op(eng_vol, ws_lat),
              per_op(eng_invol, ws_lat));
  std::printf("txgs %llu, log blocks %llu, log bytes %llu, cache hits %llu misses %llu\n",
              static_cast<unsigned long long>(st.synced_txg),
              static_cast<unsigned long long>(st.log_syncs),
              static_cast<unsigned long long>(st.log_bytes_written),
              static_cast<unsigned long long>(st.cache_hits),
              static_cast<unsigned long long>(st.cache_misses));
  blob.reset();
  (void)(*pool)->export_pool();
  ::unlink(path.c_str());
  return 0;
}
