// allocator.cc — metaslab-style free-space management (see allocator.h for the contract).
//
// State: the region [start, end) is cut into metaslabs of a power-of-two size (at least
// kSlabMinBytes, about kSlabsTarget of them). Each slab keeps its free extents in an
// ExtentSet; extents never cross a slab boundary. Frees waiting for their txg to become safe
// live in a separate ExtentSet (`deferred`) plus a per-txg index. Every byte of the region is in
// exactly one of three states: free (in some slab's set), deferred (in `deferred`), or
// allocated (in neither). Changes since the last take_pending() are logged in `pending` for the
// space map.
//
// Allocation policy: a cursor follows the last allocation so that consecutive allocations are
// contiguous on disk (sequential write bandwidth). If the cursor's extent cannot hold the
// request, a few following extents of the same slab are tried; failing that the allocator
// moves to the slab with the largest free extent that fits (ties: most free bytes), which
// steers new data to the least fragmented space and leaves fragmented slabs to small blocks.
// A request is never split: when no extent can hold it the answer is ENOSPC, and callers
// allocate smaller blocks. Requests larger than a slab are refused with EINVAL.
// Written space first: the pool file is sparse, and the first write to a hole of it costs the
// host file system an allocation (1 MiB O_DIRECT writes to fresh space of a file here: about
// 1.0 GB/s, overwrites 1.6 GB/s). The high-water mark is the end of the highest range ever
// allocated; slabs wholly below it are "written". When the cursor is at the mark while at least
// kOldSpaceMin bytes of written slabs are free, the allocator goes back to the first written
// slab with room for a run (kRunMin) instead of into never-written space; and when the cursor's
// slab is used up below the mark, it goes on to the next written slab with such a run (wrapping
// once) before fresh space. Slabs with only smaller holes are left to the best-slab rule.
//
// Crash: nothing here is durable by itself. The space map records the pending changes of each
// txg; after a crash the allocator is rebuilt from the map of the imported txg, so changes of
// txgs that never committed simply vanish (their blocks were unreachable anyway).
//
// Thread safety: one mutex, held only for in-memory work (no I/O is ever done here).
#include "engine/alloc/allocator.h"

#include <algorithm>
#include <map>

#include "common/log.h"
#include "engine/alloc/extent_set.h"

namespace zvfs::alloc {
namespace {

constexpr uint64_t kSlabMinBytes = 16ull << 20;  // also the largest allocation
constexpr uint64_t kSlabsTarget = 128;
constexpr int kCursorProbesMax = 8;  // extents tried after the cursor before switching slab
constexpr uint64_t kOldSpaceMin = 64ull << 20;  // free written space worth going back for
constexpr uint64_t kRunMin = 1ull << 20;        // a free extent worth moving the cursor to

uint64_t slab_bytes_for(uint64_t region) {
  uint64_t s = kSlabMinBytes;
  while (s * kSlabsTarget < region) s <<= 1;
  return s;
}

bool valid_len(uint64_t len) {
  return len != 0 && len % kUnit == 0;
}

}  // namespace

struct Allocator::Impl {
  Impl(uint64_t s, uint64_t e, uint64_t r) : start(s), end(e), reserve(r) {
    slab_bytes = slab_bytes_for(end - start);
    for (uint64_t off = start; off < end; off += slab_bytes) {
      slabs.emplace_back();
      slabs.back().add(off, std::min(slab_bytes, end - off));
    }
    free_bytes = end - start;
    cursor = start;
    hwm = start;
  }

  const uint64_t start, end;
  uint64_t reserve;
  uint64_t slab_bytes = 0;
  mutable std::mutex mu;
  std::vector<ExtentSet> slabs;                   // free space, per slab
  ExtentSet deferred;                             // freed, not yet reusable
  std::map<uint64_t, std::vector<Range>> by_txg;  // txg of the free -> ranges
  std::vector<SpaceRecord> pending;
  uint64_t free_bytes = 0;
  uint64_t cursor = 0;
  uint64_t hwm = 0;  // end of the highest range ever allocated (this run, or in the space map)
  // Below this cursor position the answer of free_below_hwm() is known to be too small; reset
  // by every free. Keeps the slab scan off all but one allocation per slab of fresh space.
  uint64_t old_space_checked_to = 0;
  // Nonzero: allocations only in slabs wholly below it (lower_space_ceiling).
  uint64_t ceiling = 0;

  size_t slab_of(uint64_t off) const { return (off - start) / slab_bytes; }
  bool in_region(uint64_t off, uint64_t len) const {
    return off >= start && off <= end && len <= end - off && off % kUnit == 0 && valid_len(len);
  }

  // Calls fn(slab, piece_off, piece_len) for the pieces of [off, off+len) in each slab.
  template <class F>
  bool each_piece(uint64_t off, uint64_t len, F&& fn) const {
    while (len > 0) {
      size_t s = slab_of(off);
      uint64_t slab_end = std::min(end, start + (s + 1) * slab_bytes);
      uint64_t n = std::min(len, slab_end - off);
      if (!fn(s, off, n)) return false;
      off += n;
      len -= n;
    }
    return true;
  }

  bool is_free(uint64_t off, uint64_t len) const {
    return in_region(off, len) && each_piece(off, len, [&](size_t s, uint64_t o, uint64_t n) {
             return slabs[s].contains(o, n);
           });
  }
  bool is_allocated(uint64_t off, uint64_t len) const {
    return in_region(off, len) && !deferred.overlaps(off, len) &&
           each_piece(off, len,
                      [&](size_t s, uint64_t o, uint64_t n) { return !slabs[s].overlaps(o, n); });
  }

  void take(size_t s, uint64_t off, uint64_t len) {
    slabs[s].remove(off, len);
    free_bytes -= len;
    cursor = off + len;
    hwm = std::max(hwm, cursor);
  }
  // Queues a change for the space map, merged into the previous record when it continues it
  // (same kind and txg, the next range): a sequential run of blocks is one record.
  void record(const SpaceRecord& r) {
    if (!pending.empty()) {
      SpaceRecord& b = pending.back();
      if (b.kind == r.kind && b.txg == r.txg && b.off + b.len == r.off) {
        b.len += r.len;
        return;
      }
    }
    pending.push_back(r);
  }
  // Free bytes in the slabs that lie wholly below `limit`.
  uint64_t free_below(uint64_t limit) const {
    uint64_t n = 0;
    for (size_t s = 0; s < slabs.size() && start + (s + 1) * slab_bytes <= limit; ++s)
      n += slabs[s].bytes();
    return n;
  }
  uint64_t free_below_hwm() const { return free_below(hwm); }
  // What alloc() may hand out: everything free, or only below the ceiling.
  uint64_t usable_free() const { return ceiling != 0 ? free_below(ceiling) : free_bytes; }
  // Under a ceiling: at the cursor if its slab is below it (sequential runs), else at the
  // largest extent of the first slab below it, from the cursor's on (wrapping), that holds len.
  bool alloc_below_ceiling(uint64_t len, uint64_t* out) {
    const size_t n = (ceiling - start) / slab_bytes;
    if (n == 0) return false;
    const size_t from = cursor < ceiling ? slab_of(cursor) : 0;
    if (cursor < ceiling && alloc_at_cursor(len, out)) return true;
    for (size_t i = 0; i < n; ++i) {
      const size_t s = (from + i) % n;
      if (slabs[s].largest() >= len) return alloc_at_largest(s, len, out);
    }
    return false;
  }
  void give(uint64_t off, uint64_t len) {
    each_piece(off, len, [&](size_t s, uint64_t o, uint64_t n) {
      slabs[s].add(o, n);
      return true;
    });
    free_bytes += len;
    old_space_checked_to = 0;
  }
  // Written space first (see the top of this file), at the high-water mark: back to the first
  // written slab with room for a run, if enough written space is free.
  bool alloc_back_in_written_space(uint64_t len, uint64_t* out) {
    if (cursor < hwm || hwm == start || cursor < old_space_checked_to) return false;
    if (free_below_hwm() >= std::max(len, kOldSpaceMin) && alloc_in_written_slab(0, len, out))
      return true;
    old_space_checked_to = cursor + slab_bytes;
    return false;
  }
  // Below the high-water mark, the cursor's slab used up: on to the next written slab with room
  // for a run.
  bool alloc_on_in_written_space(uint64_t len, uint64_t* out) {
    return cursor < hwm && alloc_in_written_slab(slab_of(cursor) + 1, len, out);
  }
  // Allocates at the largest extent of the first written slab from slab `from` on (wrapping
  // once) whose largest extent holds max(len, kRunMin).
  bool alloc_in_written_slab(size_t from, uint64_t len, uint64_t* out) {
    const size_t written = (hwm - start) / slab_bytes;
    const uint64_t want = std::max(len, kRunMin);
    for (size_t i = 0; i < written; ++i) {
      const size_t s = (from + i) % written;
      if (slabs[s].largest() >= want) return alloc_at_largest(s, len, out);
    }
    return false;
  }
  // Allocates at the start of slab s's largest extent (room for a sequential run after it).
  bool alloc_at_largest(size_t s, uint64_t len, uint64_t* out) {
    auto [off, elen] = slabs[s].best_fit(slabs[s].largest());
    if (elen < len) return false;
    take(s, off, len);
    *out = off;
    return true;
  }

  // Tries to place `len` at or just after the cursor, in the cursor's slab.
  bool alloc_at_cursor(uint64_t len, uint64_t* out) {
    if (cursor >= end) cursor = start;
    size_t s = slab_of(cursor);
    uint64_t pos = cursor;
    for (int probe = 0; probe < kCursorProbesMax; ++probe) {
      auto [eoff, elen] = slabs[s].at_or_after(pos);
      if (elen == 0) return false;
      uint64_t from = std::max(eoff, pos);
      if (eoff + elen - from >= len) {
        take(s, from, len);
        *out = from;
        return true;
      }
      pos = eoff + elen;
    }
    return false;
  }

  // Picks the slab whose largest extent fits best for sequential use and allocates there.
  bool alloc_in_best_slab(uint64_t len, uint64_t* out) {
    size_t best = slabs.size();
    for (size_t s = 0; s < slabs.size(); ++s) {
      if (slabs[s].largest() < len) continue;
      if (best == slabs.size() || slabs[s].largest() > slabs[best].largest() ||
          (slabs[s].largest() == slabs[best].largest() && slabs[s].bytes() > slabs[best].bytes()))
        best = s;
    }
    return best != slabs.size() && alloc_at_largest(best, len, out);
  }

  void release_deferred_upto(uint64_t txg_limit) {
    while (!by_txg.empty() && by_txg.begin()->first <= txg_limit) {
      for (const Range& r : by_txg.begin()->second) {
        deferred.remove(r.off, r.len);
        give(r.off, r.len);
      }
      by_txg.erase(by_txg.begin());
    }
  }
};

Allocator::Allocator(uint64_t start, uint64_t end, uint64_t reserve_bytes) {
  start = (start + kUnit - 1) / kUnit * kUnit;
  end = end / kUnit * kUnit;
  if (end < start) end = start;
  impl_ = std::make_unique<Impl>(start, end, reserve_bytes);
}

Allocator::~Allocator() = default;

Result<uint64_t> Allocator::alloc(uint64_t len, bool use_reserve) {
  if (!valid_len(len)) return make_error(EINVAL, "alloc: length not a positive multiple of 4096");
  std::lock_guard<std::mutex> g(impl_->mu);
  Impl& m = *impl_;
  if (len > m.slab_bytes) return make_error(EINVAL, "alloc: request larger than a metaslab");
  const uint64_t usable = m.usable_free();
  if (usable < len || (!use_reserve && usable - len < m.reserve))
    return make_error(
        ENOSPC, m.ceiling != 0 ? "alloc: the pool's written space is full" : "alloc: pool is full");
  uint64_t off = 0;
  if (m.ceiling != 0) {
    if (!m.alloc_below_ceiling(len, &off))
      return make_error(ENOSPC, "alloc: no free extent large enough in written space");
  } else if (!m.alloc_back_in_written_space(len, &off) && !m.alloc_at_cursor(len, &off) &&
             !m.alloc_on_in_written_space(len, &off) && !m.alloc_in_best_slab(len, &off)) {
    return make_error(ENOSPC, "alloc: no free extent large enough");
  }
  m.record({SpaceRecord::Kind::kAlloc, off, len, 0});
  return off;
}

void Allocator::free_now(uint64_t off, uint64_t len) {
  std::lock_guard<std::mutex> g(impl_->mu);
  Impl& m = *impl_;
  if (!m.is_allocated(off, len)) {
    LOG_ERROR("alloc", "free of a range that is not allocated: %#llx+%#llx (ignored)",
              static_cast<unsigned long long>(off), static_cast<unsigned long long>(len));
    return;
  }
  m.give(off, len);
  m.record({SpaceRecord::Kind::kFree, off, len, 0});
}

void Allocator::free_deferred(uint64_t off, uint64_t len, uint64_t txg) {
  if (txg == 0) return free_now(off, len);
  std::lock_guard<std::mutex> g(impl_->mu);
  Impl& m = *impl_;
  if (!m.is_allocated(off, len)) {
    LOG_ERROR("alloc", "deferred free of a range that is not allocated: %#llx+%#llx (ignored)",
              static_cast<unsigned long long>(off), static_cast<unsigned long long>(len));
    return;
  }
  m.deferred.add(off, len);
  m.by_txg[txg].push_back({off, len});
  m.record({SpaceRecord::Kind::kFree, off, len, txg});
}

void Allocator::txg_synced(uint64_t txg) {
  if (txg < kDeferTxgs) return;
  std::lock_guard<std::mutex> g(impl_->mu);
  impl_->release_deferred_upto(txg - kDeferTxgs);
}

std::vector<SpaceRecord> Allocator::take_pending() {
  std::lock_guard<std::mutex> g(impl_->mu);
  std::vector<SpaceRecord> out;
  out.swap(impl_->pending);
  return out;
}

void Allocator::return_pending(std::vector<SpaceRecord> records) {
  std::lock_guard<std::mutex> g(impl_->mu);
  auto& p = impl_->pending;
  records.insert(records.end(), p.begin(), p.end());
  p.swap(records);
}

void Allocator::load_record(const SpaceRecord& r, uint64_t synced_txg) {
  std::lock_guard<std::mutex> g(impl_->mu);
  Impl& m = *impl_;
  if (r.kind == SpaceRecord::Kind::kAlloc) {
    if (!m.is_free(r.off, r.len)) {
      LOG_ERROR("alloc", "space map allocates a range that is not free: %#llx+%#llx",
                static_cast<unsigned long long>(r.off), static_cast<unsigned long long>(r.len));
      return;
    }
    m.each_piece(r.off, r.len, [&](size_t s, uint64_t o, uint64_t n) {
      m.slabs[s].remove(o, n);
      return true;
    });
    m.free_bytes -= r.len;
    m.hwm = std::max(m.hwm, r.off + r.len);
    return;
  }
  if (!m.is_allocated(r.off, r.len)) {
    LOG_ERROR("alloc", "space map frees a range that is not allocated: %#llx+%#llx",
              static_cast<unsigned long long>(r.off), static_cast<unsigned long long>(r.len));
    return;
  }
  if (r.txg == 0 || r.txg + kDeferTxgs <= synced_txg) {
    m.give(r.off, r.len);
  } else {
    m.deferred.add(r.off, r.len);
    m.by_txg[r.txg].push_back({r.off, r.len});
  }
}

std::vector<Range> Allocator::allocated_ranges() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  const Impl& m = *impl_;
  // Walk the not-allocated extents (free across slabs, and deferred) in offset order; the
  // gaps between them are the allocated ranges.
  std::vector<Range> out;
  uint64_t pos = m.start;
  auto gap_to = [&](uint64_t off, uint64_t len) {
    if (off > pos) out.push_back({pos, off - pos});
    pos = std::max(pos, off + len);
  };
  auto d = m.deferred.extents().begin();
  auto dend = m.deferred.extents().end();
  for (const ExtentSet& slab : m.slabs) {
    for (const auto& [off, len] : slab.extents()) {
      while (d != dend && d->first < off) {
        gap_to(d->first, d->second);
        ++d;
      }
      gap_to(off, len);
    }
  }
  for (; d != dend; ++d) gap_to(d->first, d->second);
  gap_to(m.end, 0);
  return out;
}

Allocator::Condensed Allocator::take_condensed(uint64_t txg) {
  std::lock_guard<std::mutex> g(impl_->mu);
  const Impl& m = *impl_;
  Condensed out;
  // Allocated-or-deferred ranges are the gaps between free extents.
  uint64_t pos = m.start;
  auto gap_to = [&](uint64_t off) {
    if (off > pos) out.records.push_back({SpaceRecord::Kind::kAlloc, pos, off - pos, 0});
  };
  for (const ExtentSet& slab : m.slabs) {
    for (const auto& [off, len] : slab.extents()) {
      gap_to(off);
      pos = off + len;
    }
  }
  gap_to(m.end);
  for (const auto& [ftxg, ranges] : m.by_txg) {
    if (ftxg > txg) break;
    for (const Range& r : ranges)
      out.records.push_back({SpaceRecord::Kind::kFree, r.off, r.len, ftxg});
  }
  out.pending.swap(impl_->pending);
  return out;
}

bool Allocator::is_allocated(uint64_t off, uint64_t len) const {
  std::lock_guard<std::mutex> g(impl_->mu);
  return impl_->is_allocated(off, len);
}

bool Allocator::is_free(uint64_t off, uint64_t len) const {
  std::lock_guard<std::mutex> g(impl_->mu);
  return impl_->is_free(off, len);
}

std::vector<SpaceRecord> Allocator::deferred() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  std::vector<SpaceRecord> out;
  for (const auto& [txg, ranges] : impl_->by_txg)
    for (const Range& r : ranges) out.push_back({SpaceRecord::Kind::kFree, r.off, r.len, txg});
  return out;
}

AllocStats Allocator::stats() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  const Impl& m = *impl_;
  AllocStats s;
  s.region_bytes = m.end - m.start;
  s.deferred_bytes = m.deferred.bytes();
  s.allocated_bytes = s.region_bytes - m.free_bytes - s.deferred_bytes;
  s.free_bytes = m.usable_free();
  s.reserve_bytes = m.reserve;
  s.written_only = m.ceiling != 0;
  return s;
}

uint64_t Allocator::written_free_bytes() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  return impl_->free_below_hwm();
}

uint64_t Allocator::space_ceiling() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  return impl_->ceiling;
}

void Allocator::lower_space_ceiling(uint64_t seen) {
  std::lock_guard<std::mutex> g(impl_->mu);
  Impl& m = *impl_;
  if (m.ceiling != seen) return;
  // Whole slabs only: the high-water mark's own slab has never-written space above the mark.
  uint64_t top = seen == 0 ? m.hwm : seen;
  uint64_t whole = (top - m.start) / m.slab_bytes;
  if (seen != 0 && top == m.start + whole * m.slab_bytes && whole > 0) whole--;
  m.ceiling = m.start + whole * m.slab_bytes;
  if (m.ceiling == m.start) m.ceiling = m.start + 1;  // nonzero, and below every whole slab
}

void Allocator::lift_space_ceiling() {
  std::lock_guard<std::mutex> g(impl_->mu);
  impl_->ceiling = 0;
}

}  // namespace zvfs::alloc
