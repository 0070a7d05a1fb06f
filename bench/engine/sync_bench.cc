// sync_bench.cc — latency of the engine's durable 4 KiB write (Blob::write + Blob::sync),
// side by side with the raw device doing one 4 KiB write + fdatasync (an io_uring write SQE
// linked to an fsync SQE, queue depth 1, on a pre-written O_DIRECT file in the same
// directory). Not a test: run it by hand, it prints p50/p99/p99.9 and ratios.
//
//   zvfs_sync_bench DIR [seconds per phase] [threads for the threaded phases]
//
// Phases (each `seconds` long):
//   raw            the raw reference, one thread
//   raw+bg         the same while another thread streams 1 MiB O_DIRECT writes to a fresh file
//   overwrite      one thread: random 4 KiB overwrites of a committed 64 MiB blob + sync
//   append         one thread: 4 KiB appends + sync
//   overwrite xN   N threads, each on its own blob (group commit)
//   shared xN      N threads on one blob, disjoint blocks
//   overwrite+bg   one thread, while another writes 1 MiB chunks to another blob without
//                  syncing, so txgs commit back to back (the sync path during commits)
// For the engine phases it also prints log blocks and txgs per phase. The pool file is sparse
// (as `zvfs create` makes it); with ZVFS_SYNC_BENCH_PREWRITE=1 it is written with zeros first.
#include <fcntl.h>
#include <liburing.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/aligned_buf.h"
#include "common/log.h"
#include "zvfs/blob.h"

namespace {

using Clock = std::chrono::steady_clock;
using zvfs::engine::Blob;
using zvfs::engine::Pool;

constexpr size_t kBs = 4096;
constexpr uint64_t kSpan = 64ull << 20;  // overwrite span (as the suite's fio job)

struct Lat {
  std::vector<double> us;
  std::string usage;
  void add(Clock::time_point a) {
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  void merge(const Lat& o) { us.insert(us.end(), o.us.begin(), o.us.end()); }
  double pct(double p) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))];
  }
};

// A raw 4 KiB write linked to an fdatasync, on a pre-written file.
class Raw {
 public:
  bool open(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);
    if (fd_ < 0 || io_uring_queue_init(4, &ring_, 0) != 0) return false;
    zvfs::AlignedBuf chunk(1 << 20);
    std::memset(chunk.data(), 0x5a, chunk.size());
    for (uint64_t off = 0; off < kSpan; off += chunk.size()) {
      if (::pwrite(fd_, chunk.data(), chunk.size(), off) != static_cast<ssize_t>(chunk.size()))
        return false;
    }
    return ::fdatasync(fd_) == 0;
  }
  ~Raw() {
    if (fd_ >= 0) {
      io_uring_queue_exit(&ring_);
      ::close(fd_);
    }
  }
  bool write_sync(const void* buf, uint64_t off) {
    io_uring_sqe* w = io_uring_get_sqe(&ring_);
    io_uring_prep_write(w, fd_, buf, kBs, off);
    w->flags |= IOSQE_IO_LINK;
    io_uring_sqe* f = io_uring_get_sqe(&ring_);
    io_uring_prep_fsync(f, fd_, IORING_FSYNC_DATASYNC);
    if (io_uring_submit_and_wait(&ring_, 2) < 0) return false;
    bool ok = true;
    for (int i = 0; i < 2; i++) {
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe(&ring_, &cqe) != 0) return false;
      ok &= cqe->res >= 0;
      io_uring_cqe_seen(&ring_, cqe);
    }
    return ok;
  }

 private:
  int fd_ = -1;
  io_uring ring_{};
};

double cpu_us() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& t) { return double(t.tv_sec) * 1e6 + double(t.tv_usec); };
  return us(ru.ru_utime) + us(ru.ru_stime);
}
double ctx_switches() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_nvcsw + ru.ru_nivcsw);
}

// A workload measured in slices; slices of different phases alternate so that each sees the
// same machine (this bench runs on shared, noisy machines).
struct Phase {
  std::string name;
  int threads = 1;
  std::function<bool(int, std::mt19937_64&)> op;  // one operation; false on failure
  std::function<void(bool)> around;               // optional: called with true before a slice
  std::function<std::pair<uint64_t, uint64_t>()> counts;  // optional: (log blocks, txgs)
  Lat lat, sync_lat;
  double secs = 0, cpu = 0, csw = 0;
  uint64_t blocks = 0, txgs = 0;
  uint64_t seed = 1;

  void slice(double len) {
    if (around) around(true);
    std::pair<uint64_t, uint64_t> c0 = counts ? counts() : std::make_pair(0ul, 0ul);
    const double cpu0 = cpu_us(), csw0 = ctx_switches();
    const auto t0 = Clock::now();
    std::vector<Lat> lats(threads);
    std::vector<std::thread> ts;
    std::atomic<bool> failed{false};
    const auto end = t0 + std::chrono::duration<double>(len);
    for (int t = 0; t < threads; t++) {
      ts.emplace_back([&, t] {
        std::mt19937_64 rng(seed * 1000 + t);
        while (Clock::now() < end && !failed) {
          auto a = Clock::now();
          if (!op(t, rng)) {
            failed = true;
            break;
          }
          lats[t].add(a);
        }
      });
    }
    for (auto& t : ts) t.join();
    seed++;
    if (failed) {
      std::fprintf(stderr, "%s: an operation failed\n", name.c_str());
      std::exit(1);
    }
    secs += std::chrono::duration<double>(Clock::now() - t0).count();
    cpu += cpu_us() - cpu0;
    csw += ctx_switches() - csw0;
    if (counts) {
      auto c1 = counts();
      blocks += c1.first - c0.first;
      txgs += c1.second - c0.second;
    }
    if (around) around(false);
    for (auto& l : lats) lat.merge(l);
  }

  void print() {
    const double n = lat.us.empty() ? 1.0 : double(lat.us.size());
    std::printf(
        "%-14s n=%-6zu %6.0f/s p50 %7.1f p99 %8.1f p99.9 %8.1f us | cpu %4.0f us/op csw %4.1f/op",
        name.c_str(), lat.us.size(), double(lat.us.size()) / secs, lat.pct(0.5), lat.pct(0.99),
        lat.pct(0.999), cpu / n, csw / n);
    if (counts) {
      std::printf(" | log blocks/op %.2f txgs %llu | sync p50 %.1f p99 %.1f", double(blocks) / n,
                  static_cast<unsigned long long>(txgs), sync_lat.pct(0.5), sync_lat.pct(0.99));
    }
    std::printf("\n");
    std::fflush(stdout);
  }
};

// Runs the phases in alternating slices until each had `secs` seconds.
void interleave(std::vector<Phase*> phases, double secs, double slice) {
  for (double done = 0; done < secs; done += slice) {
    for (Phase* p : phases) p->slice(std::min(slice, secs - done));
  }
  for (Phase* p : phases) p->print();
}

// A background thread calling fn until stopped.
class Background {
 public:
  explicit Background(std::function<void()> fn)
      : t_([this, fn = std::move(fn)] {
          while (!stop_.load()) fn();
        }) {}
  ~Background() {
    stop_ = true;
    t_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread t_;
};

std::shared_ptr<Blob> new_blob(Pool& pool, uint64_t prefill, const zvfs::AlignedBuf& chunk) {
  auto id = pool.create_blob();
  if (!id.ok()) std::exit(1);
  auto b = pool.open_blob(*id);
  if (!b.ok()) std::exit(1);
  for (uint64_t off = 0; off < prefill; off += chunk.size()) {
    if (!(*b)->write(off, chunk.data(), chunk.size()).ok()) std::exit(1);
  }
  return *b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [seconds per phase] [threads]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const double secs = argc > 2 ? std::atof(argv[2]) : 5;
  const int nthreads = std::max(argc > 3 ? std::atoi(argv[3]) : 4, 1);
  zvfs::log::configure(zvfs::log::Level::kWarn, "", true);
  zvfs::AlignedBuf buf(kBs), chunk(1 << 20);
  std::memset(buf.data(), 0xab, kBs);
  std::memset(chunk.data(), 0xcd, chunk.size());
  auto rand_off = [](std::mt19937_64& rng) { return rng() % (kSpan / kBs) * kBs; };

  Raw raw;
  const std::string raw_path = dir + "/sync-bench-raw.dat";
  if (!raw.open(raw_path)) {
    std::perror("raw file");
    return 1;
  }
  const std::string path = dir + "/sync-bench.pool";
  ::unlink(path.c_str());
  zvfs::engine::PoolConfig cfg;
  cfg.create_size = 4ull << 30;
  if (std::getenv("ZVFS_SYNC_BENCH_PREWRITE")) {
    // A pool file with no holes: no commit makes the file system allocate blocks.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_DIRECT, 0600);
    zvfs::AlignedBuf zeros(8 << 20);
    for (uint64_t off = 0; fd >= 0 && off < cfg.create_size; off += zeros.size()) {
      if (::pwrite(fd, zeros.data(), zeros.size(), off) != static_cast<ssize_t>(zeros.size()))
        return 1;
    }
    if (fd < 0 || ::fdatasync(fd) != 0) return 1;
    ::close(fd);
  }
  cfg.cache_bytes = 1ull << 30;  // as the suite's zvfsd: the blobs written here stay cached
  auto pool_r = Pool::create(path, cfg);
  if (!pool_r.ok()) {
    std::fprintf(stderr, "create: %s\n", pool_r.error().msg);
    return 1;
  }
  Pool& pool = **pool_r;
  std::vector<std::shared_ptr<Blob>> blobs;
  for (int t = 0; t < nthreads; t++) blobs.push_back(new_blob(pool, kSpan, chunk));
  auto shared = new_blob(pool, kSpan, chunk);
  auto app = new_blob(pool, 0, chunk);
  auto big = new_blob(pool, 0, chunk);
  if (!pool.sync_all().ok()) return 1;

  auto counts = [&] {
    auto s = pool.stats();
    return std::make_pair(s.log_syncs, s.synced_txg);
  };
  std::mutex sync_mu;
  auto timed_sync = [&](Phase& ph, Blob& b) {
    auto t0 = Clock::now();
    if (!b.sync().ok()) return false;
    Lat one;
    one.add(t0);
    std::lock_guard lk(sync_mu);
    ph.sync_lat.merge(one);
    return true;
  };
  auto raw_op = [&](int, std::mt19937_64& rng) {
    return raw.write_sync(buf.data(), rand_off(rng));
  };

  Phase p_raw{"raw", 1, raw_op};
  Phase p_ow{"overwrite", 1, nullptr, nullptr, counts};
  p_ow.op = [&](int, std::mt19937_64& rng) {
    return blobs[0]->write(rand_off(rng), buf.data(), kBs).ok() && timed_sync(p_ow, *blobs[0]);
  };
  Phase p_ap{"append", 1, nullptr, nullptr, counts};
  p_ap.op = [&](int, std::mt19937_64&) {
    return app->append(buf.data(), kBs).ok() && timed_sync(p_ap, *app);
  };
  Phase p_owt{"overwrite x" + std::to_string(nthreads), nthreads, nullptr, nullptr, counts};
  p_owt.op = [&](int t, std::mt19937_64& rng) {
    return blobs[t]->write(rand_off(rng), buf.data(), kBs).ok() && timed_sync(p_owt, *blobs[t]);
  };
  Phase p_sh{"shared x" + std::to_string(nthreads), nthreads, nullptr, nullptr, counts};
  p_sh.op = [&](int t, std::mt19937_64& rng) {
    // Thread t uses the 16 KiB blocks b with b % threads == t.
    uint64_t off = (rng() % (kSpan / 16384 / nthreads) * nthreads + t) * 16384;
    return shared->write(off, buf.data(), kBs).ok() && timed_sync(p_sh, *shared);
  };
  interleave({&p_raw, &p_ow, &p_ap, &p_owt, &p_sh}, secs, 0.25);

  // With a background writer: raw next to 1 MiB O_DIRECT writes to a fresh file; the engine
  // next to 1 MiB writes to another blob (never synced), so txgs commit back to back.
  const std::string bg_path = dir + "/sync-bench-bg.dat";
  int bgfd = ::open(bg_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);
  if (bgfd < 0) return 1;
  std::unique_ptr<Background> bg;
  uint64_t bg_off = 0, raw_bg_bytes = 0, engine_bg_bytes = 0;
  Phase p_rawbg{"raw+bg", 1, raw_op};
  p_rawbg.around = [&](bool start) {
    bg.reset();
    if (start) {
      bg = std::make_unique<Background>([&] {
        if (::pwrite(bgfd, chunk.data(), chunk.size(), bg_off % (1ull << 30)) > 0) {
          bg_off += chunk.size();
          raw_bg_bytes += chunk.size();
        }
      });
    }
  };
  Phase p_owbg{"overwrite+bg", 1, nullptr, nullptr, counts};
  p_owbg.op = [&](int, std::mt19937_64& rng) {
    return blobs[0]->write(rand_off(rng), buf.data(), kBs).ok() && timed_sync(p_owbg, *blobs[0]);
  };
  p_owbg.around = [&](bool start) {
    bg.reset();
    if (start) {
      bg = std::make_unique<Background>([&] {
        if (big->write(bg_off % (1ull << 30), chunk.data(), chunk.size()).ok()) {
          bg_off += chunk.size();
          engine_bg_bytes += chunk.size();
        }
      });
    }
  };
  interleave({&p_rawbg, &p_owbg}, secs, 1.0);
  std::printf("background writer: raw %.0f MB/s, engine %.0f MB/s (accepted, not synced)\n",
              double(raw_bg_bytes) / 1e6 / p_rawbg.secs,
              double(engine_bg_bytes) / 1e6 / p_owbg.secs);
  ::close(bgfd);
  ::unlink(bg_path.c_str());
  ::unlink(raw_path.c_str());

  const double r50 = p_raw.lat.pct(0.5);
  std::printf(
      "p50 / raw p50: overwrite %.2f, append %.2f, %s %.2f, %s %.2f; "
      "overwrite+bg / raw+bg: p50 %.2f p99 %.2f\n",
      p_ow.lat.pct(0.5) / r50, p_ap.lat.pct(0.5) / r50, p_owt.name.c_str(),
      p_owt.lat.pct(0.5) / r50, p_sh.name.c_str(), p_sh.lat.pct(0.5) / r50,
      p_owbg.lat.pct(0.5) / p_rawbg.lat.pct(0.5), p_owbg.lat.pct(0.99) / p_rawbg.lat.pct(0.99));
  blobs.clear();
  shared.reset();
  app.reset();
  big.reset();
  (void)pool.export_pool();
  ::unlink(path.c_str());
  return 0;
}
