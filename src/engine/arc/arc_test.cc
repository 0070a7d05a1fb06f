// arc_test.cc — the cache's promises: verified contents, the byte bound, buffers outliving
// eviction, one read for concurrent misses, scan resistance and adaptation of p.
#include "engine/arc/arc.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace zvfs::arc {
namespace {

constexpr uint32_t kBlock = 4096;

// A memory vdev whose reads take a little while, so concurrent misses overlap.
class SlowVdev : public vdev::Vdev {
 public:
  explicit SlowVdev(uint64_t size) : inner_(vdev::make_memory_vdev(size)) {}
  uint64_t size() const override { return inner_->size(); }
  int submit(std::span<vdev::IoReq> reqs) override {
    if (slow && reqs[0].op == vdev::IoReq::Op::kRead)
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    return inner_->submit(reqs);
  }
  int flush() override { return inner_->flush(); }
  vdev::VdevStats stats() const override { return inner_->stats(); }
  std::string describe() const override { return "slow"; }
  std::atomic<bool> slow{false};

 private:
  std::unique_ptr<vdev::Vdev> inner_;
};

class ArcTest : public ::testing::Test {
 protected:
  ArcTest() : dev_(64 << 20), zio_(dev_) {}
  // Writes block i (contents derived from i) and returns its pointer.
  zio::BlockPtr put(uint32_t i, uint32_t len = kBlock) {
    std::vector<unsigned char> d(len);
    for (uint32_t j = 0; j < len; ++j) d[j] = static_cast<unsigned char>(i * 7 + j);
    zio::BlockPtr bp;
    zio::WriteOp op{d.data(), len, zio::BlockType::kData, 0, 1, uint64_t(i) * 65536, 65536, &bp};
    EXPECT_TRUE(zio_.write({&op, 1}, 1).ok());
    return bp;
  }
  static bool holds(const BufRef& b, uint32_t i) {
    for (size_t j = 0; j < b->size(); ++j)
      if (b->data()[j] != std::byte(static_cast<unsigned char>(i * 7 + j))) return false;
    return true;
  }
  std::vector<zio::BlockPtr> put_many(uint32_t n) {
    std::vector<zio::BlockPtr> v;
    for (uint32_t i = 0; i < n; ++i) v.push_back(put(i));
    return v;
  }
  SlowVdev dev_;
  zio::Pipeline zio_;
};

TEST_F(ArcTest, MissThenHit) {
  Arc arc(zio_, 1 << 20);
  auto bp = put(3, 5000);
  auto a = arc.read(bp);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->size(), 5000u);
  EXPECT_TRUE(holds(*a, 3));
  auto b = arc.read(bp);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->get(), b->get()) << "a hit returns the cached buffer";
  ArcStats s = arc.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, 8192u);  // charged what the buffer occupies
  EXPECT_EQ(s.mfu_bytes, 8192u) << "second access promotes to T2";
  EXPECT_EQ(zio_.stats().blocks_read, 1u);
}

TEST_F(ArcTest, BoundedByMaxBytesAndBuffersOutliveEviction) {
  Arc arc(zio_, 16 * kBlock);
  auto bps = put_many(100);
  auto held = arc.read(bps[0]);
  ASSERT_TRUE(held.ok());
  for (int round = 0; round < 3; ++round) {
    for (auto& bp : bps) {
      ASSERT_TRUE(arc.read(bp).ok());
      ASSERT_LE(arc.stats().bytes, 16u * kBlock);
    }
  }
  ArcStats s = arc.stats();
  EXPECT_EQ(s.entries, 16u);
  EXPECT_GT(s.evictions, 200u);
  EXPECT_TRUE(holds(*held, 0)) << "an evicted buffer stays valid while held";
  arc.set_max_bytes(4 * kBlock);
  EXPECT_LE(arc.stats().bytes, 4u * kBlock);
  EXPECT_EQ(arc.stats().max_bytes, 4u * kBlock);
}

TEST_F(ArcTest, ConcurrentMissesReadOnce) {
  Arc arc(zio_, 1 << 20);
  auto bp = put(1);
  dev_.slow = true;
  constexpr int kThreads = 8;
  std::vector<std::thread> ts;
  std::vector<BufRef> got(kThreads);
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      auto r = arc.read(bp);
      if (r.ok()) got[t] = *r;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(zio_.stats().blocks_read, 1u);
  for (auto& g : got) {
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g.get(), got[0].get());
  }
  ArcStats s = arc.stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, kThreads - 1u);
}

TEST_F(ArcTest, CorruptBlocksAreNotCachedAndFailEveryWaiter) {
  Arc arc(zio_, 1 << 20);
  auto bp = put(2);
  zio::BlockPtr bad = bp;
  bad.checksum.hi ^= 1;
  dev_.slow = true;
  std::vector<std::thread> ts;
  std::atomic<int> eio{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      if (arc.read(bad).code() == EIO) ++eio;
    });
  for (auto& t : ts) t.join();
  dev_.slow = false;
  EXPECT_EQ(eio.load(), 4);
  EXPECT_EQ(arc.stats().entries, 0u);
  EXPECT_EQ(arc.read(bad).code(), EIO) << "errors are not cached either: retried, still bad";
  EXPECT_TRUE(arc.read(bp).ok());
  EXPECT_EQ(arc.read(zio::BlockPtr{}).code(), EINVAL);
  zio::BlockPtr huge = bp;
  huge.lsize = huge.psize = 0xF0000000u;
  huge.checksum.lo ^= 2;  // not the cached block
  EXPECT_EQ(arc.read(huge).code(), EIO) << "refused before allocating 4 GiB";
}

TEST_F(ArcTest, InsertAndEvict) {
  Arc arc(zio_, 1 << 20);
  auto bp = put(4);
  auto buf = std::make_shared<AlignedBuf>(kBlock);
  std::memset(buf->data(), 0x5A, kBlock);
  arc.insert(bp, buf);
  auto r = arc.read(bp);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->get(), buf.get()) << "inserted buffer served without I/O";
  EXPECT_EQ(zio_.stats().blocks_read, 0u);
  arc.evict(bp);
  EXPECT_EQ(arc.stats().entries, 0u);
  r = arc.read(bp);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(holds(*r, 4));
  EXPECT_EQ(zio_.stats().blocks_read, 1u);
  // A different birth txg at the same offset is a different block.
  zio::BlockPtr other = bp;
  other.birth_txg = 2;
  arc.insert(other, buf);
  EXPECT_EQ(arc.stats().entries, 2u);
}

// A working set used twice lives in T2; a long scan of blocks used once passes through T1
// without displacing it (an LRU would lose the whole working set).
TEST_F(ArcTest, ScanResistance) {
  Arc arc(zio_, 64 * kBlock);
  auto bps = put_many(300);
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < 32; ++i) ASSERT_TRUE(arc.read(bps[i]).ok());
  for (int i = 32; i < 300; ++i) ASSERT_TRUE(arc.read(bps[i]).ok());
  uint64_t before = arc.stats().hits;
  for (int i = 0; i < 32; ++i) ASSERT_TRUE(arc.read(bps[i]).ok());
  EXPECT_EQ(arc.stats().hits - before, 32u);
}

// Re-reading blocks just evicted from T1 (ghosts on B1) grows T1's target p; re-reading blocks
// evicted from T2 (ghosts on B2) shrinks it again. (While T2 is empty, T1 + B1 <= c keeps B1
// empty, as in the original algorithm, so a frequent set comes first.)
// Recency within T2: a block hit again since it entered T2 outlives the blocks that were not,
// even though it entered first (it gets a second chance at T2's tail).
TEST_F(ArcTest, FrequentBlockHitAgainOutlivesColderOnes) {
  Arc arc(zio_, 8 * kBlock);
  auto bps = put_many(12);
  for (int pass = 0; pass < 2; ++pass)  // blocks 0-7 on T2, block 0 the oldest
    for (int i = 0; i < 8; ++i) ASSERT_TRUE(arc.read(bps[i]).ok());
  ASSERT_EQ(arc.stats().mfu_bytes, 8u * kBlock);
  ASSERT_TRUE(arc.read(bps[0]).ok());                               // hit again
  for (int i = 8; i < 11; ++i) ASSERT_TRUE(arc.read(bps[i]).ok());  // three misses evict three
  uint64_t hits = arc.stats().hits;
  ASSERT_TRUE(arc.read(bps[0]).ok());
  EXPECT_EQ(arc.stats().hits, hits + 1) << "block 0 kept";
  for (int i = 4; i < 8; ++i) ASSERT_TRUE(arc.read(bps[i]).ok());
  EXPECT_EQ(arc.stats().hits, hits + 5) << "the younger T2 blocks kept";
  const uint64_t misses = arc.stats().misses;
  ASSERT_TRUE(arc.read(bps[1]).ok());
  EXPECT_EQ(arc.stats().misses, misses + 1) << "block 1, not hit again, evicted";
}

TEST_F(ArcTest, GhostHitsAdaptTarget) {
  Arc arc(zio_, 16 * kBlock);
  auto bps = put_many(100);
  EXPECT_EQ(arc.stats().target_mru_bytes, 0u);
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < 8; ++i) ASSERT_TRUE(arc.read(bps[i]).ok());  // T2 = 0..7
  EXPECT_EQ(arc.stats().mfu_bytes, 8u * kBlock);
  for (int i = 10; i < 26; ++i) ASSERT_TRUE(arc.read(bps[i]).ok());  // 10..17 go to B1
  EXPECT_EQ(arc.stats().mfu_bytes, 8u * kBlock) << "a scan does not displace T2 while p = 0";
  for (int i = 10; i < 14; ++i) ASSERT_TRUE(arc.read(bps[i]).ok());  // B1 ghost hits
  uint64_t p_up = arc.stats().target_mru_bytes;
  EXPECT_GE(p_up, 4u * kBlock);
  // With p > 0, T1 may keep p bytes, so new blocks now push T2's blocks out to B2.
  for (int i = 40; i < 80; ++i) ASSERT_TRUE(arc.read(bps[i]).ok());
  EXPECT_LT(arc.stats().mfu_bytes, 12u * kBlock);
  int b2_hits = 0;
  for (int i = 0; i < 14; ++i) {
    uint64_t before = arc.stats().misses;
    ASSERT_TRUE(arc.read(bps[i]).ok());
    b2_hits += arc.stats().misses > before;
    if (arc.stats().target_mru_bytes < p_up) break;
  }
  EXPECT_GT(b2_hits, 0);
  EXPECT_LT(arc.stats().target_mru_bytes, p_up);
  EXPECT_LE(arc.stats().bytes, 16u * kBlock);
}

TEST_F(ArcTest, ZeroSizedCacheStillReads) {
  Arc arc(zio_, 0);
  auto bp = put(9);
  for (int i = 0; i < 3; ++i) {
    auto r = arc.read(bp);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(holds(*r, 9));
  }
  EXPECT_EQ(arc.stats().entries, 0u);
  EXPECT_EQ(zio_.stats().blocks_read, 3u);
}

TEST_F(ArcTest, ManyThreadsMixedBlocks) {
  Arc arc(zio_, 32 * kBlock);
  auto bps = put_many(64);
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        uint32_t b = (i * 17 + t * 5) % (i % 3 ? 16 : 64);
        auto r = arc.read(bps[b]);
        if (!r.ok() || !holds(*r, b)) ++bad;
        if (i % 100 == 0) arc.evict(bps[b]);
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(arc.stats().bytes, 32u * kBlock);
}

}  // namespace
}  // namespace zvfs::arc
