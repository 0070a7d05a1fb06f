// range_set.h — a set of disjoint half-open integer ranges [start, end), merged on insert.
//
// Used for the blocks a transaction group frees (truncate, punch) and the blocks a fallocate
// set aside. Size is bounded by the number of distinct operations that created it, never by
// the length of the ranges.
#pragma once

#include <cstdint>
#include <iterator>
#include <map>

namespace zvfs::dmu {

class RangeSet {
 public:
  void add(uint64_t start, uint64_t end) {
    if (start >= end) return;
    auto it = m_.upper_bound(start);
    if (it != m_.begin()) {
      auto prev = std::prev(it);
      if (prev->second >= start) {
        start = prev->first;
        if (prev->second > end) end = prev->second;
        it = m_.erase(prev);
      }
    }
    while (it != m_.end() && it->first <= end) {
      if (it->second > end) end = it->second;
      it = m_.erase(it);
    }
    m_.emplace(start, end);
  }
  // Removes [start, end) from the set; returns how many integers were in it.
  uint64_t remove(uint64_t start, uint64_t end) {
    if (start >= end) return 0;
    uint64_t removed = 0;
    auto it = m_.upper_bound(start);
    if (it != m_.begin() && std::prev(it)->second > start) it = std::prev(it);
    while (it != m_.end() && it->first < end) {
      const uint64_t a = it->first, b = it->second;
      const uint64_t lo = a > start ? a : start, hi = b < end ? b : end;
      removed += hi - lo;
      it = m_.erase(it);
      if (a < start) m_.emplace(a, start);
      if (b > end) it = m_.emplace(end, b).first;
    }
    return removed;
  }
  // How many integers the set holds.
  uint64_t total() const {
    uint64_t n = 0;
    for (const auto& [a, b] : m_) n += b - a;
    return n;
  }
  bool contains(uint64_t v) const {
    auto it = m_.upper_bound(v);
    if (it == m_.begin()) return false;
    return std::prev(it)->second > v;
  }
  // End of the range containing v (v itself if none).
  uint64_t end_of(uint64_t v) const {
    auto it = m_.upper_bound(v);
    if (it == m_.begin()) return v;
    auto p = std::prev(it);
    return p->second > v ? p->second : v;
  }
  bool empty() const { return m_.empty(); }
  size_t count() const { return m_.size(); }
  const std::map<uint64_t, uint64_t>& ranges() const { return m_; }

 private:
  std::map<uint64_t, uint64_t> m_;  // start -> end
};

}  // namespace zvfs::dmu
