// space_map_test.cc — the space map round trip: random allocation histories synced txg by txg
// and loaded back into fresh allocators, compared with an independent model; condensing;
// frees of later txgs held back; the chain describing itself; corrupt chains refused.
#include "engine/alloc/space_map.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>

#include "common/aligned_buf.h"
#include "engine/alloc/alloc_test_util.h"
#include "engine/alloc/space_map_block.h"
#include "engine/vdev/fault_vdev.h"
#include "engine/vdev/vdev.h"

namespace zvfs::alloc {
namespace {

constexpr uint64_t K = kUnit;
constexpr uint64_t kDev = 256ull << 20;
constexpr uint64_t kStart = 1ull << 20;

// The allocator's state as an independent model sees it: live ranges and deferred frees.
struct Model {
  std::map<uint64_t, uint64_t> live;                           // off -> len
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> deferred;  // off -> (len, txg)
};

using testing::merged;
using testing::same;

class SpaceMapTest : public ::testing::Test {
 protected:
  SpaceMapTest() : dev_(vdev::make_memory_vdev(kDev)), zio_(*dev_) {}
  std::unique_ptr<Allocator> fresh() { return std::make_unique<Allocator>(kStart, kDev, 64 * K); }
  std::unique_ptr<vdev::Vdev> dev_;
  zio::Pipeline zio_;
};

TEST(SpaceMapBlock, EncodeDecodeRoundTripAndRefusals) {
  std::vector<SpaceRecord> recs = {{SpaceRecord::Kind::kAlloc, 0x10000, 0x3000, 0},
                                   {SpaceRecord::Kind::kFree, 0x11000, 0x1000, 6},
                                   {SpaceRecord::Kind::kFree, 0x20000, 0x1000, 0}};
  SmBlockHeader h;
  h.nrecords = 3;
  h.txg = 7;
  h.seq = 4;
  h.prev.birth_txg = 5;
  uint32_t bytes = sm_block_bytes(3);
  EXPECT_EQ(bytes, 4096u);
  EXPECT_EQ(sm_block_capacity(4096), (4096u - 128) / 24);
  EXPECT_EQ(sm_block_capacity(1u << 30), kSmRecordsPerBlockMax);
  AlignedBuf buf(bytes);
  sm_encode_block(h, recs.data(), buf.data());
  SmBlockHeader got;
  std::vector<SpaceRecord> out;
  ASSERT_TRUE(sm_decode_block(buf.data(), bytes, &got, &out).ok());
  EXPECT_EQ(got.seq, 4u);
  EXPECT_EQ(got.prev.birth_txg, 5u);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].kind, SpaceRecord::Kind::kFree);
  EXPECT_EQ(out[1].off, 0x11000u);
  EXPECT_EQ(out[1].txg, 6u);
  EXPECT_EQ(out[2].len, 0x1000u);

  auto refuses = [&](auto mutate) {
    AlignedBuf b(bytes);
    std::memcpy(b.data(), buf.data(), bytes);
    mutate(b.data());
    SmBlockHeader hh;
    std::vector<SpaceRecord> rr;
    return sm_decode_block(b.data(), bytes, &hh, &rr).code() == EIO;
  };
  EXPECT_TRUE(refuses([](std::byte* p) { p[0] ^= std::byte{1}; }));             // magic
  EXPECT_TRUE(refuses([](std::byte* p) { p[8] = std::byte{2}; }));              // version
  EXPECT_TRUE(refuses([](std::byte* p) { p[12] = std::byte{200}; }));           // count
  EXPECT_TRUE(refuses([](std::byte* p) { p[100] = std::byte{1}; }));            // reserved
  EXPECT_TRUE(refuses([](std::byte* p) { p[128] = std::byte{3}; }));            // kind
  EXPECT_TRUE(refuses([](std::byte* p) { p[128 + 16] = std::byte{1}; }));       // alloc txg
  EXPECT_TRUE(refuses([](std::byte* p) { p[128 + 24 + 16] = std::byte{9}; }));  // free > txg
  EXPECT_TRUE(refuses([](std::byte* p) { std::memset(p + 128 + 8, 0, 8); }));   // len 0
  EXPECT_TRUE(refuses([](std::byte* p) { p[128 + 9] |= std::byte{1}; }));       // len unaligned
  EXPECT_TRUE(refuses([](std::byte* p) { p[4000] = std::byte{1}; }));           // padding
  SmBlockHeader hh;
  std::vector<SpaceRecord> rr;
  EXPECT_EQ(sm_decode_block(buf.data(), 100, &hh, &rr).code(), EIO);
}

TEST_F(SpaceMapTest, EmptyMapRoundTrip) {
  auto a = fresh();
  auto root = SpaceMap::sync(zio_, SpaceMapRoot{}, *a, 1);
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->head.is_hole()) << "no changes, no block";
  auto b = fresh();
  ASSERT_TRUE(SpaceMap::load(zio_, *root, *b, 1).ok());
  EXPECT_EQ(b->stats().allocated_bytes, 0u);
  SpaceMapRoot bad;
  bad.records = 3;
  EXPECT_EQ(SpaceMap::load(zio_, bad, *b, 1).code(), EIO);
}

TEST_F(SpaceMapTest, ChainDescribesItselfAndHoldsBackLaterFrees) {
  auto a = fresh();
  uint64_t x = *a->alloc(8 * K), y = *a->alloc(4 * K);
  auto r1 = SpaceMap::sync(zio_, SpaceMapRoot{}, *a, 1);
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->blocks, 1u);
  EXPECT_EQ(r1->records, 2u) << "two contiguous allocations (one record) and the map block";
  a->txg_synced(1);
  // txg 2 syncs while txg 3 is open and frees y.
  a->free_deferred(x, 8 * K, 2);
  a->free_deferred(y, 4 * K, 3);
  auto r2 = SpaceMap::sync(zio_, *r1, *a, 2);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->blocks, 2u);
  auto b = fresh();
  ASSERT_TRUE(SpaceMap::load(zio_, *r2, *b, 2).ok());
  EXPECT_TRUE(b->is_allocated(y, 4 * K)) << "a free of txg 3 must not be in txg 2's map";
  EXPECT_EQ(b->stats().deferred_bytes, 8 * K);
  std::vector<zio::BlockPtr> chain;
  ASSERT_TRUE(SpaceMap::blocks(zio_, *r2, &chain).ok());
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0], r2->head);
  for (auto& bp : chain) EXPECT_TRUE(b->is_allocated(bp.offset, bp.asize));
  EXPECT_EQ(b->stats().allocated_bytes, r2->allocated_bytes);
  // The held-back free is recorded by the next sync.
  auto r3 = SpaceMap::sync(zio_, *r2, *a, 3);
  ASSERT_TRUE(r3.ok());
  auto c = fresh();
  ASSERT_TRUE(SpaceMap::load(zio_, *r3, *c, 3).ok());
  EXPECT_FALSE(c->is_allocated(y, 4 * K));
  EXPECT_FALSE(c->is_free(y, 4 * K)) << "still deferred at txg 3";
  EXPECT_FALSE(c->is_free(x, 8 * K)) << "freed in txg 2, reusable only once txg 4 is synced";
  c->txg_synced(4);
  EXPECT_TRUE(c->is_free(x, 8 * K));
}

// Random histories: after every sync, loading the new root gives exactly the model's state;
// older roots stay loadable until their blocks may be reused; the log is condensed.
TEST_F(SpaceMapTest, RandomHistoriesRoundTrip) {
  for (uint64_t seed : {11, 12}) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    auto a = fresh();
    Model m;
    SpaceMapRoot root;
    std::map<uint64_t, SpaceMapRoot> roots;  // txg -> root
    bool condensed = false;
    uint64_t max_blocks = 0;
    for (uint64_t txg = 1; txg <= 400; ++txg) {
      int ops = 1 + rng() % 40;
      for (int i = 0; i < ops; ++i) {
        int op = rng() % 10;
        if (op < 5 || m.live.size() < 4) {
          uint64_t len = K * (1 + rng() % 16);
          auto r = a->alloc(len);
          if (r.ok()) m.live[*r] = len;
        } else {
          auto it = m.live.begin();
          std::advance(it, rng() % m.live.size());
          if (op == 5) {
            a->free_now(it->first, it->second);
          } else {
            // Most frees belong to the txg being built; some to the next one (open context).
            uint64_t ftxg = txg + (op == 9 ? 1 : 0);
            a->free_deferred(it->first, it->second, ftxg);
            m.deferred[it->first] = {it->second, ftxg};
          }
          m.live.erase(it);
        }
      }
      auto r = SpaceMap::sync(zio_, root, *a, txg);
      ASSERT_TRUE(r.ok()) << r.error().msg;
      const bool just_condensed = r->blocks < root.blocks;
      condensed |= just_condensed;
      root = *r;
      roots[txg] = root;
      max_blocks = std::max(max_blocks, root.blocks);
      ASSERT_TRUE(zio_.flush().ok());
      a->txg_synced(txg);
      // Model: frees of txg <= txg - 2 are reusable now.
      for (auto it = m.deferred.begin(); it != m.deferred.end();) {
        if (it->second.second + kDeferTxgs <= txg)
          it = m.deferred.erase(it);
        else
          ++it;
      }
      // Every txg early on and around each condense, then every fifth (keeps the test fast).
      if (txg > 60 && txg % 5 != 0 && !just_condensed) continue;
      // Load at this txg: the model's state plus the map's own blocks.
      auto b = fresh();
      ASSERT_TRUE(SpaceMap::load(zio_, root, *b, txg).ok()) << "txg " << txg;
      std::vector<zio::BlockPtr> chain;
      ASSERT_TRUE(SpaceMap::blocks(zio_, root, &chain).ok());
      std::map<uint64_t, uint64_t> expect = m.live;
      for (auto& bp : chain) expect[bp.offset] = bp.asize;
      // Frees of the open txg (txg + 1) are not in this map: those ranges load as live.
      for (auto& [off, lt] : m.deferred)
        if (lt.second > txg) expect[off] = lt.first;
      // The condense frees the old chain's blocks deferred; those may still be deferred.
      std::vector<Range> got = b->allocated_ranges();
      std::vector<SpaceRecord> bdef = b->deferred();
      std::map<uint64_t, uint64_t> bdefm;
      for (auto& d : bdef) bdefm[d.off] = d.len;
      ASSERT_TRUE(same(got, merged(expect))) << "txg " << txg;
      for (auto& [off, lt] : m.deferred) {
        if (lt.second > txg) continue;
        // Records of adjacent frees of one txg are merged: some deferred range covers it.
        auto d = bdefm.upper_bound(off);
        ASSERT_TRUE(d != bdefm.begin()) << "deferred free lost at txg " << txg;
        --d;
        ASSERT_GE(d->first + d->second, off + lt.first) << "deferred free lost at txg " << txg;
      }
      ASSERT_EQ(b->stats().allocated_bytes, root.allocated_bytes);
      // The previous txg's root is still intact (its blocks are deferred, not reused).
      if (roots.count(txg - 1)) {
        auto c = fresh();
        ASSERT_TRUE(SpaceMap::load(zio_, roots[txg - 1], *c, txg - 1).ok()) << "txg " << txg;
      }
    }
    EXPECT_TRUE(condensed) << "the log should have been condensed at least once";
    EXPECT_LT(root.records, 4 * (a->allocated_ranges().size() + 2 * a->deferred().size()) + 2000);
    (void)max_blocks;
  }
}

TEST_F(SpaceMapTest, BigTxgSpansSeveralBlocks) {
  auto a = fresh();
  std::vector<uint64_t> offs;
  for (int i = 0; i < 12000; ++i) offs.push_back(*a->alloc(K));
  for (int i = 0; i < 12000; i += 2) a->free_now(offs[i], K);
  auto r = SpaceMap::sync(zio_, SpaceMapRoot{}, *a, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_GE(r->blocks, 2u);
  // One record for the 12000 contiguous allocations, 6000 for the scattered frees, and the
  // map's blocks (contiguous ones share a record).
  EXPECT_GE(r->records, 6002u);
  EXPECT_LE(r->records, 6001u + r->blocks);
  auto b = fresh();
  ASSERT_TRUE(SpaceMap::load(zio_, *r, *b, 1).ok());
  EXPECT_TRUE(same(b->allocated_ranges(), a->allocated_ranges()));
  // 6000 kept blocks; the map's own blocks continue the last one (cursor), so no new range.
  EXPECT_EQ(b->allocated_ranges().size(), 6000u);
}

// One txg that frees more records than many map blocks hold (a large blob deleted: here
// 200,000 scattered 4 KiB frees, about 37 blocks' worth) syncs and loads back. It used to fail
// after 16 rounds of one block each, and a failed commit stops the pool.
TEST(SpaceMapBig, HugeTxgOfFreesFits) {
  constexpr uint64_t kBig = 2ull << 30;  // memory vdev pages are mapped lazily
  auto dev = vdev::make_memory_vdev(kBig);
  zio::Pipeline zio(*dev);
  Allocator a(kStart, kBig, 64 * K);
  std::vector<uint64_t> offs;
  for (int i = 0; i < 400000; ++i) {
    auto o = a.alloc(K);
    ASSERT_TRUE(o.ok());
    offs.push_back(*o);
  }
  auto r1 = SpaceMap::sync(zio, SpaceMapRoot{}, a, 1);
  ASSERT_TRUE(r1.ok()) << r1.error().msg;
  for (int i = 0; i < 400000; i += 2) a.free_deferred(offs[i], K, 2);
  auto r2 = SpaceMap::sync(zio, *r1, a, 2);
  ASSERT_TRUE(r2.ok()) << r2.error().msg;
  EXPECT_GE(r2->blocks - r1->blocks, 200000u / kSmRecordsPerBlockMax + 1);
  Allocator b(kStart, kBig, 64 * K);
  ASSERT_TRUE(SpaceMap::load(zio, *r2, b, 2).ok());
  EXPECT_TRUE(same(b.allocated_ranges(), a.allocated_ranges()));
}

// A sync whose writes fail changes nothing: the allocator is as before (records back in the
// pending list, the map's new blocks freed), and a retry writes a correct map. Both for an
// append and for a condense.
TEST(SpaceMapFailures, FailedSyncIsRetryable) {
  vdev::FaultVdev dev(kDev, 1);
  zio::Pipeline zio(dev);
  Allocator a(kStart, kDev, 64 * K);
  std::map<uint64_t, uint64_t> live;
  SpaceMapRoot root;
  uint64_t txg = 1;
  auto churn = [&](int n) {
    for (int i = 0; i < n; ++i) {
      uint64_t off = *a.alloc(K * (1 + i % 3));
      if (i % 4 == 0)
        live[off] = K * (1 + i % 3);
      else
        a.free_now(off, K * (1 + i % 3));
    }
  };
  auto try_failing_sync = [&] {
    auto before = a.allocated_ranges();
    dev.fail_writes_in_range(0, kDev);
    auto r = SpaceMap::sync(zio, root, a, txg);
    dev.clear_range_failures();
    EXPECT_EQ(r.code(), EIO);
    EXPECT_TRUE(same(a.allocated_ranges(), before)) << "a failed sync leaves no trace";
    auto ok = SpaceMap::sync(zio, root, a, txg);
    ASSERT_TRUE(ok.ok());
    root = *ok;
    ASSERT_TRUE(zio.flush().ok());
    a.txg_synced(txg);
    Allocator b(kStart, kDev, 64 * K);
    ASSERT_TRUE(SpaceMap::load(zio, root, b, txg).ok());
    std::vector<zio::BlockPtr> chain;
    ASSERT_TRUE(SpaceMap::blocks(zio, root, &chain).ok());
    std::map<uint64_t, uint64_t> expect = live;
    for (auto& bp : chain) expect[bp.offset] = bp.asize;
    EXPECT_TRUE(same(b.allocated_ranges(), merged(expect)));
    ++txg;
  };
  churn(50);
  try_failing_sync();                                     // append
  for (int i = 0; i < 100 && root.records < 1024; ++i) {  // long log, not yet condensed
    churn(60);
    auto r = SpaceMap::sync(zio, root, a, txg);
    ASSERT_TRUE(r.ok());
    root = *r;
    a.txg_synced(txg++);
  }
  ASSERT_GE(root.records, 1024u);
  uint64_t blocks_before = root.blocks;
  churn(10);
  try_failing_sync();  // condense
  EXPECT_LT(root.blocks, blocks_before) << "the retry condensed the log";
}

TEST_F(SpaceMapTest, CorruptChainIsRefused) {
  auto a = fresh();
  SpaceMapRoot root;
  for (uint64_t txg = 1; txg <= 3; ++txg) {
    ASSERT_TRUE(a->alloc(K).ok());
    root = *SpaceMap::sync(zio_, root, *a, txg);
  }
  std::vector<zio::BlockPtr> chain;
  ASSERT_TRUE(SpaceMap::blocks(zio_, root, &chain).ok());
  ASSERT_EQ(chain.size(), 3u);
  // Wrong counts in the root.
  SpaceMapRoot r = root;
  r.blocks = 2;
  EXPECT_EQ(SpaceMap::load(zio_, r, *fresh(), 3).code(), EIO);
  r = root;
  r.blocks = 4;
  EXPECT_EQ(SpaceMap::load(zio_, r, *fresh(), 3).code(), EIO);
  r = root;
  r.records += 1;
  EXPECT_EQ(SpaceMap::load(zio_, r, *fresh(), 3).code(), EIO);
  r = root;
  r.allocated_bytes += K;
  EXPECT_EQ(SpaceMap::load(zio_, r, *fresh(), 3).code(), EIO);
  // A flipped bit in the middle block.
  AlignedBuf sec(4096);
  vdev::IoReq io{vdev::IoReq::Op::kRead, sec.data(), 4096, chain[1].offset};
  ASSERT_EQ(dev_->submit({&io, 1}), 0);
  sec.data()[200] ^= std::byte{4};
  io.op = vdev::IoReq::Op::kWrite;
  ASSERT_EQ(dev_->submit({&io, 1}), 0);
  EXPECT_EQ(SpaceMap::load(zio_, root, *fresh(), 3).code(), EIO);
  EXPECT_EQ(SpaceMap::blocks(zio_, root, &chain).code(), EIO);
  EXPECT_GE(zio_.stats().checksum_errors, 2u);
}

}  // namespace
}  // namespace zvfs::alloc
