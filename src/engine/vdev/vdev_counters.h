// vdev_counters.h — lock-free I/O counters shared by the vdev implementations.
//
// Each vdev counts requests, bytes and errors as they complete; stats() takes a snapshot.
// Relaxed atomics: the counters are statistics, not synchronization.
#pragma once

#include <atomic>
#include <cstdint>

#include "engine/vdev/vdev.h"

namespace zvfs::vdev {

class VdevCounters {
 public:
  // Accounts one completed request (result = bytes transferred or -errno).
  void count(const IoReq& r) {
    bool ok = r.result == static_cast<int64_t>(r.len);
    if (r.op == IoReq::Op::kRead) {
      reads_.fetch_add(1, std::memory_order_relaxed);
      if (ok)
        read_bytes_.fetch_add(r.len, std::memory_order_relaxed);
      else
        read_errors_.fetch_add(1, std::memory_order_relaxed);
    } else {
      writes_.fetch_add(1, std::memory_order_relaxed);
      if (ok)
        write_bytes_.fetch_add(r.len, std::memory_order_relaxed);
      else
        write_errors_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  void count_flush(int rc) {
    flushes_.fetch_add(1, std::memory_order_relaxed);
    if (rc != 0) flush_errors_.fetch_add(1, std::memory_order_relaxed);
  }
  VdevStats snapshot() const {
    VdevStats s;
    s.reads = reads_.load(std::memory_order_relaxed);
    s.writes = writes_.load(std::memory_order_relaxed);
    s.flushes = flushes_.load(std::memory_order_relaxed);
    s.read_bytes = read_bytes_.load(std::memory_order_relaxed);
    s.write_bytes = write_bytes_.load(std::memory_order_relaxed);
    s.read_errors = read_errors_.load(std::memory_order_relaxed);
    s.write_errors = write_errors_.load(std::memory_order_relaxed);
    s.flush_errors = flush_errors_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::atomic<uint64_t> reads_{0}, writes_{0}, flushes_{0};
  std::atomic<uint64_t> read_bytes_{0}, write_bytes_{0};
  std::atomic<uint64_t> read_errors_{0}, write_errors_{0}, flush_errors_{0};
};

}  // namespace zvfs::vdev
