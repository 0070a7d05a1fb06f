// blob_test.cc — the blob API end to end on memory and file vdevs: data, sizes, holes,
// xattrs, iteration, deletes, export/import, intent-log durability across a power cut.
#include "zvfs/blob.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "common/test_files.h"
#include "engine/blob/test_util.h"

namespace zvfs::engine {
namespace {

using testing::share;
using testing::test_config;

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; i++)
    v[i] = static_cast<uint8_t>((i * 131 + seed * 7 + (i >> 9)) & 0xff);
  return v;
}

std::vector<uint8_t> read_all(Blob& b) {
  std::vector<uint8_t> v(b.size());
  auto r = b.read(0, v.data(), v.size());
  EXPECT_TRUE(r.ok());
  if (r.ok()) {
    EXPECT_EQ(*r, v.size());
  }
  return v;
}

class BlobTest : public ::testing::Test {
 protected:
  std::shared_ptr<vdev::Vdev> dev = vdev::make_memory_vdev(128ull << 20);
  std::unique_ptr<Pool> pool;

  void SetUp() override {
    auto p = Pool::create(share(dev), test_config());
    ASSERT_TRUE(p.ok()) << p.error().msg;
    pool = std::move(*p);
  }
  void reimport(bool clean = true) {
    if (clean) {
      ASSERT_TRUE(pool->export_pool().ok());
    } else {
      testing::abandon(*pool);
    }
    pool.reset();
    auto p = Pool::import(share(dev), test_config());
    ASSERT_TRUE(p.ok()) << p.error().msg;
    pool = std::move(*p);
  }
  std::shared_ptr<Blob> open(BlobId id) {
    auto b = pool->open_blob(id);
    EXPECT_TRUE(b.ok());
    return b.ok() ? *b : nullptr;
  }
};

TEST_F(BlobTest, WriteReadAcrossCommitAndImport) {
  auto id = pool->create_blob();
  ASSERT_TRUE(id.ok());
  auto b = open(*id);
  auto data = pattern(100000, 1);
  ASSERT_EQ(*b->write(123, data.data(), data.size()), data.size());
  EXPECT_EQ(b->size(), 100123u);
  std::vector<uint8_t> got(100123);
  ASSERT_EQ(*b->read(0, got.data(), got.size()), got.size());
  EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.begin() + 123), std::vector<uint8_t>(123, 0));
  EXPECT_TRUE(std::equal(data.begin(), data.end(), got.begin() + 123));
  ASSERT_TRUE(pool->sync_all().ok());
  // Overwrite part after the commit (read-modify-write of committed blocks).
  auto more = pattern(5000, 2);
  ASSERT_TRUE(b->write(50000, more.data(), more.size()).ok());
  std::memcpy(got.data() + 50000, more.data(), more.size());
  EXPECT_EQ(read_all(*b), got);
  b.reset();
  reimport();
  b = open(*id);
  EXPECT_EQ(read_all(*b), got);
  // Short read at the end; nothing past it.
  uint8_t buf[100];
  EXPECT_EQ(*b->read(100100, buf, 100), 23u);
  EXPECT_EQ(*b->read(200000, buf, 100), 0u);
}

// The commit thread names itself, so a user who sees it busy in `top -H` knows what it is.
TEST_F(BlobTest, CommitThreadCarriesItsName) {
  // A commit is made by that thread, so it has passed its naming by then (it may not have run
  // at all yet right after the pool opened).
  ASSERT_TRUE(pool->sync_all().ok());
  auto names = zvfs::testing::thread_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "zvfs-txg"), names.end());
}

// A commit's data batches are written by a few threads kept for the pool's life, not by a new
// thread per batch: the threads of one commit, by id, are still there for the next (more may
// start, up to four, when more batches happen to be in flight at once).
TEST_F(BlobTest, CommitWritersAreKeptAcrossCommits) {
  auto id = pool->create_blob();
  ASSERT_TRUE(id.ok());
  auto b = open(*id);
  auto data = pattern(12u << 20, 5);  // three batches of 4 MiB
  std::set<long> before;
  for (int round = 0; round < 3; round++) {
    ASSERT_EQ(*b->write(0, data.data(), data.size()), data.size());
    ASSERT_TRUE(pool->sync_all().ok());
    std::set<long> now = zvfs::testing::threads_named("zvfs-txg-io");
    EXPECT_FALSE(now.empty()) << "round " << round;
    EXPECT_LE(now.size(), 4u) << "round " << round;
    EXPECT_TRUE(std::includes(now.begin(), now.end(), before.begin(), before.end()))
        << "round " << round;
    before = now;
  }
}

// A large read from an unaligned offset, all of it from the committed tree: each chunk of 256
// blocks' bytes spans 257 blocks (the read path's list of tree pieces must hold them all).
TEST_F(BlobTest, LargeUnalignedReadOfCommittedData) {
  auto id = pool->create_blob();
  ASSERT_TRUE(id.ok());
  auto b = open(*id);
  const size_t bs = test_config().block_size;
  auto data = pattern(600 * bs, 3);
  ASSERT_EQ(*b->write(0, data.data(), data.size()), data.size());
  ASSERT_TRUE(pool->sync_all().ok());
  for (size_t off : {size_t{1}, bs / 2, bs - 1, 7 * bs + 5}) {
    const size_t len = data.size() - off - 3;
    std::vector<uint8_t> got(len);
    ASSERT_EQ(*b->read(off, got.data(), len), len) << "offset " << off;
    EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin() + off)) << "offset " << off;
  }
}

TEST_F(BlobTest, TruncatePunchAndHoles) {
  auto b = open(*pool->create_blob());
  auto data = pattern(64 * 1024, 3);
  ASSERT_TRUE(b->write(0, data.data(), data.size()).ok());
  ASSERT_TRUE(pool->sync_all().ok());
  ASSERT_TRUE(b->truncate(10000).ok());
  EXPECT_EQ(b->size(), 10000u);
  ASSERT_TRUE(b->truncate(30000).ok());  // growing is sparse: zeros, not the old bytes
  auto got = read_all(*b);
  EXPECT_TRUE(std::equal(data.begin(), data.begin() + 10000, got.begin()));
  EXPECT_EQ(std::vector<uint8_t>(got.begin() + 10000, got.end()), std::vector<uint8_t>(20000, 0));
  ASSERT_TRUE(b->punch_hole(1000, 2000).ok());
  got = read_all(*b);
  EXPECT_EQ(std::vector<uint8_t>(got.begin() + 1000, got.begin() + 3000),
            std::vector<uint8_t>(2000, 0));
  EXPECT_EQ(got[999], data[999]);
  EXPECT_EQ(got[3000], data[3000]);
  // Holes: [12288, 30000) is a hole (blocks 3.. are free), data at 0.
  ASSERT_TRUE(pool->sync_all().ok());
  EXPECT_EQ(*b->seek_data(0), 0u);
  EXPECT_EQ(*b->seek_hole(0), 12288u);
  EXPECT_EQ(b->seek_data(12288).code(), ENXIO);
  EXPECT_EQ(b->seek_hole(30000).code(), ENXIO);
  ASSERT_TRUE(b->write(20480, "x", 1).ok());
  EXPECT_EQ(*b->seek_data(12288), 20480u);
  EXPECT_EQ(*b->seek_hole(20480), 24576u);
  auto st = b->stat();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size, 30000u);
  EXPECT_GT(st->allocated_bytes, 0u);
  EXPECT_LE(st->allocated_bytes, 32768u);
}

TEST_F(BlobTest, XattrsPersist) {
  auto id = *pool->create_blob();
  auto b = open(id);
  EXPECT_EQ(b->get_xattr("user.a").code(), ENODATA);
  ASSERT_TRUE(b->set_xattr("user.a", "hello", 5).ok());
  ASSERT_TRUE(b->set_xattr("user.b", "", 0).ok());
  std::vector<uint8_t> big(64 * 1024, 7);
  ASSERT_TRUE(b->set_xattr("user.big", big.data(), big.size()).ok());
  EXPECT_EQ(b->set_xattr("user.huge", big.data(), big.size() + 1).code(), E2BIG);
  ASSERT_TRUE(b->remove_xattr("user.b").ok());
  EXPECT_EQ(b->remove_xattr("user.b").code(), ENODATA);
  b.reset();
  reimport();
  b = open(id);
  auto names = b->list_xattrs();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"user.a", "user.big"}));
  auto v = b->get_xattr("user.a");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(std::string(v->begin(), v->end()), "hello");
  EXPECT_EQ(*b->get_xattr("user.big"), big);
}

TEST_F(BlobTest, DeleteIterateAndIdsNeverReused) {
  std::vector<BlobId> ids;
  for (int i = 0; i < 150; i++) {
    auto id = pool->create_blob();
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
    auto b = open(*id);
    ASSERT_TRUE(b->write(0, &i, sizeof i).ok());
  }
  ASSERT_TRUE(pool->sync_all().ok());
  auto held = open(ids[10]);
  for (size_t i = 0; i < ids.size(); i += 3) ASSERT_TRUE(pool->delete_blob(ids[i]).ok());
  EXPECT_EQ(pool->delete_blob(ids[0]).code(), ENOENT);
  EXPECT_EQ(pool->open_blob(ids[0]).code(), ENOENT);
  uint8_t x;
  EXPECT_EQ(held->read(0, &x, 1).code(), 0);  // ids[10] was not deleted (10 % 3 != 0)
  auto gone = open(ids[13]);
  ASSERT_TRUE(pool->delete_blob(ids[13]).ok());
  EXPECT_EQ(gone->read(0, &x, 1).code(), ENOENT);
  std::set<BlobId> expect;
  for (size_t i = 0; i < ids.size(); i++) {
    if (i % 3 != 0 && i != 13) expect.insert(ids[i]);
  }
  auto list = [&] {
    std::vector<BlobId> seen;
    EXPECT_TRUE(pool->for_each_blob([&](const BlobStat& s) {
                      seen.push_back(s.id);
                      EXPECT_EQ(s.size, sizeof(int));
                      return true;
                    })
                    .ok());
    return seen;
  };
  EXPECT_EQ(list(), std::vector<BlobId>(expect.begin(), expect.end()));  // before the commit
  held.reset();
  gone.reset();
  reimport();
  EXPECT_EQ(list(), std::vector<BlobId>(expect.begin(), expect.end()));
  EXPECT_EQ(pool->stats().blob_count, expect.size());
  auto fresh = pool->create_blob();
  ASSERT_TRUE(fresh.ok());
  EXPECT_GT(*fresh, ids.back());
  auto rep = pool->check();
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->consistent) << (rep->problems.empty() ? "" : rep->problems[0]);
}

TEST_F(BlobTest, IdsHandedOutBeforeACrashAreNeverReused) {
  // Ids created after the last commit and never synced are lost by a power cut, but a Linux
  // placeholder may already name them: a later create must never hand them out again.
  ASSERT_TRUE(pool->sync_all().ok());
  std::set<BlobId> lost;
  for (int i = 0; i < 5; i++) {
    auto id = pool->create_blob();
    ASSERT_TRUE(id.ok());
    lost.insert(*id);
  }
  for (int round = 0; round < 3; round++) {
    reimport(/*clean=*/false);
    for (BlobId id : lost) EXPECT_EQ(pool->open_blob(id).code(), ENOENT);
    auto fresh = pool->create_blob();
    ASSERT_TRUE(fresh.ok());
    EXPECT_GT(*fresh, *lost.rbegin()) << "a blob id was handed out twice across a crash";
    lost.insert(*fresh);
  }
  auto rep = pool->check();
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->consistent) << (rep->problems.empty() ? "" : rep->problems[0]);
}

// A blob synced after every small write (a database's log) stays on the intent log for any
// number of syncs in one txg: logged changes are dropped from the txg's op list, which used
// to overflow after 8192 and make every sync of the blob wait for commits. All of it survives
// a power cut.
TEST(BlobLog, ManySyncsInOneTxgStayOnTheLog) {
  std::shared_ptr<vdev::Vdev> dev = vdev::make_memory_vdev(1ull << 30);
  PoolConfig cfg = test_config();
  cfg.log_bytes = 256 << 20;  // room for every sync's log block: no commit for log space
  auto p = Pool::create(share(dev), cfg);
  ASSERT_TRUE(p.ok()) << p.error().msg;
  std::unique_ptr<Pool> pool = std::move(*p);
  auto id = *pool->create_blob();
  auto b = *pool->open_blob(id);
  const uint64_t txg_before = pool->stats().synced_txg;
  constexpr int kSyncs = 9000;  // more than kMaxOpsPerDelta
  for (int i = 0; i < kSyncs; i++) {
    uint32_t v = static_cast<uint32_t>(i) * 2654435761u;
    ASSERT_TRUE(b->write(static_cast<uint64_t>(i) * 8, &v, sizeof v).ok());
    ASSERT_TRUE(b->sync().ok());
  }
  EXPECT_EQ(pool->stats().synced_txg, txg_before) << "syncs forced txg commits";
  b.reset();
  testing::abandon(*pool);
  pool.reset();
  auto again = Pool::import(share(dev), cfg);
  ASSERT_TRUE(again.ok()) << again.error().msg;
  b = *(*again)->open_blob(id);
  ASSERT_EQ(b->size(), static_cast<uint64_t>(kSyncs - 1) * 8 + 4);
  for (int i = 0; i < kSyncs; i++) {
    uint32_t v = 0;
    ASSERT_TRUE(b->read(static_cast<uint64_t>(i) * 8, &v, sizeof v).ok());
    ASSERT_EQ(v, static_cast<uint32_t>(i) * 2654435761u) << "write " << i;
  }
}

// When dirty data starts a commit: a txg of new blocks only (a stream) at 20% of the bound, so
// the device does not idle while a bulk writer refills; one that absorbs overwrites only at
// 60%, so more of them stay in memory.
TEST(BlobCommit, StreamsCommitEarlyOverwritesGrowOn) {
  PoolConfig cfg = test_config();
  cfg.dirty_max_bytes = 16 << 20;
  cfg.txg_interval_ms = 600000;  // no timed commits during the test
  cfg.log_bytes = 64 << 20;
  for (const bool overwrite : {false, true}) {
    SCOPED_TRACE(overwrite ? "overwrites" : "stream");
    auto p = Pool::create(share(vdev::make_memory_vdev(256ull << 20)), cfg);
    ASSERT_TRUE(p.ok()) << p.error().msg;
    std::unique_ptr<Pool> pool = std::move(*p);
    auto b = *pool->open_blob(*pool->create_blob());
    ASSERT_TRUE(pool->sync_all().ok());
    const uint64_t before = pool->stats().synced_txg;
    // 5 MiB of new blocks (31% of the bound); with `overwrite`, each MiB written twice.
    const auto data = pattern(1 << 20, 9);
    for (uint64_t mib = 0; mib < 5; ++mib) {
      ASSERT_TRUE(b->write(mib << 20, data.data(), data.size()).ok());
      if (overwrite) {
        ASSERT_TRUE(b->write(mib << 20, data.data(), data.size()).ok());
      }
    }
    bool committed = false;
    for (int i = 0; i < 100 && !committed; ++i) {  // up to 1 s
      committed = pool->stats().synced_txg > before;
      if (!committed) usleep(10000);
    }
    EXPECT_EQ(committed, !overwrite);
  }
}

TEST_F(BlobTest, SyncedDataSurvivesPowerCut) {
  auto id = *pool->create_blob();  // created and synced only through the log
  auto b = open(id);
  auto data = pattern(30000, 5);
  ASSERT_TRUE(b->write(777, data.data(), data.size()).ok());
  ASSERT_TRUE(b->set_xattr("user.k", "v", 1).ok());
  ASSERT_TRUE(b->sync().ok());
  auto unsynced = open(*pool->create_blob());
  ASSERT_TRUE(unsynced->write(0, "zz", 2).ok());
  const uint64_t log_records = pool->stats().log_records;
  EXPECT_GT(log_records, 0u);
  b.reset();
  unsynced.reset();
  reimport(/*clean=*/false);
  b = open(id);
  ASSERT_EQ(b->size(), 30777u);
  auto got = read_all(*b);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), got.begin() + 777));
  EXPECT_EQ(*b->get_xattr("user.k"), std::vector<uint8_t>{'v'});
  // A second power cut right after import loses nothing either (replayed state was committed).
  b.reset();
  reimport(/*clean=*/false);
  b = open(id);
  EXPECT_EQ(read_all(*b), got);
  auto rep = pool->check();
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->consistent) << (rep->problems.empty() ? "" : rep->problems[0]);
}

TEST_F(BlobTest, TruncateAndPunchAreLogged) {
  auto id = *pool->create_blob();
  auto b = open(id);
  auto data = pattern(50000, 9);
  ASSERT_TRUE(b->write(0, data.data(), data.size()).ok());
  ASSERT_TRUE(pool->sync_all().ok());
  ASSERT_TRUE(b->truncate(20000).ok());
  ASSERT_TRUE(b->punch_hole(100, 5000).ok());
  ASSERT_TRUE(b->write(25000, "abc", 3).ok());
  ASSERT_TRUE(b->sync().ok());
  auto want = read_all(*b);
  b.reset();
  reimport(false);
  b = open(id);
  EXPECT_EQ(read_all(*b), want);
}

TEST(PoolFile, CreateImportRefuse) {
  auto dir =
      std::filesystem::temp_directory_path() / ("zvfs_blob_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "pool").string();
  PoolConfig cfg = test_config();
  cfg.create_size = 64ull << 20;
  BlobId id;
  {
    auto p = Pool::create(path, cfg);
    ASSERT_TRUE(p.ok()) << p.error().msg;
    id = *(*p)->create_blob();
    auto b = (*p)->open_blob(id);
    ASSERT_TRUE((*b)->write(4096 * 3 + 5, "durable", 7).ok());
    ASSERT_TRUE((*p)->export_pool().ok());
  }
  EXPECT_EQ(Pool::create(path, cfg).code(), EEXIST);
  {
    auto p = Pool::import(path, cfg);
    ASSERT_TRUE(p.ok()) << p.error().msg;
    auto b = (*p)->open_blob(id);
    ASSERT_TRUE(b.ok());
    char buf[7];
    ASSERT_EQ(*(*b)->read(4096 * 3 + 5, buf, 7), 7u);
    EXPECT_EQ(std::string(buf, 7), "durable");
  }
  // A file that is not a pool is refused.
  const std::string junk = (dir / "junk").string();
  {
    FILE* f = std::fopen(junk.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::vector<char> z(32 << 20, 'j');
    std::fwrite(z.data(), 1, z.size(), f);
    std::fclose(f);
  }
  EXPECT_FALSE(Pool::import(junk, cfg).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace zvfs::engine
