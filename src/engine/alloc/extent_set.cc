// extent_set.cc — see extent_set.h.
#include "engine/alloc/extent_set.h"

namespace zvfs::alloc {

void ExtentSet::insert_raw(uint64_t off, uint64_t len) {
  by_off_.emplace(off, len);
  by_len_.emplace(len, off);
  bytes_ += len;
}

void ExtentSet::erase_raw(std::map<uint64_t, uint64_t>::iterator it) {
  by_len_.erase({it->second, it->first});
  bytes_ -= it->second;
  by_off_.erase(it);
}

bool ExtentSet::overlaps(uint64_t off, uint64_t len) const {
  if (len == 0) return false;
  auto it = by_off_.lower_bound(off);
  if (it != by_off_.end() && it->first < off + len) return true;
  if (it == by_off_.begin()) return false;
  --it;
  return it->first + it->second > off;
}

bool ExtentSet::contains(uint64_t off, uint64_t len) const {
  if (len == 0) return true;
  auto it = by_off_.upper_bound(off);
  if (it == by_off_.begin()) return false;
  --it;
  return it->first <= off && off + len <= it->first + it->second;
}

bool ExtentSet::add(uint64_t off, uint64_t len) {
  if (len == 0 || off + len < off) return false;
  if (overlaps(off, len)) return false;
  uint64_t start = off, end = off + len;
  auto next = by_off_.lower_bound(off);
  if (next != by_off_.end() && next->first == end) {
    end += next->second;
    erase_raw(next);
  }
  auto prev = by_off_.lower_bound(off);
  if (prev != by_off_.begin()) {
    --prev;
    if (prev->first + prev->second == start) {
      start = prev->first;
      erase_raw(prev);
    }
  }
  insert_raw(start, end - start);
  return true;
}

bool ExtentSet::remove(uint64_t off, uint64_t len) {
  if (len == 0) return true;
  if (!contains(off, len)) return false;
  auto it = std::prev(by_off_.upper_bound(off));
  uint64_t ext_off = it->first, ext_end = it->first + it->second;
  erase_raw(it);
  if (ext_off < off) insert_raw(ext_off, off - ext_off);
  if (off + len < ext_end) insert_raw(off + len, ext_end - (off + len));
  return true;
}

std::pair<uint64_t, uint64_t> ExtentSet::at_or_after(uint64_t off) const {
  auto it = by_off_.upper_bound(off);
  if (it != by_off_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second > off) return *prev;
  }
  if (it == by_off_.end()) return {0, 0};
  return *it;
}

std::pair<uint64_t, uint64_t> ExtentSet::best_fit(uint64_t len) const {
  auto it = by_len_.lower_bound({len, 0});
  if (it == by_len_.end()) return {0, 0};
  return {it->second, it->first};
}

void ExtentSet::clear() {
  by_off_.clear();
  by_len_.clear();
  bytes_ = 0;
}

}  // namespace zvfs::alloc
