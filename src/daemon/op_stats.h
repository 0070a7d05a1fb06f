// op_stats.h — per-operation request counters and latency histograms of the daemon.
//
// Owns one OpCounters per opcode: count, errors, total time and a log2 histogram of latencies
// (bucket i counts requests that took [2^i, 2^(i+1)) ns; a slot request's time runs from its
// copy out of the slot to its reply, including the wake-up of a client that slept). Updated
// with relaxed atomics by every worker after each request; read by the stats request (a
// snapshot that may be slightly torn across counters, never within one). Nothing here
// allocates; memory use is fixed.
#pragma once

#include <atomic>
#include <cstdint>

#include "ipc/protocol.h"

namespace zvfs::daemon {

class OpStatsTable {
 public:
  void record(uint16_t op, uint64_t ns, bool error) {
    if (op >= ipc::kOpMax) return;
    Counters& c = ops_[op];
    c.count.fetch_add(1, std::memory_order_relaxed);
    if (error) c.errors.fetch_add(1, std::memory_order_relaxed);
    c.total_ns.fetch_add(ns, std::memory_order_relaxed);
    c.hist[bucket(ns)].fetch_add(1, std::memory_order_relaxed);
  }

  // Fills out with the counters of op. Returns false if op never ran.
  bool snapshot(uint16_t op, ipc::OpStats* out) const {
    if (op >= ipc::kOpMax) return false;
    const Counters& c = ops_[op];
    out->op = op;
    out->count = c.count.load(std::memory_order_relaxed);
    if (out->count == 0) return false;
    out->errors = c.errors.load(std::memory_order_relaxed);
    out->total_ns = c.total_ns.load(std::memory_order_relaxed);
    for (int i = 0; i < ipc::kHistBuckets; ++i)
      out->hist[i] = c.hist[i].load(std::memory_order_relaxed);
    return true;
  }

  static int bucket(uint64_t ns) {
    int b = ns == 0 ? 0 : 63 - __builtin_clzll(ns);
    return b < ipc::kHistBuckets ? b : ipc::kHistBuckets - 1;
  }

 private:
  struct Counters {
    std::atomic<uint64_t> count{0}, errors{0}, total_ns{0};
    std::atomic<uint64_t> hist[ipc::kHistBuckets] = {};
  };
  Counters ops_[ipc::kOpMax];
};

// The latency (ns) below which a fraction q (0..1) of the histogram's requests fall: the upper
// bound of the bucket holding that rank, interpolated linearly inside the bucket.
inline double hist_percentile(const uint64_t* hist, double q) {
  uint64_t total = 0;
  for (int i = 0; i < ipc::kHistBuckets; ++i) total += hist[i];
  if (total == 0) return 0;
  double rank = q * static_cast<double>(total);
  uint64_t seen = 0;
  for (int i = 0; i < ipc::kHistBuckets; ++i) {
    if (hist[i] == 0) continue;
    if (static_cast<double>(seen + hist[i]) >= rank) {
      double lo = static_cast<double>(1ull << i), hi = lo * 2;
      double frac = (rank - static_cast<double>(seen)) / static_cast<double>(hist[i]);
      return lo + (hi - lo) * frac;
    }
    seen += hist[i];
  }
  return static_cast<double>(1ull << (ipc::kHistBuckets - 1));
}

}  // namespace zvfs::daemon
