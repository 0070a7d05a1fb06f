// extent_set.h — a set of disjoint byte ranges, coalesced, indexed by offset and by length.
//
// The building block of free-space tracking: each metaslab keeps its free space in one, and the
// allocator keeps its deferred frees in another. Adjacent ranges are always merged, so the set
// is canonical: two sets hold the same bytes iff they hold the same extents. The length index
// answers "smallest extent of at least N bytes" in O(log n) (best fit); the offset index
// answers "first extent at or after X" (for a sequential cursor).
// Not thread-safe: the owner locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

namespace zvfs::alloc {

class ExtentSet {
 public:
  // Adds [off, off+len); the range must not overlap the set (returns false and changes
  // nothing if it does).
  bool add(uint64_t off, uint64_t len);
  // Removes [off, off+len); the range must be wholly inside the set (returns false and changes
  // nothing if it is not).
  bool remove(uint64_t off, uint64_t len);
  bool contains(uint64_t off, uint64_t len) const;  // every byte of the range is in the set
  bool overlaps(uint64_t off, uint64_t len) const;  // some byte of the range is in the set

  // The extent containing `off`, or the first one after it; {0,0} if none.
  std::pair<uint64_t, uint64_t> at_or_after(uint64_t off) const;
  // The smallest extent with length >= len (lowest offset among equals); {0,0} if none.
  std::pair<uint64_t, uint64_t> best_fit(uint64_t len) const;
  uint64_t largest() const { return by_len_.empty() ? 0 : by_len_.rbegin()->first; }

  uint64_t bytes() const { return bytes_; }
  size_t count() const { return by_off_.size(); }
  bool empty() const { return by_off_.empty(); }
  void clear();
  const std::map<uint64_t, uint64_t>& extents() const { return by_off_; }  // off -> len

 private:
  void insert_raw(uint64_t off, uint64_t len);
  void erase_raw(std::map<uint64_t, uint64_t>::iterator it);

  std::map<uint64_t, uint64_t> by_off_;             // off -> len
  std::set<std::pair<uint64_t, uint64_t>> by_len_;  // (len, off)
  uint64_t bytes_ = 0;
};

}  // namespace zvfs::alloc
