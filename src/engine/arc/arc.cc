// arc.cc — the adaptive replacement cache (see arc.h for the contract).
//
// Policy (Megiddo & Modha's ARC, in bytes as OpenZFS does it): resident blocks sit on T1
// (seen once recently) or T2 (seen at least twice); evicted blocks leave a ghost (key and
// size, no data) on B1 or B2. A miss that finds its ghost on B1 means T1 was too small: the
// target size p of T1 grows; a ghost found on B2 shrinks p. Eviction takes from T1 while it
// is above p, else from T2. Bounds: T1+T2 <= max_bytes (c) for data, T1+B1 <= c and
// T1+T2+B1+B2 <= 2c for the directory, so ghosts cost memory proportional to the cache.
//
// Keys: (vdev, offset, birth txg, low 64 bits of the checksum). Copy-on-write never rewrites a
// live block in place, so a key names one content; the checksum part also guards the case of
// space freed and reused within one txg if the caller forgets to evict(). Entries are
// allocated one by one and found through a FlatIndex (flat_index.h: one slot line per lookup);
// each is on exactly one of the four lists, and drop() frees it.
//
// T2 is kept in CLOCK order: a hit on a T2 block only marks it referenced, and eviction gives
// a referenced tail block a second chance (back to the head, unmarked) instead of relinking it
// on every hit, which wrote both list neighbours: two more cache lines at random places per
// hit in a large cache (random hits over 512 MiB in zvfs_bench_arc: ~100 ns of ~500).
//
// Concurrency: one mutex, never held across I/O. A miss registers an in-flight record; other
// readers of the same block wait on it instead of issuing a second read (they count as hits,
// since they cause no I/O). evict() during the read marks the record cancelled so the stale
// contents are not cached. Buffers are shared_ptrs: eviction drops the cache's reference, a
// reader holding the buffer keeps it alive.
//
// Crash: the cache holds only verified clean copies of on-disk blocks; losing it loses nothing.
#include "engine/arc/arc.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "engine/arc/arc_list.h"
#include "engine/arc/flat_index.h"

namespace zvfs::arc {
namespace {

struct Key {
  uint64_t offset = 0, birth = 0, cksum = 0;
  uint32_t vdev = 0;
  bool operator==(const Key&) const = default;
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    uint64_t h = k.offset * 0x9E3779B97F4A7C15ull;
    h ^= (k.birth + k.vdev) * 0xC2B2AE3D27D4EB4Full;
    h ^= k.cksum;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

Key key_of(const zio::BlockPtr& bp) {
  return Key{bp.offset, bp.birth_txg, bp.checksum.lo, bp.vdev};
}

// No block is larger than an allocation can be (a metaslab, 16 MiB and up); a pointer claiming
// more than this is corrupt.
constexpr uint32_t kBlockBytesMax = 64u << 20;

enum class Where : uint8_t { kT1, kT2, kB1, kB2 };

struct Entry {
  Key key;
  BufRef buf;  // null for ghosts
  uint64_t size = 0;
  Where where = Where::kT1;
  bool referenced = false;  // hit again while on T2 since it was last put at T2's head
  Entry* prev = nullptr;
  Entry* next = nullptr;
};

struct Inflight {
  bool done = false;
  bool cancelled = false;
  Error err{};
  bool ok = false;
  BufRef buf;
};

// Memory a buffer really occupies (AlignedBuf rounds up to its alignment).
uint64_t charge(const AlignedBuf& b) {
  return (b.size() + AlignedBuf::kAlign - 1) / AlignedBuf::kAlign * AlignedBuf::kAlign;
}

// How far to move p on a ghost hit: more when the other ghost list is much larger (capped).
uint64_t adapt_delta(uint64_t size, uint64_t this_ghost, uint64_t other_ghost) {
  uint64_t mult = this_ghost >= other_ghost || this_ghost == 0 ? 1 : other_ghost / this_ghost;
  if (mult > 10) mult = 10;
  return size * mult;
}

}  // namespace

struct Arc::Impl {
  // The index has room for a full cache of 16 KiB blocks and as many ghosts, so that filling
  // it does not rehash over and over (at most 2^20 entries up front).
  Impl(zio::Pipeline& z, uint64_t max)
      : zio(z),
        c(max),
        index(static_cast<size_t>(std::min<uint64_t>(2 * (max / (16u << 10)), 1u << 20))) {}
  ~Impl() {
    for (ArcList<Entry>* l : {&t1, &t2, &b1, &b2})
      while (!l->empty()) drop(l->tail());
  }

  zio::Pipeline& zio;
  std::mutex mu;
  std::condition_variable cv;
  uint64_t c;      // max_bytes
  uint64_t p = 0;  // target bytes of T1
  ArcList<Entry> t1, t2, b1, b2;
  // Every entry (resident or ghost) is on exactly one of the four lists and in the index; the
  // index points at it, and drop() is the only place that frees it.
  FlatIndex<Key, Entry, KeyHash> index;
  std::unordered_map<Key, std::shared_ptr<Inflight>, KeyHash> inflight;
  uint64_t hits = 0, misses = 0, evictions = 0;

  ArcList<Entry>& list(Where w) {
    switch (w) {
      case Where::kT1:
        return t1;
      case Where::kT2:
        return t2;
      case Where::kB1:
        return b1;
      default:
        return b2;
    }
  }
  static bool resident(const Entry& e) { return e.where == Where::kT1 || e.where == Where::kT2; }
  // A lookup found resident e: a second hit promotes it to T2, later ones mark it referenced.
  void hit(Entry* e) {
    if (e->where == Where::kT1) {
      move(e, Where::kT2);
    } else {
      e->referenced = true;
    }
    ++hits;
  }

  void move(Entry* e, Where to) {
    list(e->where).remove(e);
    e->where = to;
    list(to).push_front(e);
  }
  void drop(Entry* e) {
    list(e->where).remove(e);
    index.erase(e->key);
    delete e;
  }

  // Evicts from T1 or T2 into the ghost lists until `incoming` more bytes fit under c.
  void replace(uint64_t incoming, bool b2_hit) {
    while (t1.bytes() + t2.bytes() + incoming > c && !(t1.empty() && t2.empty())) {
      bool from_t1 = !t1.empty() && (t1.bytes() > p || (b2_hit && t1.bytes() == p) || t2.empty());
      Entry* victim = from_t1 ? t1.tail() : t2.tail();
      if (victim->referenced) {  // T2's second chance: back to its head, unreferenced
        victim->referenced = false;
        move(victim, Where::kT2);
        continue;
      }
      victim->buf.reset();
      move(victim, from_t1 ? Where::kB1 : Where::kB2);
      ++evictions;
    }
  }
  void trim_ghosts() {
    while (t1.bytes() + b1.bytes() > c && !b1.empty()) drop(b1.tail());
    auto total = [&] { return t1.bytes() + t2.bytes() + b1.bytes() + b2.bytes(); };
    while (total() > 2 * c && !b2.empty()) drop(b2.tail());
    while (total() > 2 * c && !b1.empty()) drop(b1.tail());
  }

  // A ghost was asked for again: steer p toward the list that would have kept it.
  void adapt(const Entry& ghost) {
    if (ghost.where == Where::kB1) {
      p = std::min(c, p + adapt_delta(ghost.size, b1.bytes(), b2.bytes()));
    } else {
      uint64_t d = adapt_delta(ghost.size, b2.bytes(), b1.bytes());
      p = d > p ? 0 : p - d;
    }
  }

  // Caches `buf` under `k` (a fresh block goes to T1, a remembered one to T2).
  void admit(const Key& k, BufRef buf) {
    uint64_t size = charge(*buf);
    Entry* e = index.find(k);
    if (e && resident(*e)) return;  // same key, same contents: already cached
    if (size == 0 || size > c) {
      if (e) drop(e);
      return;
    }
    const bool was_ghost = e != nullptr;
    bool was_b2 = false;
    if (e) {
      was_b2 = e->where == Where::kB2;
      list(e->where).remove(e);
    }
    replace(size, was_b2);
    if (!e) {
      e = new Entry;
      e->key = k;
      index.insert(k, e);
    }
    e->buf = std::move(buf);
    e->size = size;
    e->where = was_ghost ? Where::kT2 : Where::kT1;
    e->referenced = false;
    list(e->where).push_front(e);
    trim_ghosts();
  }
};

Arc::Arc(zio::Pipeline& zio, uint64_t max_bytes) : impl_(std::make_unique<Impl>(zio, max_bytes)) {}
Arc::~Arc() = default;

Result<BufRef> Arc::read(const zio::BlockPtr& bp) {
  Impl& m = *impl_;
  const Key k = key_of(bp);
  std::unique_lock<std::mutex> g(m.mu);
  Entry* found = m.index.find(k);
  if (found != nullptr && Impl::resident(*found)) {
    m.hit(found);
    return found->buf;
  }
  if (auto f = m.inflight.find(k); f != m.inflight.end()) {
    std::shared_ptr<Inflight> fl = f->second;
    ++m.hits;
    m.cv.wait(g, [&] { return fl->done; });
    if (!fl->ok) return fl->err;
    return fl->buf;
  }
  // Refuse an impossible size before allocating a buffer for it (zio would refuse it anyway).
  if (bp.lsize > kBlockBytesMax) return make_error(EIO, "arc: block pointer larger than any block");
  ++m.misses;
  if (found != nullptr) m.adapt(*found);  // a ghost
  auto fl = std::make_shared<Inflight>();
  m.inflight.emplace(k, fl);
  g.unlock();

  AlignedBuf data(bp.lsize);
  Status st = (bp.lsize != 0 && data.data() == nullptr)
                  ? Status(make_error(ENOMEM, "arc: no memory for a block"))
                  : m.zio.read_block(bp, data.data());
  BufRef buf = st.ok() ? std::make_shared<const AlignedBuf>(std::move(data)) : nullptr;

  g.lock();
  m.inflight.erase(k);
  fl->done = true;
  fl->ok = st.ok();
  if (st.ok()) {
    fl->buf = buf;
    if (!fl->cancelled) m.admit(k, buf);
  } else {
    fl->err = st.error();
  }
  g.unlock();
  m.cv.notify_all();
  if (!st.ok()) return st.error();
  return buf;
}

Status Arc::copy_out(const zio::BlockPtr& bp, size_t off, void* out, size_t n) {
  auto copy = [&](const AlignedBuf* b) -> Status {
    if (b == nullptr || off > b->size() || n > b->size() - off)
      return make_error(EIO, "arc: piece beyond the block");
    std::memcpy(out, b->data() + off, n);
    return ok_status();
  };
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> g(m.mu);
    Entry* e = m.index.find(key_of(bp));
    if (e != nullptr && Impl::resident(*e)) {
      m.hit(e);
      return copy(e->buf.get());
    }
  }
  ZVFS_ASSIGN_OR_RETURN(buf, read(bp));
  return copy(buf.get());
}

void Arc::insert(const zio::BlockPtr& bp, BufRef data) {
  if (!data) return;
  std::lock_guard<std::mutex> g(impl_->mu);
  impl_->admit(key_of(bp), std::move(data));
}

void Arc::evict(const zio::BlockPtr& bp) {
  evict(std::span<const zio::BlockPtr>(&bp, 1));
}

void Arc::evict(std::span<const zio::BlockPtr> bps) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.mu);
  for (const zio::BlockPtr& bp : bps) {
    const Key k = key_of(bp);
    if (!m.inflight.empty()) {
      if (auto f = m.inflight.find(k); f != m.inflight.end()) f->second->cancelled = true;
    }
    if (Entry* e = m.index.find(k)) m.drop(e);
  }
}

void Arc::set_max_bytes(uint64_t max_bytes) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.mu);
  m.c = max_bytes;
  m.p = std::min(m.p, m.c);
  m.replace(0, false);
  m.trim_ghosts();
}

ArcStats Arc::stats() const {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.mu);
  ArcStats s;
  s.hits = m.hits;
  s.misses = m.misses;
  s.evictions = m.evictions;
  s.mru_bytes = m.t1.bytes();
  s.mfu_bytes = m.t2.bytes();
  s.bytes = s.mru_bytes + s.mfu_bytes;
  s.max_bytes = m.c;
  s.entries = m.t1.count() + m.t2.count();
  s.target_mru_bytes = m.p;
  return s;
}

}  // namespace zvfs::arc
