// flat_index.h — an open-addressing hash index from keys to entries the caller owns.
//
// The cache looks a block up on every read, and in a cache of a gigabyte nearly every lookup
// misses the CPU cache. std::unordered_map reaches an element through its bucket slot, the
// node before it and then the node itself: three cache lines at random places. Here a lookup
// reads the slot array, where each slot holds the whole key next to the entry's pointer, so a
// lookup touches one line (two when probing crosses a line) before the entry itself.
//
// Linear probing over a power-of-two array kept at most half full; erasing shifts the
// following slots of the run back (no tombstones, so lookups never slow down with churn).
// Values are pointers (null marks an empty slot); the index never owns or frees them. Growing
// rehashes into twice the slots (std::bad_alloc propagates, as from the standard containers).
// Not thread-safe: the cache's mutex protects it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zvfs::arc {

template <class K, class T, class Hash>
class FlatIndex {
 public:
  // Sized so that `expected` keys fit without growing.
  explicit FlatIndex(size_t expected = 0) { slots_.resize(capacity_for(expected)); }

  T* find(const K& k) const {
    for (size_t i = home(k);; i = next(i)) {
      const Slot& s = slots_[i];
      if (s.val == nullptr) return nullptr;
      if (s.key == k) return s.val;
    }
  }

  // Adds k -> v; k must not be present and v must not be null.
  void insert(const K& k, T* v) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    place(k, v);
    ++size_;
  }

  // Removes k; false if it was not present.
  bool erase(const K& k) {
    size_t i = home(k);
    for (;; i = next(i)) {
      if (slots_[i].val == nullptr) return false;
      if (slots_[i].key == k) break;
    }
    // Backward shift: pull each later slot of the run into the gap if the gap lies between
    // its home and where it sits (it would otherwise no longer be found past the gap).
    for (size_t j = next(i);; j = next(j)) {
      Slot& s = slots_[j];
      if (s.val == nullptr) break;
      const size_t h = home(s.key);
      if (((j - h) & mask()) >= ((j - i) & mask())) {
        slots_[i] = s;
        i = j;
      }
    }
    slots_[i].val = nullptr;
    --size_;
    return true;
  }

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }

 private:
  struct Slot {
    K key{};
    T* val = nullptr;
  };

  static size_t capacity_for(size_t expected) {
    size_t c = 16;
    while (c < expected * 2) c <<= 1;
    return c;
  }
  size_t mask() const { return slots_.size() - 1; }
  size_t next(size_t i) const { return (i + 1) & mask(); }
  size_t home(const K& k) const {
    // A 64-bit finalizer over the key's hash: the low bits index the array, and block keys
    // (offsets that are multiples of 4096) would otherwise crowd a few of them.
    uint64_t h = static_cast<uint64_t>(Hash{}(k));
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return static_cast<size_t>(h) & mask();
  }
  void place(const K& k, T* v) {
    size_t i = home(k);
    while (slots_[i].val != nullptr) i = next(i);
    slots_[i].key = k;
    slots_[i].val = v;
  }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old)
      if (s.val != nullptr) place(s.key, s.val);
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace zvfs::arc
