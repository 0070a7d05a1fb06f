// fault_test.cc — damaged and failing devices: bit rot found by reads and scrub, damaged
// labels and uberblocks, injected EIO on data, log writes and flushes, and a full pool.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "engine/blob/test_util.h"
#include "engine/spa/label.h"
#include "engine/spa/uberblock.h"
#include "engine/vdev/fault_vdev.h"
#include "engine/zio/zio.h"
#include "zvfs/blob.h"

namespace zvfs::engine {
namespace {

constexpr uint64_t kBlock = 4096;

// Block contents that say where they belong, so a test can find them on the medium.
void fill_block(uint8_t* p, BlobId id, uint64_t blk) {
  std::snprintf(reinterpret_cast<char*>(p), 64, "ZVFS-TEST-BLOCK %llu %llu ",
                static_cast<unsigned long long>(id), static_cast<unsigned long long>(blk));
  for (uint64_t i = 64; i < kBlock; i++) p[i] = static_cast<uint8_t>(id * 31 + blk * 7 + i);
}

class FaultTest : public ::testing::Test {
 protected:
  std::shared_ptr<vdev::FaultVdev> dev = std::make_shared<vdev::FaultVdev>(32ull << 20, 99);
  PoolConfig cfg = testing::test_config();
  std::unique_ptr<Pool> pool;

  void SetUp() override {
    cfg.log_bytes = 1 << 20;
    auto p = Pool::create(testing::share(dev), cfg);
    ASSERT_TRUE(p.ok());
    pool = std::move(*p);
  }
  void reimport(bool clean) {
    if (clean) {
      ASSERT_TRUE(pool->export_pool().ok());
    } else {
      testing::abandon(*pool);
    }
    pool.reset();
    dev = dev->reboot(7);
    auto p = Pool::import(testing::share(dev), cfg);
    ASSERT_TRUE(p.ok()) << p.error().msg;
    pool = std::move(*p);
  }
  // The power fails with the pool open; the device restarts.
  void power_cut(uint64_t seed) {
    testing::abandon(*pool);
    pool.reset();
    dev = dev->reboot(seed);
  }
  // Blobs of `blocks` tagged blocks each.
  std::vector<BlobId> make_blobs(int n, uint64_t blocks) {
    std::vector<BlobId> ids;
    std::vector<uint8_t> buf(kBlock);
    for (int i = 0; i < n; i++) {
      BlobId id = *pool->create_blob();
      auto b = *pool->open_blob(id);
      for (uint64_t k = 0; k < blocks; k++) {
        fill_block(buf.data(), id, k);
        EXPECT_TRUE(b->write(k * kBlock, buf.data(), kBlock).ok());
      }
      ids.push_back(id);
    }
    return ids;
  }
  // Where each tagged block lives on the medium: (blob, blk) -> offset.
  std::map<std::pair<BlobId, uint64_t>, uint64_t> locate() {
    std::map<std::pair<BlobId, uint64_t>, uint64_t> where;
    std::vector<uint8_t> buf(kBlock);
    for (uint64_t off = 0; off + kBlock <= dev->size(); off += kBlock) {
      dev->peek(off, buf.data(), 64);
      unsigned long long id, blk;
      if (std::sscanf(reinterpret_cast<char*>(buf.data()), "ZVFS-TEST-BLOCK %llu %llu", &id,
                      &blk) == 2) {
        where[{id, blk}] = off;
      }
    }
    return where;
  }
};

TEST_F(FaultTest, BitRotIsFoundByReadsAndScrub) {
  auto ids = make_blobs(6, 20);
  ASSERT_TRUE(pool->sync_all().ok());
  reimport(true);  // a cold cache: reads go to the medium
  auto where = locate();
  ASSERT_EQ(where.size(), 6u * 20u);
  std::mt19937_64 rng(5);
  std::set<std::pair<BlobId, uint64_t>> bad;
  std::vector<std::pair<BlobId, uint64_t>> all;
  for (auto& kv : where) all.push_back(kv.first);
  while (bad.size() < 9) {
    auto pick = all[rng() % all.size()];
    if (bad.insert(pick).second) {
      dev->flip_bits(where[pick] + 100 + rng() % 3000, static_cast<uint8_t>(1u << (rng() % 8)));
    }
  }
  std::vector<uint8_t> got(kBlock), want(kBlock);
  for (BlobId id : ids) {
    auto b = *pool->open_blob(id);
    for (uint64_t k = 0; k < 20; k++) {
      auto r = b->read(k * kBlock, got.data(), kBlock);
      if (bad.count({id, k})) {
        EXPECT_EQ(r.code(), EIO) << id << "/" << k;  // never returned as data
      } else {
        ASSERT_TRUE(r.ok()) << id << "/" << k;
        fill_block(want.data(), id, k);
        EXPECT_EQ(got, want);
      }
    }
  }
  EXPECT_GE(pool->stats().checksum_errors, bad.size());
  uint64_t calls = 0;
  auto rep = pool->scrub([&](const ScrubProgress& p) {
    calls++;
    EXPECT_LE(p.bytes_done, p.bytes_total);
  });
  ASSERT_TRUE(rep.ok());
  EXPECT_GT(calls, 0u);
  EXPECT_EQ(rep->errors, bad.size());
  std::set<std::pair<BlobId, uint64_t>> found;
  for (const auto& d : rep->damaged) {
    EXPECT_EQ(d.what, "data block");
    found.insert({d.blob, d.offset / kBlock});
    const std::pair<BlobId, uint64_t> key{d.blob, d.offset / kBlock};
    EXPECT_EQ(d.disk_offset, where[key]);
  }
  EXPECT_EQ(found, bad);
  auto chk = pool->check();
  ASSERT_TRUE(chk.ok());
  EXPECT_FALSE(chk->consistent);
}

TEST_F(FaultTest, DamagedLabelAndNewestUberblock) {
  auto ids = make_blobs(2, 3);
  ASSERT_TRUE(pool->sync_all().ok());
  auto late = make_blobs(1, 2);  // only in the newest txgs
  reimport(true);
  // The first label is destroyed: the copy at the end is used.
  for (int i = 0; i < 16; i++) dev->flip_bits(64 + i, 0xff);
  reimport(true);
  auto b = pool->open_blob(late[0]);
  ASSERT_TRUE(b.ok());
  b = Result<std::shared_ptr<Blob>>(make_error(ENOENT, ""));
  // The newest uberblock (written by the export) is torn: the one before it is used.
  const uint64_t newest = pool->stats().synced_txg + 2;  // export: sync_all + a clean commit
  ASSERT_TRUE(pool->export_pool().ok());
  pool.reset();
  dev = dev->reboot(9);
  dev->flip_bits(4096 + (newest % 128) * 4096 + 20, 0x10);
  {
    auto p = Pool::import(testing::share(dev), cfg);
    ASSERT_TRUE(p.ok());
    pool = std::move(*p);
  }
  EXPECT_EQ(pool->stats().synced_txg, newest);  // newest-1 imported, plus import's commit
  EXPECT_TRUE(pool->open_blob(late[0]).ok());
  // Both labels destroyed: refused, not a pool.
  ASSERT_TRUE(pool->export_pool().ok());
  pool.reset();
  std::shared_ptr<vdev::FaultVdev> dev2 = dev->reboot(3);
  const uint64_t last = (dev2->size() / 4096 - 1) * 4096;
  for (int i = 0; i < 16; i++) dev2->flip_bits(last + i, 0xff);
  EXPECT_FALSE(Pool::import(testing::share(dev2), cfg).ok());
  for (int i = 0; i < 16; i++) dev2->flip_bits(last + i, 0xff);  // repair label 1
  auto p = Pool::import(testing::share(dev2), cfg);
  ASSERT_TRUE(p.ok());
  for (BlobId id : ids) EXPECT_TRUE((*p)->open_blob(id).ok());
}

TEST_F(FaultTest, FailedCommitFailsThePoolAndItStillImports) {
  auto ids = make_blobs(2, 4);
  ASSERT_TRUE(pool->sync_all().ok());
  auto b = *pool->open_blob(ids[0]);
  std::vector<uint8_t> junk(3 * kBlock, 0x77);
  ASSERT_TRUE(b->write(0, junk.data(), junk.size()).ok());
  // Every write to the data region fails from now on.
  auto lbl = spa::compute_layout(dev->size(), cfg.block_size, cfg.log_bytes);
  ASSERT_TRUE(lbl.ok());
  dev->fail_writes_in_range(lbl->data_off, lbl->data_len);
  EXPECT_EQ(pool->sync_all().code(), EIO);
  EXPECT_EQ(b->sync().code(), EIO);  // never success after a lost commit
  EXPECT_EQ(b->write(0, "x", 1).code(), EIO);
  EXPECT_EQ(pool->create_blob().code(), EIO);
  std::vector<uint8_t> got(3 * kBlock);
  EXPECT_TRUE(b->read(0, got.data(), got.size()).ok());  // reads still work
  EXPECT_EQ(got, junk);
  b.reset();
  dev->clear_range_failures();
  reimport(false);
  std::vector<uint8_t> want(kBlock);
  auto b2 = *pool->open_blob(ids[0]);
  ASSERT_TRUE(b2->read(0, got.data(), kBlock).ok());
  fill_block(want.data(), ids[0], 0);
  EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.begin() + kBlock), want);
  auto chk = pool->check();
  ASSERT_TRUE(chk.ok());
  EXPECT_TRUE(chk->consistent);
}

// The valid uberblocks of the ring, newest first.
std::vector<spa::Uberblock> ring_of(vdev::FaultVdev& d) {
  zio::Pipeline z(d);
  auto label = spa::read_label(z);
  if (!label.ok()) return {};
  auto ubs = spa::read_uberblocks(z, label->layout, label->pool_guid);
  return ubs.ok() ? *ubs : std::vector<spa::Uberblock>{};
}

// Import falls back to an older uberblock when the newest one's space map does not load (here:
// a read error). The txgs it then commits reuse the newer uberblock's txg numbers and may
// reallocate its blocks, so a crash after those blocks are written but before the newer
// uberblock's slot is overwritten must not leave that uberblock importable.
TEST_F(FaultTest, FallbackImportInvalidatesNewerUberblocks) {
  auto ids = make_blobs(2, 4);
  ASSERT_TRUE(pool->sync_all().ok());
  std::vector<uint8_t> first(4 * kBlock), second(4 * kBlock, 0x5a);
  {
    auto b = *pool->open_blob(ids[0]);
    ASSERT_TRUE(b->read(0, first.data(), first.size()).ok());
    ASSERT_TRUE(b->write(0, second.data(), second.size()).ok());
  }
  ASSERT_TRUE(pool->sync_all().ok());
  power_cut(11);
  const std::vector<spa::Uberblock> ring = ring_of(*dev);
  ASSERT_GE(ring.size(), 2u);
  const spa::Uberblock newest = ring[0];
  const uint64_t older = ring[1].txg;
  ASSERT_FALSE(newest.space_map.head.is_hole());
  const uint64_t sm_off = newest.space_map.head.offset, sm_len = newest.space_map.head.asize;

  // A dry run on a copy counts the writes of the fallback import: its last one is the
  // uberblock of its commit.
  std::vector<std::byte> image = dev->surviving_image();
  dev = dev->reboot(12);  // taking the image cut the power
  uint64_t ub_write = 0;
  {
    std::shared_ptr<vdev::FaultVdev> dry =
        vdev::FaultVdev::from_image(image.data(), image.size(), 5);
    dry->fail_reads_in_range(sm_off, sm_len);
    auto p = Pool::import(testing::share(dry), cfg);
    ASSERT_TRUE(p.ok()) << p.error().msg;
    EXPECT_EQ((*p)->stats().synced_txg, older + 1);  // fell back, then committed
    ub_write = dry->write_count();
    testing::abandon(**p);
  }
  // The same import, with the power cut while that uberblock is in flight (it is lost; the
  // blocks of the commit were flushed before it).
  dev->fail_reads_in_range(sm_off, sm_len);
  dev->set_cut_fate(vdev::CutFate::kDropAll);
  dev->arm_power_cut_at_write(ub_write);
  EXPECT_FALSE(Pool::import(testing::share(dev), cfg).ok());
  ASSERT_TRUE(dev->power_is_cut());
  dev = dev->reboot(13);  // the read error is gone too

  // Nothing newer than the imported txg is left in the ring...
  const std::vector<spa::Uberblock> after = ring_of(*dev);
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after[0].txg, older);
  // ...so the next import takes it, and it is whole.
  auto p = Pool::import(testing::share(dev), cfg);
  ASSERT_TRUE(p.ok()) << p.error().msg;
  pool = std::move(*p);
  auto chk = pool->check();
  ASSERT_TRUE(chk.ok());
  EXPECT_TRUE(chk->consistent) << (chk->problems.empty() ? "" : chk->problems[0]);
  auto b = pool->open_blob(ids[0]);
  ASSERT_TRUE(b.ok());
  std::vector<uint8_t> got(4 * kBlock);
  ASSERT_TRUE((*b)->read(0, got.data(), got.size()).ok());
  EXPECT_EQ(got, first);
  EXPECT_TRUE(pool->open_blob(ids[1]).ok());
}

// After a fallback import, the log blocks written in the abandoned history (after the
// uberblock that did not load) are still in the ring, right where the new lifetime's log
// starts. Replay matches blocks by pool guid, generation and sequence number, so no later
// lifetime may reuse the abandoned one's generation: otherwise an import replays those stale
// records over newer committed state.
class AbandonedLogTest : public FaultTest {
 protected:
  BlobId id = 0;
  const std::vector<uint8_t> v1 = std::vector<uint8_t>(kBlock, 0x11),
                             v2 = std::vector<uint8_t>(kBlock, 0x22),
                             v3 = std::vector<uint8_t>(kBlock, 0x33),
                             v4 = std::vector<uint8_t>(kBlock, 0x44);
  spa::Uberblock replayed;  // the uberblock whose space map will not load

  // Imports (the fallback to T, replaying v2), then commits v4 and checks it stays.
  void import_expecting_v2_then_commit_v4() {
    auto p = Pool::import(testing::share(dev), cfg);
    ASSERT_TRUE(p.ok()) << p.error().msg;
    pool = std::move(*p);
    ASSERT_TRUE(contents() == v2);
    commit_v4_and_check();
  }

  void put(const std::vector<uint8_t>& v, bool log) {
    auto b = *pool->open_blob(id);
    ASSERT_TRUE(b->write(0, v.data(), v.size()).ok());
    ASSERT_TRUE(log ? b->sync().ok() : pool->sync_all().ok());
  }
  std::vector<uint8_t> contents() {
    auto b = *pool->open_blob(id);
    std::vector<uint8_t> got(kBlock);
    EXPECT_TRUE(b->read(0, got.data(), got.size()).ok());
    return got;
  }
  // Txg T holds v1, the log (generation g) v2. An import replays v2 and commits it (T+1,
  // generation g+1), one more commit follows (T+2), then v3 is logged in generation g+1 for a
  // later txg, and the power fails.
  void abandoned_history() {
    id = *pool->create_blob();
    put(v1, false);
    put(v2, true);
    reimport(false);
    replayed = ring_of(*dev)[0];
    ASSERT_TRUE(pool->sync_all().ok());
    put(v3, true);
    power_cut(21);
    const std::vector<spa::Uberblock> ring = ring_of(*dev);
    ASSERT_GE(ring.size(), 3u);
    ASSERT_EQ(ring[1].txg, replayed.txg);
    ASSERT_FALSE(replayed.space_map.head.is_hole());
    // The space map of T+1 (and so of T+2, whose chain includes it) will not load.
    dev->fail_reads_in_range(replayed.space_map.head.offset, replayed.space_map.head.asize);
  }
  // v4 is committed; the next import must not bring v3 back.
  void commit_v4_and_check() {
    put(v4, false);
    reimport(false);
    const std::vector<uint8_t> got = contents();
    EXPECT_TRUE(got == v4) << "a log record of the abandoned history was replayed (got 0x"
                           << std::hex << int(got[0]) << ")";
    auto chk = pool->check();
    ASSERT_TRUE(chk.ok());
    EXPECT_TRUE(chk->consistent) << (chk->problems.empty() ? "" : chk->problems[0]);
  }
};

// The fallback import (to T, replaying v2) commits, then v4 is committed.
TEST_F(AbandonedLogTest, FallbackImportNeverReplaysThem) {
  ASSERT_NO_FATAL_FAILURE(abandoned_history());
  ASSERT_NO_FATAL_FAILURE(import_expecting_v2_then_commit_v4());
}

// The fallback import abandons the newer uberblocks and the power fails before its commit: the
// next import sees only T, and nothing on the medium names generation g+1 any more.
TEST_F(AbandonedLogTest, NorAnImportAfterAFallbackCutBeforeItsCommit) {
  ASSERT_NO_FATAL_FAILURE(abandoned_history());
  // Writes 1 and 2 rewrite the slots of T+1 and T+2 as abandoned (then a flush); write 3 is the
  // commit's.
  dev->arm_power_cut_at_write(3);
  EXPECT_FALSE(Pool::import(testing::share(dev), cfg).ok());
  ASSERT_TRUE(dev->power_is_cut());
  dev = dev->reboot(22);
  ASSERT_EQ(ring_of(*dev)[0].txg, replayed.txg - 1);
  ASSERT_NO_FATAL_FAILURE(import_expecting_v2_then_commit_v4());
}

// Import falls back at most two txgs from the newest txg history reached, and uberblocks it
// abandoned still count: the commit after them may have been in flight and reused the blocks
// of uberblocks more than two txgs older. Here a fallback import (two txgs back) is cut before
// its commit; the next import cannot load the uberblock taken then either, and must refuse
// rather than fall back further.
TEST_F(FaultTest, FallbackNeverGoesMoreThanTwoTxgsBelowAbandonedUberblocks) {
  const BlobId id = *pool->create_blob();
  std::vector<uint8_t> buf(kBlock);
  for (int i = 0; i < 5; i++) {  // five commits, each with a space-map block of its own
    auto b = *pool->open_blob(id);
    std::memset(buf.data(), 0x30 + i, buf.size());
    ASSERT_TRUE(b->write(i * kBlock, buf.data(), buf.size()).ok());
    ASSERT_TRUE(pool->sync_all().ok());
  }
  power_cut(31);
  const std::vector<spa::Uberblock> ring = ring_of(*dev);
  ASSERT_GE(ring.size(), 5u);
  for (size_t i = 0; i + 1 < 5; i++) {
    ASSERT_EQ(ring[i].txg, ring[i + 1].txg + 1);
    ASSERT_NE(ring[i].space_map.head.offset, ring[i + 1].space_map.head.offset);
  }
  auto fail_map = [&](const spa::Uberblock& u) {
    dev->fail_reads_in_range(u.space_map.head.offset, u.space_map.head.asize);
  };
  // The maps of F and F-1 do not load: import takes F-2, marks F-1 and F abandoned (writes 1
  // and 2, then a flush) and is cut at the first write of its commit.
  fail_map(ring[1]);
  dev->arm_power_cut_at_write(3);
  EXPECT_FALSE(Pool::import(testing::share(dev), cfg).ok());
  ASSERT_TRUE(dev->power_is_cut());
  dev = dev->reboot(32);
  ASSERT_EQ(ring_of(*dev)[0].txg, ring[2].txg);
  // F-2's map does not load now: F-3 and F-4 are more than two txgs below F.
  fail_map(ring[2]);
  auto refused = Pool::import(testing::share(dev), cfg);
  EXPECT_FALSE(refused.ok()) << "imported txg " << (*refused)->stats().synced_txg - 1;
  // Without the read error, F-2 imports.
  dev = dev->reboot(33);
  auto p = Pool::import(testing::share(dev), cfg);
  ASSERT_TRUE(p.ok()) << p.error().msg;
  pool = std::move(*p);
  EXPECT_EQ(pool->stats().synced_txg, ring[2].txg + 1);
  auto chk = pool->check();
  ASSERT_TRUE(chk.ok());
  EXPECT_TRUE(chk->consistent) << (chk->problems.empty() ? "" : chk->problems[0]);
}

TEST_F(FaultTest, FailedLogWriteOrFlushFailsThatSyncOnly) {
  BlobId id = *pool->create_blob();
  ASSERT_TRUE(pool->sync_all().ok());
  auto b = *pool->open_blob(id);
  ASSERT_TRUE(b->write(0, "first", 5).ok());
  dev->fail_next_flush();
  EXPECT_EQ(b->sync().code(), EIO);
  dev->fail_write_number(dev->write_count() + 1);
  EXPECT_EQ(b->sync().code(), EIO);
  ASSERT_TRUE(b->write(5, "-second", 7).ok());
  ASSERT_TRUE(b->sync().ok());  // the failed records are logged again
  b.reset();
  reimport(false);
  auto b2 = *pool->open_blob(id);
  char buf[12];
  ASSERT_EQ(*b2->read(0, buf, 12), 12u);
  EXPECT_EQ(std::string(buf, 12), "first-second");
}

TEST_F(FaultTest, FullPoolRefusesWritesButDeletesAndCommitsWork) {
  std::vector<uint8_t> chunk(256 * 1024, 0x5a);
  std::vector<BlobId> ids;
  int enospc = 0;
  for (int i = 0; i < 400 && enospc == 0; i++) {
    BlobId id = *pool->create_blob();
    ids.push_back(id);
    auto b = *pool->open_blob(id);
    auto w = b->write(0, chunk.data(), chunk.size());
    if (!w.ok()) {
      ASSERT_EQ(w.code(), ENOSPC);
      enospc++;
    }
  }
  ASSERT_EQ(enospc, 1) << "the pool never filled up";
  ASSERT_TRUE(pool->sync_all().ok());  // what was accepted commits
  for (size_t i = 0; i < ids.size(); i += 2) ASSERT_TRUE(pool->delete_blob(ids[i]).ok());
  ASSERT_TRUE(pool->sync_all().ok());
  ASSERT_TRUE(pool->sync_all().ok());
  ASSERT_TRUE(pool->sync_all().ok());
  auto b = *pool->open_blob(*pool->create_blob());
  EXPECT_TRUE(b->write(0, chunk.data(), chunk.size()).ok());
  auto chk = pool->check();
  ASSERT_TRUE(chk.ok());
  EXPECT_TRUE(chk->consistent) << (chk->problems.empty() ? "" : chk->problems[0]);
}

// allocate() (fallocate): ENOSPC for more than the pool holds, nothing changed; what fits
// extends the size (unless keep_size); only the part past the size counts.
TEST_F(FaultTest, AllocateRefusesMoreThanThePoolHolds) {
  auto b = *pool->open_blob(*pool->create_blob());
  EXPECT_EQ(b->allocate(0, 1ull << 30, false).code(), ENOSPC);
  EXPECT_EQ(b->allocate(0, 1ull << 30, true).code(), ENOSPC);
  EXPECT_EQ(b->size(), 0u);
  ASSERT_TRUE(b->allocate(0, 8 << 20, false).ok());
  EXPECT_EQ(b->size(), 8u << 20);
  ASSERT_TRUE(b->allocate(0, 16 << 20, true).ok());
  EXPECT_EQ(b->size(), 8u << 20);
  ASSERT_TRUE(b->allocate(4 << 20, 8 << 20, false).ok());
  EXPECT_EQ(b->size(), 12u << 20);
  EXPECT_EQ(b->allocate(UINT64_MAX - 10, 20, false).code(), EFBIG);
}

// Space freed by a delete or a truncate is reusable only once its txg and kDeferTxgs more have
// committed. A writer on a full pool must not get ENOSPC for space that the changes already
// made are about to free: admission commits those txgs and tries again (as a file system that
// frees at once would have let it write). Fills the pool with one blob, then frees it with no
// commit in between and writes to another blob at once.
class FullPoolTest : public FaultTest {
 protected:
  // One blob written until the pool refuses; returns its id.
  BlobId fill() {
    BlobId id = *pool->create_blob();
    auto b = *pool->open_blob(id);
    std::vector<uint8_t> chunk(1 << 20, 0x3c);
    for (uint64_t off = 0;; off += chunk.size()) {
      auto w = b->write(off, chunk.data(), chunk.size());
      if (!w.ok()) {
        EXPECT_EQ(w.code(), ENOSPC);
        EXPECT_GT(off, 0u);
        break;
      }
    }
    EXPECT_TRUE(pool->sync_all().ok());
    return id;
  }
  void expect_write_fits() {
    auto b = *pool->open_blob(*pool->create_blob());
    std::vector<uint8_t> chunk(4 << 20, 0xa5);
    auto w = b->write(0, chunk.data(), chunk.size());
    EXPECT_TRUE(w.ok()) << w.error().msg;
    ASSERT_TRUE(b->sync().ok());
    auto chk = pool->check();
    ASSERT_TRUE(chk.ok());
    EXPECT_TRUE(chk->consistent) << (chk->problems.empty() ? "" : chk->problems[0]);
  }
};

TEST_F(FullPoolTest, WriteRightAfterADeleteFits) {
  BlobId id = fill();
  ASSERT_TRUE(pool->delete_blob(id).ok());
  expect_write_fits();
}

TEST_F(FullPoolTest, WriteRightAfterATruncateFits) {
  BlobId id = fill();
  ASSERT_TRUE((*pool->open_blob(id))->truncate(0).ok());
  expect_write_fits();
}

TEST_F(FullPoolTest, WriteRightAfterAPunchFits) {
  BlobId id = fill();
  auto b = *pool->open_blob(id);
  ASSERT_TRUE(b->punch_hole(0, b->size()).ok());
  expect_write_fits();
}

// On a pool full of data, rewriting blocks that hold data keeps working (a commit frees what
// the rewrite takes, so half of the reserve is theirs), while new data still gets ENOSPC. A
// database rewrites its pages in place (checkpoints, crash recovery) and must not fail there:
// on ext4 such writes need no space at all.
TEST_F(FullPoolTest, RewritesOfWrittenBlocksWorkOnAFullPool) {
  const BlobId other_id = *pool->create_blob();  // (a create needs room too)
  BlobId id = fill();
  auto b = *pool->open_blob(id);
  std::vector<uint8_t> piece(64 << 10, 0x3c);
  // Full for pieces of the size rewritten below, too.
  while (b->write(b->size(), piece.data(), piece.size()).ok()) {
  }
  ASSERT_TRUE(pool->sync_all().ok());
  const uint64_t size = b->size();
  auto tag = [](int pass, uint64_t off) { return static_cast<uint8_t>(pass * 41 + (off >> 16)); };
  for (int pass = 1; pass <= 3; pass++) {
    for (uint64_t off = 0; off + piece.size() <= size; off += piece.size()) {
      std::fill(piece.begin(), piece.end(), tag(pass, off));
      auto w = b->write(off, piece.data(), piece.size());
      ASSERT_TRUE(w.ok()) << "pass " << pass << " at " << off << ": " << w.error().msg;
    }
  }
  // New data, in another blob or past the end of this one, is still refused.
  auto other = *pool->open_blob(other_id);
  std::vector<uint8_t> mib(1 << 20, 0x77);
  int accepted = 0;
  for (; accepted < 4; accepted++) {
    auto w = other->write(static_cast<uint64_t>(accepted) << 20, mib.data(), mib.size());
    if (!w.ok()) {
      EXPECT_EQ(w.code(), ENOSPC);
      break;
    }
  }
  EXPECT_LT(accepted, 4) << "new data kept being accepted on a full pool";
  EXPECT_EQ(b->write(size, mib.data(), mib.size()).code(), ENOSPC);
  ASSERT_TRUE(pool->sync_all().ok());
  reimport(/*clean=*/true);
  b = *pool->open_blob(id);
  for (uint64_t off = 0; off + piece.size() <= size; off += piece.size()) {
    auto r = b->read(off, piece.data(), piece.size());
    ASSERT_TRUE(r.ok()) << r.error().msg;
    ASSERT_EQ(*r, piece.size());
    ASSERT_TRUE(
        std::all_of(piece.begin(), piece.end(), [&](uint8_t v) { return v == tag(3, off); }))
        << "at " << off;
  }
  auto chk = pool->check();
  ASSERT_TRUE(chk.ok());
  EXPECT_TRUE(chk->consistent) << (chk->problems.empty() ? "" : chk->problems[0]);
}

// allocate() sets aside room for the holes of its range: writes there (in place, and appends
// into a KEEP_SIZE range) still succeed once others have filled the pool, and a fallocate on
// the full pool fails with ENOSPC and sets nothing aside.
TEST_F(FullPoolTest, FallocatedHolesStayWritableOnAFullPool) {
  auto a = *pool->open_blob(*pool->create_blob());
  auto b = *pool->open_blob(*pool->create_blob());
  ASSERT_TRUE(a->allocate(0, 4 << 20, false).ok());
  EXPECT_EQ(a->size(), 4u << 20);
  ASSERT_TRUE(b->allocate(0, 2 << 20, true).ok());
  EXPECT_EQ(b->size(), 0u);
  EXPECT_EQ(pool->stats().fallocated_bytes, 6u << 20);
  EXPECT_TRUE(a->allocate(1 << 20, 2 << 20, false).ok());  // set aside already: nothing more
  EXPECT_EQ(pool->stats().fallocated_bytes, 6u << 20);
  BlobId filler = fill();
  auto f = *pool->open_blob(filler);
  std::vector<uint8_t> mib(1 << 20, 0x5a);
  EXPECT_EQ(f->write(f->size(), mib.data(), mib.size()).code(), ENOSPC);
  auto c = *pool->open_blob(*pool->create_blob());
  EXPECT_EQ(c->allocate(0, 2 << 20, false).code(), ENOSPC);
  EXPECT_EQ(c->size(), 0u);
  EXPECT_EQ(pool->stats().fallocated_bytes, 6u << 20);
  for (uint64_t off = 0; off < (4 << 20); off += mib.size()) {
    auto w = a->write(off, mib.data(), mib.size());
    ASSERT_TRUE(w.ok()) << "write at " << off << ": " << w.error().msg;
  }
  for (int i = 0; i < 2; i++) {
    auto w = b->append(mib.data(), mib.size());
    ASSERT_TRUE(w.ok()) << "append " << i << ": " << w.error().msg;
  }
  EXPECT_EQ(pool->stats().fallocated_bytes, 0u);
  ASSERT_TRUE(pool->sync_all().ok());
  std::vector<uint8_t> got(mib.size());
  ASSERT_EQ(*a->read(3 << 20, got.data(), got.size()), got.size());
  EXPECT_EQ(got, mib);
  ASSERT_EQ(*b->read(1 << 20, got.data(), got.size()), got.size());
  EXPECT_EQ(got, mib);
  auto chk = pool->check();
  ASSERT_TRUE(chk.ok());
  EXPECT_TRUE(chk->consistent) << (chk->problems.empty() ? "" : chk->problems[0]);
}

// What allocate() set aside goes back when the handle goes, and when a shrinking truncate or a
// punch frees the blocks; blocks holding data need none; a second handle's writes do not take
// the first handle's set-aside.
TEST_F(FaultTest, FallocatedSpaceGoesBack) {
  std::vector<uint8_t> data(256 << 10, 0x11);
  BlobId id = *pool->create_blob();
  {
    auto a = *pool->open_blob(id);
    ASSERT_TRUE(a->write(0, data.data(), data.size()).ok());
    ASSERT_TRUE(a->allocate(0, 1 << 20, false).ok());  // the first 256 KiB hold data
    EXPECT_EQ(pool->stats().fallocated_bytes, 768u << 10);
    auto other = *pool->open_blob(id);
    ASSERT_TRUE(other->write(512 << 10, data.data(), data.size()).ok());
    EXPECT_EQ(pool->stats().fallocated_bytes, 768u << 10);
    ASSERT_TRUE(a->truncate(640 << 10).ok());  // frees [640 KiB, 1 MiB)
    EXPECT_EQ(pool->stats().fallocated_bytes, 384u << 10);
    ASSERT_TRUE(a->truncate(4 << 20).ok());  // growing gives nothing back
    EXPECT_EQ(pool->stats().fallocated_bytes, 384u << 10);
    ASSERT_TRUE(a->punch_hole(256 << 10, 128 << 10).ok());
    EXPECT_EQ(pool->stats().fallocated_bytes, 256u << 10);
    ASSERT_TRUE(a->allocate(8 << 20, 1 << 20, true).ok());
    EXPECT_EQ(pool->stats().fallocated_bytes, (256u << 10) + (1u << 20));
  }
  EXPECT_EQ(pool->stats().fallocated_bytes, 0u);  // the handle went
}

// A pool full of data still creates blobs and sets small xattrs (metadata, as the daemon's new
// file and its owner tag), as ext4 creates files on a full disk; their data gets ENOSPC.
TEST_F(FullPoolTest, CreatesWorkOnAFullPool) {
  BlobId id = fill();
  auto b = *pool->open_blob(id);
  std::vector<uint8_t> piece(64 << 10, 0x3c);
  while (b->write(b->size(), piece.data(), piece.size()).ok()) {
  }
  ASSERT_TRUE(pool->sync_all().ok());
  // (Until the metadata takes half of the reserve: 512 KiB here, about 130 blobs.)
  for (int i = 0; i < 50; i++) {
    auto c = pool->create_blob();
    ASSERT_TRUE(c.ok()) << "create " << i << ": " << c.error().msg;
    auto nb = *pool->open_blob(*c);
    ASSERT_TRUE(nb->set_xattr("owner", "tag", 3).ok()) << "xattr " << i;
    EXPECT_EQ(nb->write(0, piece.data(), piece.size()).code(), ENOSPC) << "write " << i;
  }
  ASSERT_TRUE(pool->sync_all().ok());
  auto chk = pool->check();
  ASSERT_TRUE(chk.ok());
  EXPECT_TRUE(chk->consistent) << (chk->problems.empty() ? "" : chk->problems[0]);
}

// Zeros a program writes take space, as on ext4: PostgreSQL extends a table, and fills each new
// WAL segment, with zeros, and counts on its later writes there not being the ones that find
// the disk full. They fill the pool, count as allocated, read back as zeros, and can then be
// rewritten with data on the full pool.
TEST_F(FullPoolTest, WrittenZerosTakeSpaceAndCanBeRewrittenWhenFull) {
  BlobId id = *pool->create_blob();
  auto b = *pool->open_blob(id);
  std::vector<uint8_t> zeros(1 << 20, 0);
  uint64_t size = 0;
  for (; size < dev->size(); size += zeros.size()) {  // bounded: the pool is smaller than dev
    auto w = b->write(size, zeros.data(), zeros.size());
    if (!w.ok()) {
      ASSERT_EQ(w.code(), ENOSPC) << w.error().msg;
      break;
    }
  }
  ASSERT_LT(size, dev->size()) << "zeros never filled the pool";
  ASSERT_GT(size, 0u);
  ASSERT_TRUE(pool->sync_all().ok());
  EXPECT_GE(b->stat()->allocated_bytes, size);
  EXPECT_EQ(*b->seek_data(0), 0u);
  std::vector<uint8_t> piece(64 << 10);
  ASSERT_EQ(*b->read(size / 2, piece.data(), piece.size()), piece.size());
  EXPECT_TRUE(std::all_of(piece.begin(), piece.end(), [](uint8_t v) { return v == 0; }));
  auto tag = [](uint64_t off) { return static_cast<uint8_t>(1 + (off >> 16) % 251); };
  for (uint64_t off = 0; off + piece.size() <= size; off += piece.size()) {
    std::fill(piece.begin(), piece.end(), tag(off));
    auto w = b->write(off, piece.data(), piece.size());
    ASSERT_TRUE(w.ok()) << "at " << off << ": " << w.error().msg;
  }
  ASSERT_TRUE(pool->sync_all().ok());
  for (uint64_t off = 0; off + piece.size() <= size; off += piece.size()) {
    ASSERT_EQ(*b->read(off, piece.data(), piece.size()), piece.size());
    ASSERT_TRUE(std::all_of(piece.begin(), piece.end(), [&](uint8_t v) { return v == tag(off); }))
        << "at " << off;
  }
  auto chk = pool->check();
  ASSERT_TRUE(chk.ok());
  EXPECT_TRUE(chk->consistent) << (chk->problems.empty() ? "" : chk->problems[0]);
}

}  // namespace
}  // namespace zvfs::engine

namespace zvfs::engine {
namespace {

// The file system holding a sparse pool file fills up (FaultVdev::limit_host_space): a write to
// space the file never had fails with ENOSPC however free the pool is. Commits then write into
// space the file has; writers get ENOSPC once that is used up (not EIO, and the pool does not
// fail); when the file system has room again, all of the pool is usable again.
class HostFullTest : public ::testing::Test {
 protected:
  std::shared_ptr<vdev::FaultVdev> dev = std::make_shared<vdev::FaultVdev>(256ull << 20, 5);
  PoolConfig cfg = testing::test_config();
  std::unique_ptr<Pool> pool;
  std::vector<uint8_t> chunk = std::vector<uint8_t>(1 << 20);

  void SetUp() override {
    cfg.log_bytes = 1 << 20;
    auto p = Pool::create(testing::share(dev), cfg);
    ASSERT_TRUE(p.ok());
    pool = std::move(*p);
  }
  static uint8_t tag(uint8_t seed, uint64_t mib) { return static_cast<uint8_t>(seed + mib * 7); }
  // Writes MiB [from, to) of b, each filled with its tag; returns where ENOSPC stopped it.
  uint64_t fill(Blob& b, uint64_t from, uint64_t to, uint8_t seed) {
    for (uint64_t i = from; i < to; i++) {
      std::fill(chunk.begin(), chunk.end(), tag(seed, i));
      auto w = b.write(i << 20, chunk.data(), chunk.size());
      if (!w.ok()) {
        EXPECT_EQ(w.code(), ENOSPC) << w.error().msg;
        return i;
      }
    }
    return to;
  }
  void expect_filled(Blob& b, uint64_t mib, uint8_t seed) {
    for (uint64_t i = 0; i < mib; i++) {
      ASSERT_EQ(*b.read(i << 20, chunk.data(), chunk.size()), chunk.size());
      ASSERT_TRUE(
          std::all_of(chunk.begin(), chunk.end(), [&](uint8_t v) { return v == tag(seed, i); }))
          << "MiB " << i;
    }
  }
};

TEST_F(HostFullTest, CommitsGoToWrittenSpaceAndWritersGetEnospc) {
  // 96 MiB written and committed, then deleted: space the pool file has.
  BlobId old = *pool->create_blob();
  ASSERT_EQ(fill(**pool->open_blob(old), 0, 96, 1), 96u);
  ASSERT_TRUE(pool->sync_all().ok());
  ASSERT_TRUE(pool->delete_blob(old).ok());
  for (int i = 0; i < 3; i++) ASSERT_TRUE(pool->sync_all().ok());
  const uint64_t free_before = pool->stats().free_bytes;
  dev->limit_host_space(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the pool reads it every 50 ms
  EXPECT_LT(pool->stats().free_bytes, free_before) << "free space counts only the written space";
  EXPECT_GE(pool->stats().free_bytes, 64u << 20);

  BlobId a = *pool->create_blob();
  auto ba = *pool->open_blob(a);
  ASSERT_EQ(fill(*ba, 0, 32, 10), 32u);
  ASSERT_TRUE(pool->sync_all().ok()) << "the commit must go to space the pool file has";
  BlobId c = *pool->create_blob();
  auto bc = *pool->open_blob(c);
  const uint64_t got = fill(*bc, 0, 200, 50);
  EXPECT_LT(got, 96u) << "writes beyond the written space must get ENOSPC";
  EXPECT_GT(got, 16u);
  ASSERT_TRUE(pool->sync_all().ok());
  expect_filled(*ba, 32, 10);
  expect_filled(*bc, got, 50);

  dev->unlimited_host_space();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(fill(*bc, got, got + 64, 50), got + 64) << "room again: fresh space is usable";
  ASSERT_TRUE(pool->sync_all().ok());
  auto chk = pool->check();
  ASSERT_TRUE(chk.ok());
  EXPECT_TRUE(chk->consistent) << (chk->problems.empty() ? "" : chk->problems[0]);
  ba.reset();
  bc.reset();
  ASSERT_TRUE(pool->export_pool().ok());
  pool.reset();
  dev = dev->reboot(3);
  auto p = Pool::import(testing::share(dev), cfg);
  ASSERT_TRUE(p.ok()) << p.error().msg;
  pool = std::move(*p);
  expect_filled(**pool->open_blob(a), 32, 10);
  expect_filled(**pool->open_blob(c), got + 64, 50);
}

}  // namespace
}  // namespace zvfs::engine
