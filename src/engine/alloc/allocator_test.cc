// allocator_test.cc — the allocator's promises: no double allocation, deferral of frees until
// their txg is safe, the reserve, contiguity, pending records that replay to the same state.
#include "engine/alloc/allocator.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <thread>

#include "engine/alloc/alloc_test_util.h"

namespace zvfs::alloc {
namespace {

constexpr uint64_t K = kUnit;

// Replays `recs` into a fresh allocator over the same region, as an import does.
std::unique_ptr<Allocator> replay(uint64_t start, uint64_t end, uint64_t reserve,
                                  const std::vector<SpaceRecord>& recs, uint64_t synced) {
  auto a = std::make_unique<Allocator>(start, end, reserve);
  for (const auto& r : recs) a->load_record(r, synced);
  return a;
}

using testing::merged;
using testing::same;

TEST(Allocator, SequentialAllocationsAreContiguous) {
  Allocator a(1 << 20, 65 << 20, 0);
  auto first = a.alloc(16 * K);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 1u << 20);
  uint64_t next = *first + 16 * K;
  for (int i = 0; i < 100; ++i) {
    auto o = a.alloc(K * (1 + i % 8));
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(*o, next);
    next += K * (1 + i % 8);
  }
  auto s = a.stats();
  EXPECT_EQ(s.region_bytes, 64u << 20);
  EXPECT_EQ(s.allocated_bytes + s.free_bytes, s.region_bytes);
  ASSERT_EQ(a.allocated_ranges().size(), 1u);
  EXPECT_EQ(a.allocated_ranges()[0].len, next - (1 << 20));
}

TEST(Allocator, RejectsBadLengthsAndOversizedRequests) {
  Allocator a(0, 64 << 20, 0);
  EXPECT_EQ(a.alloc(0).code(), EINVAL);
  EXPECT_EQ(a.alloc(100).code(), EINVAL);
  EXPECT_EQ(a.alloc(32ull << 20).code(), EINVAL);
  EXPECT_TRUE(a.alloc(16ull << 20).ok());
}

TEST(Allocator, FreeNowIsReusableAtOnceDeferredOnlyAfterTwoTxgs) {
  Allocator a(0, 64 * K, 0);
  std::vector<uint64_t> offs;
  for (int i = 0; i < 64; ++i) offs.push_back(*a.alloc(K));
  EXPECT_EQ(a.alloc(K).code(), ENOSPC);
  a.free_now(offs[3], K);
  EXPECT_TRUE(a.is_free(offs[3], K));
  EXPECT_EQ(*a.alloc(K), offs[3]);
  a.free_deferred(offs[5], K, 10);
  EXPECT_FALSE(a.is_free(offs[5], K));
  EXPECT_FALSE(a.is_allocated(offs[5], K));
  EXPECT_EQ(a.stats().deferred_bytes, K);
  EXPECT_EQ(a.alloc(K).code(), ENOSPC);
  a.txg_synced(10);
  a.txg_synced(11);
  EXPECT_EQ(a.alloc(K).code(), ENOSPC) << "txg 10 + kDeferTxgs not yet synced";
  a.txg_synced(12);
  EXPECT_TRUE(a.is_free(offs[5], K));
  EXPECT_EQ(*a.alloc(K), offs[5]);
  EXPECT_EQ(a.stats().deferred_bytes, 0u);
}

TEST(Allocator, DoubleAndForeignFreesAreIgnored) {
  Allocator a(0, 64 * K, 0);
  uint64_t o = *a.alloc(2 * K);
  a.free_now(o, 2 * K);
  a.free_now(o, 2 * K);      // double free
  a.free_deferred(o, K, 4);  // free of a free range
  a.free_now(64 * K, K);     // outside
  a.free_now(o + 1, K);      // unaligned
  EXPECT_EQ(a.stats().free_bytes, 64 * K);
  EXPECT_EQ(a.take_pending().size(), 2u);  // the alloc and the one real free
}

TEST(Allocator, ReserveIsKeptForPrivilegedAllocations) {
  Allocator a(0, 100 * K, 10 * K);
  for (int i = 0; i < 90; ++i) ASSERT_TRUE(a.alloc(K).ok()) << i;
  EXPECT_EQ(a.alloc(K).code(), ENOSPC);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(a.alloc(K, true).ok()) << i;
  EXPECT_EQ(a.alloc(K, true).code(), ENOSPC);
  EXPECT_EQ(a.stats().reserve_bytes, 10 * K);
}

TEST(Allocator, FragmentationGivesEnospcForLargeButNotSmall) {
  Allocator a(0, 256 * K, 0);
  std::vector<uint64_t> offs;
  for (int i = 0; i < 256; ++i) offs.push_back(*a.alloc(K));
  for (int i = 0; i < 256; i += 2) a.free_now(offs[i], K);
  EXPECT_EQ(a.stats().free_bytes, 128 * K);
  EXPECT_EQ(a.alloc(2 * K).code(), ENOSPC);
  EXPECT_TRUE(a.alloc(K).ok());
}

// Slabs: when the cursor's slab only has small holes left, a larger request goes to the slab
// with the largest free extent, and following allocations continue contiguously from there.
TEST(Allocator, MovesToTheLeastFragmentedSlab) {
  constexpr uint64_t kSlab = 16ull << 20;  // the smallest slab size, for a 64 MiB region
  constexpr uint64_t kChunk = 64 << 10;
  Allocator a(0, 4 * kSlab, 0);
  std::vector<uint64_t> offs;
  for (uint64_t used = 0; used < 4 * kSlab; used += kChunk) {
    auto o = a.alloc(kChunk);
    ASSERT_TRUE(o.ok());
    offs.push_back(*o);
  }
  const size_t per_slab = kSlab / kChunk;
  for (size_t i = 0; i < per_slab; ++i) a.free_now(offs[i] + 8 * K, K);  // slab 0: 4 KiB holes
  for (size_t i = 0; i < 16; ++i) a.free_now(offs[per_slab + 10 + i], kChunk);     // slab 1: 1 MiB
  for (size_t i = 0; i < 64; ++i) a.free_now(offs[3 * per_slab + 5 + i], kChunk);  // slab 3: 4 MiB
  // The cursor wrapped to slab 0, which only has 4 KiB holes.
  auto big = a.alloc(2ull << 20);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(*big, offs[3 * per_slab + 5]) << "the slab with the largest free extent";
  uint64_t next = *big + (2ull << 20);
  for (int i = 0; i < 8; ++i) {  // 1 MiB of the 2 MiB left in the run
    auto o = a.alloc(kChunk * 2);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(*o, next) << "sequential after the move";
    next += kChunk * 2;
  }
  EXPECT_TRUE(a.is_free(offs[per_slab + 10], 16 * kChunk)) << "slab 1's run left alone";
  auto small = a.alloc(K);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(*small, next) << "small requests follow the cursor too";
}

// Written space first: once the cursor is at the high-water mark, freed space below it is
// reused before never-written space (a hole of the sparse pool file) when there is enough of
// it; with too little, allocation goes on into fresh space.
TEST(Allocator, ReusesWrittenSpaceBeforeFreshSpace) {
  constexpr uint64_t kSlab = 16ull << 20;
  constexpr uint64_t kChunk = 1 << 20;
  Allocator a(0, 32 * kSlab, 0);
  std::vector<uint64_t> offs;
  for (int i = 0; i < 128; ++i) {  // 128 MiB written: slabs 0-7
    auto o = a.alloc(kChunk);
    ASSERT_TRUE(o.ok());
    offs.push_back(*o);
  }
  const uint64_t hwm = offs.back() + kChunk;
  for (int i = 0; i < 32; ++i) a.free_now(offs[i], kChunk);  // 32 MiB free below the mark
  auto o = a.alloc(kChunk);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(*o, hwm) << "too little written space free: fresh space";
  for (int i = 32; i < 96; ++i) a.free_now(offs[i], kChunk);  // 96 MiB free below the mark
  auto b = a.alloc(kChunk);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, 0u) << "enough written space free: back to it";
  auto c = a.alloc(kChunk);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, kChunk) << "and sequential there";
}

// Written space first, when the first written slab has nothing free: the allocator goes to the
// next written slab with room for a run, and from one such slab to the next, before fresh space
// (it used to go back to the region's start, find nothing there, and stay in fresh space).
TEST(Allocator, SweepsWrittenSlabsWithFreeRunsBeforeFreshSpace) {
  constexpr uint64_t kSlab = 16ull << 20;
  constexpr uint64_t kChunk = 1 << 20;
  constexpr size_t kPerSlab = kSlab / kChunk;
  Allocator a(0, 32 * kSlab, 0);
  std::vector<uint64_t> offs;
  for (size_t i = 0; i < 8 * kPerSlab; ++i) {  // slabs 0-7 written
    auto o = a.alloc(kChunk);
    ASSERT_TRUE(o.ok());
    offs.push_back(*o);
  }
  const uint64_t hwm = offs.back() + kChunk;
  // 13 MiB free at the end of slabs 2-6 (65 MiB in all); slabs 0, 1 and 7 stay full, and a
  // fresh slab's 16 MiB extent is larger than any of these runs.
  for (size_t s = 2; s <= 6; ++s)
    for (size_t i = 3; i < kPerSlab; ++i) a.free_now(offs[s * kPerSlab + i], kChunk);
  uint64_t expect = offs[2 * kPerSlab + 3];
  for (size_t i = 0; i < 2 * 13; ++i) {
    auto o = a.alloc(kChunk);
    ASSERT_TRUE(o.ok());
    if (i == 13) expect = offs[3 * kPerSlab + 3];
    EXPECT_EQ(*o, expect) << "allocation " << i << ": the written slabs' runs, in order";
    EXPECT_LT(*o, hwm);
    expect = *o + kChunk;
  }
  // Slabs 4-6 keep 39 MiB free: below kOldSpaceMin once the cursor is back in fresh space, but
  // a cursor still below the mark uses them up first.
  for (size_t i = 0; i < 3 * 13; ++i) {
    auto o = a.alloc(kChunk);
    ASSERT_TRUE(o.ok());
    EXPECT_LT(*o, hwm) << "allocation " << i;
  }
  auto fresh = a.alloc(kChunk);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(*fresh, hwm) << "written space used up: fresh space";
}

// Ranges that cross a slab boundary are tracked in both slabs and freed whole.
// A space ceiling (the host file system of a sparse pool file is full): allocations only in
// whole slabs below the high-water mark, free space counted only there, lowered a slab at a time,
// ignored when stale, and lifted.
TEST(Allocator, SpaceCeilingKeepsAllocationsInWrittenSlabs) {
  constexpr uint64_t M = 1 << 20;
  const uint64_t start = M, slab = 16 * M;  // 128 MiB: eight slabs of 16 MiB
  Allocator a(start, start + 128 * M, 0);
  std::vector<uint64_t> offs;
  for (int i = 0; i < 40; ++i) offs.push_back(*a.alloc(M));  // slabs 0 and 1, half of slab 2
  for (int i = 0; i < 40; i += 2) a.free_now(offs[static_cast<size_t>(i)], M);  // 20 MiB free below
  EXPECT_EQ(a.space_ceiling(), 0u);
  EXPECT_FALSE(a.stats().written_only);
  a.lower_space_ceiling(0);
  const uint64_t ceiling = a.space_ceiling();
  EXPECT_EQ(ceiling, start + 2 * slab);  // the high-water mark's own slab is not whole
  AllocStats s = a.stats();
  EXPECT_TRUE(s.written_only);
  EXPECT_EQ(s.free_bytes, 16 * M);  // the holes in slabs 0 and 1
  for (int i = 0; i < 16; ++i) {
    auto o = a.alloc(M);
    ASSERT_TRUE(o.ok()) << i;
    EXPECT_LT(*o, ceiling);
  }
  auto full = a.alloc(M);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.code(), ENOSPC);
  a.lower_space_ceiling(0);  // stale: someone lowered it already
  EXPECT_EQ(a.space_ceiling(), ceiling);
  a.lower_space_ceiling(ceiling);
  EXPECT_EQ(a.space_ceiling(), start + slab);
  a.lower_space_ceiling(start + slab);
  EXPECT_NE(a.space_ceiling(), 0u);  // no whole slab left: nothing allocatable
  EXPECT_EQ(a.stats().free_bytes, 0u);
  EXPECT_FALSE(a.alloc(K).ok());
  a.lift_space_ceiling();
  EXPECT_FALSE(a.stats().written_only);
  EXPECT_EQ(a.stats().free_bytes, 128 * M - 36 * M);  // the holes in slab 2 and fresh space
  auto fresh = a.alloc(M);
  ASSERT_TRUE(fresh.ok());
  EXPECT_GE(*fresh, start + 2 * slab);
}

TEST(Allocator, RangesAcrossSlabBoundaries) {
  constexpr uint64_t kSlab = 16ull << 20;
  Allocator a(0, 2 * kSlab, 0);
  std::vector<uint64_t> offs;
  for (int i = 0; i < 300; ++i) offs.push_back(*a.alloc(16 * K));  // 64 KiB each, past 16 MiB
  // Free two neighbours straddling the boundary, then load them as one record.
  uint64_t first = kSlab - 16 * K;
  a.free_now(first, 32 * K);
  EXPECT_TRUE(a.is_free(first, 32 * K));
  auto pend = a.take_pending();
  Allocator b(0, 2 * kSlab, 0);
  for (auto& r : pend) b.load_record(r, 1);
  EXPECT_TRUE(same(a.allocated_ranges(), b.allocated_ranges()));
  b.load_record({SpaceRecord::Kind::kAlloc, first, 32 * K, 0}, 1);
  EXPECT_TRUE(b.is_allocated(first, 32 * K));
  b.free_deferred(first, 32 * K, 3);
  b.txg_synced(4);
  EXPECT_FALSE(b.is_free(first, 32 * K));
  b.txg_synced(5);
  EXPECT_TRUE(b.is_free(first, 32 * K));
}

TEST(Allocator, PendingRecordsReplayToTheSameState) {
  Allocator a(0, 1024 * K, 0);
  std::vector<SpaceRecord> log;
  uint64_t o1 = *a.alloc(8 * K), o2 = *a.alloc(4 * K), o3 = *a.alloc(K);
  a.free_now(o2, 4 * K);
  a.free_deferred(o1, 8 * K, 7);
  auto p = a.take_pending();
  ASSERT_EQ(p.size(), 3u) << "the three contiguous allocations are one record";
  EXPECT_EQ(p[0].off, o1);
  EXPECT_EQ(p[0].len, 13 * K);
  EXPECT_TRUE(a.take_pending().empty());
  // Writing failed: give them back; a later change queues behind them.
  a.return_pending(p);
  a.free_deferred(o3, K, 8);
  log = a.take_pending();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0].kind, SpaceRecord::Kind::kAlloc);
  EXPECT_EQ(log[2].txg, 7u);
  EXPECT_EQ(log[3].off, o3);
  // Imported at txg 8: the free of txg 7 is still deferred, and so is txg 8's.
  auto b = replay(0, 1024 * K, 0, log, 8);
  EXPECT_EQ(b->stats().deferred_bytes, 9 * K);
  EXPECT_FALSE(b->is_free(o1, 8 * K));
  b->txg_synced(9);
  EXPECT_TRUE(b->is_free(o1, 8 * K));
  EXPECT_FALSE(b->is_free(o3, K));
  // Imported at txg 10: everything free.
  auto c = replay(0, 1024 * K, 0, log, 10);
  EXPECT_EQ(c->stats().free_bytes, 1024 * K);
  auto d = b->deferred();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].txg, 8u);
}

TEST(Allocator, InconsistentRecordsAreRefused) {
  Allocator a(0, 64 * K, 0);
  a.load_record({SpaceRecord::Kind::kAlloc, 0, 8 * K, 0}, 5);
  a.load_record({SpaceRecord::Kind::kAlloc, 4 * K, 8 * K, 0}, 5);   // overlaps
  a.load_record({SpaceRecord::Kind::kFree, 16 * K, K, 3}, 5);       // not allocated
  a.load_record({SpaceRecord::Kind::kAlloc, 60 * K, 8 * K, 0}, 5);  // past the end
  EXPECT_EQ(a.stats().allocated_bytes, 8 * K);
}

// Random operations against a model: no byte is ever handed out twice, state and stats agree
// with the model, and the pending log replays to the same state at every txg.
TEST(Allocator, RandomAgainstModel) {
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    const uint64_t start = 3 * K, end = (40ull << 20) + 3 * K;  // three slabs, unaligned start
    Allocator a(start, end, 16 * K);
    std::map<uint64_t, uint64_t> live;                                        // off -> len
    std::map<uint64_t, std::vector<std::pair<uint64_t, uint64_t>>> deferred;  // txg -> ranges
    std::vector<SpaceRecord> log;
    uint64_t txg = 1;
    for (int step = 0; step < 4000; ++step) {
      int op = rng() % 10;
      if (op < 5) {
        uint64_t len = K * (1 + rng() % 64);
        auto r = a.alloc(len, rng() % 4 == 0);
        if (!r.ok()) continue;
        auto it = live.lower_bound(*r);
        ASSERT_TRUE(it == live.end() || it->first >= *r + len);
        if (it != live.begin()) {
          ASSERT_LE(std::prev(it)->first + std::prev(it)->second, *r);
        }
        for (auto& [t, v] : deferred) {
          for (auto& [o, l] : v) {
            ASSERT_TRUE(o + l <= *r || *r + len <= o) << "reused deferred";
          }
        }
        live[*r] = len;
      } else if (op < 8 && !live.empty()) {
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        if (op == 5)
          a.free_now(it->first, it->second);
        else {
          a.free_deferred(it->first, it->second, txg);
          deferred[txg].push_back(*it);
        }
        live.erase(it);
      } else {
        auto p = a.take_pending();
        log.insert(log.end(), p.begin(), p.end());
        a.txg_synced(txg);
        if (txg >= kDeferTxgs) deferred.erase(txg - kDeferTxgs);
        // Import at this txg gives the same allocator state.
        if (txg % 25 == 0) {
          auto b = replay(start, end, 16 * K, log, txg);
          ASSERT_TRUE(same(a.allocated_ranges(), b->allocated_ranges()));
          ASSERT_EQ(a.stats().deferred_bytes, b->stats().deferred_bytes);
          ASSERT_EQ(a.stats().free_bytes, b->stats().free_bytes);
        }
        ++txg;
      }
      if (step % 50 == 0) {
        std::vector<Range> want = merged(live);
        ASSERT_TRUE(same(a.allocated_ranges(), want));
        uint64_t dbytes = 0;
        for (auto& [t, v] : deferred)
          for (auto& [o, l] : v) dbytes += l;
        auto s = a.stats();
        ASSERT_EQ(s.deferred_bytes, dbytes);
        ASSERT_EQ(s.allocated_bytes + s.free_bytes + s.deferred_bytes, s.region_bytes);
        for (auto [o, l] : live) ASSERT_TRUE(a.is_allocated(o, l));
      }
    }
  }
}

TEST(Allocator, ConcurrentAllocAndFree) {
  Allocator a(0, 64ull << 20, 0);
  constexpr int kThreads = 4, kIters = 2000;
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> held(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kIters; ++i) {
        uint64_t len = K * (1 + rng() % 8);
        auto r = a.alloc(len);
        if (r.ok()) held[t].push_back({*r, len});
        if (held[t].size() > 50) {
          a.free_now(held[t].front().first, held[t].front().second);
          held[t].erase(held[t].begin());
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  std::set<uint64_t> starts;
  std::vector<std::pair<uint64_t, uint64_t>> all;
  for (auto& h : held) all.insert(all.end(), h.begin(), h.end());
  std::sort(all.begin(), all.end());
  for (size_t i = 1; i < all.size(); ++i)
    ASSERT_LE(all[i - 1].first + all[i - 1].second, all[i].first);
  uint64_t bytes = 0;
  for (auto& [o, l] : all) bytes += l;
  EXPECT_EQ(a.stats().allocated_bytes, bytes);
}

}  // namespace
}  // namespace zvfs::alloc
