// range_set.h — a set of disjoint half-open integer ranges [start, end), merged on insert.
//
// Used for the blocks a transaction group frees (truncate, punch). Size is bounded by the
// number of distinct operations that created it, never by the length of the ranges.
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
