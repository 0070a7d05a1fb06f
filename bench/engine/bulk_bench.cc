// bulk_bench.cc — bulk sequential write and txg commit throughput of the engine, next to the
// raw device doing the same sequential 1 MiB O_DIRECT writes. Not a test: run it by hand.
//
//   zvfs_bulk_bench DIR [GiB] [block KiB]
//
// Phase 1 (raw): 1 MiB O_DIRECT pwrites over a fresh sparse file of GiB, then fdatasync.
// Phase 2 (commit): a few rounds of "write 128 MiB (below the commit threshold), time
//          Pool::sync_all()": the commit's own throughput, the figure to compare with phase 1.
// Phase 3 (stream): GiB of 1 MiB Blob::writes with background commits and the write throttle,
//          then sync_all(): sustained throughput as a writer sees it.
// Memory: the process's peak resident set (VmHWM) over its size before the pool was created,
// against the engine's bound: cache + dirty limit + 64 MiB (run with GiB = 4 for the target).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/aligned_buf.h"
#include "common/log.h"
#include "zvfs/blob.h"

namespace {

using Clock = std::chrono::steady_clock;

double secs_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A field of /proc/self/status in KiB (VmRSS, VmHWM), or 0.
uint64_t status_kib(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t v = 0;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      v = std::strtoull(line + n + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return v;
}

double mbps(uint64_t bytes, double s) {
  return s > 0 ? static_cast<double>(bytes) / 1e6 / s : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [GiB] [block KiB]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const uint64_t total = static_cast<uint64_t>((argc > 2 ? std::atof(argv[2]) : 1) * (1 << 30));
  const uint32_t bs = static_cast<uint32_t>((argc > 3 ? std::atoi(argv[3]) : 16) * 1024);
  constexpr size_t kIo = 1 << 20;
  zvfs::log::configure(zvfs::log::Level::kWarn, "", true);
  zvfs::AlignedBuf buf(kIo);
  for (size_t i = 0; i < kIo; i++) buf.data()[i] = static_cast<std::byte>(i * 7 + 1);

  // 1. Raw.
  const std::string raw = dir + "/bulk_raw.img";
  ::unlink(raw.c_str());
  int fd = ::open(raw.c_str(), O_RDWR | O_CREAT | O_DIRECT, 0600);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(total)) != 0) {
    std::perror("raw file");
    return 1;
  }
  auto t = Clock::now();
  for (uint64_t off = 0; off < total; off += kIo) {
    if (::pwrite(fd, buf.data(), kIo, static_cast<off_t>(off)) != static_cast<ssize_t>(kIo)) {
      std::perror("raw write");
      return 1;
    }
  }
  ::fdatasync(fd);
  std::printf("raw    1 MiB O_DIRECT pwrite + fdatasync : %8.0f MB/s\n",
              mbps(total, secs_since(t)));
  ::close(fd);
  ::unlink(raw.c_str());

  // 2 and 3. The engine.
  const std::string path = dir + "/bulk_pool.img";
  ::unlink(path.c_str());
  const uint64_t base_kib = status_kib("VmRSS");
  zvfs::engine::PoolConfig cfg;
  cfg.create_size = 2 * total + (1ull << 30);
  cfg.block_size = bs;
  cfg.txg_interval_ms = 60000;  // phase 2 commits only on demand
  auto pool = zvfs::engine::Pool::create(path, cfg);
  if (!pool.ok()) {
    std::fprintf(stderr, "create: %s\n", pool.error().msg);
    return 1;
  }
  auto& p = **pool;
  auto id = p.create_blob();
  auto blob = p.open_blob(*id);
  if (!id.ok() || !blob.ok()) return 1;
  auto& b = **blob;
  constexpr uint64_t kRound = 128ull << 20;
  uint64_t off = 0;
  double commit_s = 0;
  uint64_t committed = 0;
  for (int round = 0; round < 4; round++) {
    for (uint64_t end = off + kRound; off < end; off += kIo) {
      if (!b.write(off, buf.data(), kIo).ok()) return 1;
    }
    t = Clock::now();
    if (!p.sync_all().ok()) return 1;
    commit_s += secs_since(t);
    committed += kRound;
  }
  std::printf("engine txg commit of 128 MiB (x4)      : %8.0f MB/s (block %u KiB)\n",
              mbps(committed, commit_s), bs / 1024);

  t = Clock::now();
  for (uint64_t end = off + total; off < end; off += kIo) {
    if (!b.write(off, buf.data(), kIo).ok()) return 1;
  }
  const double write_s = secs_since(t);
  if (!p.sync_all().ok()) return 1;
  const double all_s = secs_since(t);
  std::printf("engine 1 MiB writes, throttled         : %8.0f MB/s (%.0f MB/s incl. final sync)\n",
              mbps(total, write_s), mbps(total, all_s));
  std::printf("       throttle waits %llu, delays %.1f ms in all\n",
              static_cast<unsigned long long>(p.stats().throttle_waits),
              static_cast<double>(p.stats().throttle_delay_ns) / 1e6);
  const uint64_t peak_mib = (status_kib("VmHWM") - std::min(base_kib, status_kib("VmHWM"))) >> 10;
  const uint64_t bound_mib = (cfg.cache_bytes + cfg.dirty_max_bytes + (64ull << 20)) >> 20;
  std::printf(
      "       peak RSS over baseline %llu MiB; bound cache + dirty + 64 MiB = %llu MiB: %s\n",
      static_cast<unsigned long long>(peak_mib), static_cast<unsigned long long>(bound_mib),
      peak_mib <= bound_mib ? "within" : "EXCEEDED");
  if (!p.export_pool().ok()) return 1;
  ::unlink(path.c_str());
  return 0;
}
