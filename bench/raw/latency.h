// latency.h — per-operation latency samples and their summary (min, mean, percentiles, max).
//
// A LatencyRecorder keeps every sample up to a fixed bound chosen at construction, so that
// percentiles are exact rather than bucketed; samples beyond the bound are counted in the mean
// and extremes but not kept (the benchmark loops stop long before on this machine). Not
// thread-safe: one recorder per measuring thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zvfs::bench {

struct LatencySummary {
  uint64_t count = 0;
  double min_us = 0;
  double mean_us = 0;
  double p50_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
};

class LatencyRecorder {
 public:
  explicit LatencyRecorder(size_t samples_max);

  void add(uint64_t ns);
  uint64_t count() const { return count_; }
  // Sorts the kept samples (once per call); fine to call at the end of a run.
  LatencySummary summarize();

 private:
  std::vector<uint64_t> samples_ns_;
  size_t samples_max_;
  uint64_t count_ = 0;
  uint64_t sum_ns_ = 0;
  uint64_t min_ns_ = UINT64_MAX;
  uint64_t max_ns_ = 0;
};

// Nearest-rank percentile of sorted samples: the smallest value with at least q of all samples
// at or below it (q in [0, 1]). Returns 0 for an empty vector.
uint64_t percentile_sorted(const std::vector<uint64_t>& sorted, double q);

}  // namespace zvfs::bench
