// latency.cc — see latency.h.
#include "latency.h"

#include <algorithm>
#include <cmath>

namespace zvfs::bench {

LatencyRecorder::LatencyRecorder(size_t samples_max) : samples_max_(samples_max) {
  samples_ns_.reserve(samples_max);
}

void LatencyRecorder::add(uint64_t ns) {
  count_++;
  sum_ns_ += ns;
  min_ns_ = std::min(min_ns_, ns);
  max_ns_ = std::max(max_ns_, ns);
  if (samples_ns_.size() < samples_max_) samples_ns_.push_back(ns);
}

uint64_t percentile_sorted(const std::vector<uint64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  if (rank == 0) rank = 1;
  return sorted[rank - 1];
}

LatencySummary LatencyRecorder::summarize() {
  LatencySummary s;
  s.count = count_;
  if (count_ == 0) return s;
  std::sort(samples_ns_.begin(), samples_ns_.end());
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  s.min_us = us(min_ns_);
  s.max_us = us(max_ns_);
  s.mean_us = static_cast<double>(sum_ns_) / static_cast<double>(count_) / 1000.0;
  s.p50_us = us(percentile_sorted(samples_ns_, 0.50));
  s.p90_us = us(percentile_sorted(samples_ns_, 0.90));
  s.p99_us = us(percentile_sorted(samples_ns_, 0.99));
  s.p999_us = us(percentile_sorted(samples_ns_, 0.999));
  return s;
}

}  // namespace zvfs::bench
