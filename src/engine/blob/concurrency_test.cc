// concurrency_test.cc — many threads on many blobs and on the same blob at once, with
// background commits, syncs and a power cut at the end: every thread's data must be exact.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "engine/blob/test_util.h"
#include "zvfs/blob.h"

namespace zvfs::engine {
namespace {

// A fresh pool on `dev` (null, with a failure recorded, if creation fails).
template <class Dev>
std::unique_ptr<Pool> new_pool(const std::shared_ptr<Dev>& dev, const PoolConfig& cfg) {
  auto created = Pool::create(testing::share(dev), cfg);
  EXPECT_TRUE(created.ok()) << (created.ok() ? "" : created.error().msg);
  return created.ok() ? std::move(*created) : nullptr;
}

// A deleted blob's space is deferred for two commits; on a pool that is idle afterwards those
// commits still happen (one per txg interval), so the space comes back without other writes.
TEST(Concurrency, DeletedSpaceReturnsOnAnIdlePool) {
  std::shared_ptr<vdev::Vdev> dev = vdev::make_memory_vdev(128ull << 20);
  PoolConfig cfg = testing::test_config();
  cfg.txg_interval_ms = 5;
  std::unique_ptr<Pool> pool = new_pool(dev, cfg);
  ASSERT_TRUE(pool);
  const uint64_t free_before = pool->stats().free_bytes;
  const BlobId id = *pool->create_blob();
  {
    auto b = *pool->open_blob(id);
    std::vector<uint8_t> data(8 << 20, 0x5a);
    ASSERT_TRUE(b->write(0, data.data(), data.size()).ok());
  }
  ASSERT_TRUE(pool->sync_all().ok());
  ASSERT_LT(pool->stats().free_bytes, free_before - (8 << 20));
  ASSERT_TRUE(pool->delete_blob(id).ok());
  ASSERT_TRUE(pool->sync_all().ok());
  uint64_t free_now = 0;
  for (int i = 0; i < 400; i++) {  // up to 2 s; a few 5 ms intervals are enough
    free_now = pool->stats().free_bytes;
    if (free_now + (1 << 20) >= free_before) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(free_now + (1 << 20), free_before) << "the deleted blob's space stayed deferred";
  // Then the idle pool goes quiet: no commit while nothing is deferred.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const uint64_t quiet = pool->stats().synced_txg;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // 20 intervals
  EXPECT_EQ(pool->stats().synced_txg, quiet) << "an idle pool kept committing";
}

TEST(Concurrency, ThreadsOnPrivateAndSharedBlobs) {
  std::shared_ptr<vdev::Vdev> dev = vdev::make_memory_vdev(128ull << 20);
  PoolConfig cfg = testing::test_config();
  cfg.txg_interval_ms = 5;
  cfg.dirty_max_bytes = 2 << 20;
  std::unique_ptr<Pool> pool = new_pool(dev, cfg);
  ASSERT_TRUE(pool);
  constexpr int kThreads = 6, kOps = 1500;
  constexpr uint64_t kSlot = 64 * 1024;  // each thread owns one slot of the shared blob
  const BlobId shared = *pool->create_blob();
  ASSERT_TRUE((*pool->open_blob(shared))->truncate(kThreads * kSlot).ok());  // appends go after
  std::vector<BlobId> own(kThreads);
  for (auto& id : own) id = *pool->create_blob();
  std::vector<std::vector<uint8_t>> model_own(kThreads),
      model_shared(kThreads, std::vector<uint8_t>(kSlot));
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(t + 1);
      auto mine = *pool->open_blob(own[t]);
      auto sh = *pool->open_blob(shared);
      auto& m = model_own[t];
      auto& ms = model_shared[t];
      std::vector<uint8_t> buf(20000), got(20000);
      for (int i = 0; i < kOps; i++) {
        const uint64_t off = rng() % 100000, len = 1 + rng() % 9000;
        for (uint64_t k = 0; k < len; k++) buf[k] = static_cast<uint8_t>(rng());
        if (!mine->write(off, buf.data(), len).ok()) failures++;
        if (m.size() < off + len) m.resize(off + len);
        std::memcpy(m.data() + off, buf.data(), len);
        const uint64_t soff = rng() % (kSlot - len);
        if (!sh->write(t * kSlot + soff, buf.data(), len).ok()) failures++;
        std::memcpy(ms.data() + soff, buf.data(), len);
        if (rng() % 50 == 0 && !mine->sync().ok()) failures++;
        if (rng() % 80 == 0 && !sh->sync().ok()) failures++;
        const uint64_t roff = rng() % (m.size() + 1);
        const size_t rlen = std::min<uint64_t>(got.size(), m.size() - roff);
        auto r = mine->read(roff, got.data(), rlen);
        if (!r.ok() || *r != rlen || std::memcmp(got.data(), m.data() + roff, rlen) != 0) {
          failures++;
        }
        auto a = sh->append("x", 1);  // appends race with other threads' appends
        if (!a.ok() || *a < kThreads * kSlot) failures++;
      }
      if (!mine->sync().ok() || !sh->sync().ok()) failures++;
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_EQ(failures.load(), 0);
  auto verify = [&](Pool& p) {
    for (int t = 0; t < kThreads; t++) {
      auto b = *p.open_blob(own[t]);
      std::vector<uint8_t> got(model_own[t].size());
      ASSERT_EQ(b->size(), got.size());
      ASSERT_EQ(*b->read(0, got.data(), got.size()), got.size());
      ASSERT_TRUE(got == model_own[t]) << "thread " << t;
      auto s = *p.open_blob(shared);
      std::vector<uint8_t> slot(kSlot);
      ASSERT_EQ(*s->read(t * kSlot, slot.data(), kSlot), kSlot);
      ASSERT_TRUE(slot == model_shared[t]) << "shared slot " << t;
    }
    auto s = *p.open_blob(shared);
    EXPECT_EQ(s->size(), kThreads * kSlot + uint64_t{kThreads} * kOps);  // every append landed
  };
  verify(*pool);
  testing::abandon(*pool);  // power cut: everything was synced
  pool.reset();
  auto again = Pool::import(testing::share(dev), cfg);
  ASSERT_TRUE(again.ok());
  verify(**again);
  auto chk = (*again)->check();
  ASSERT_TRUE(chk.ok());
  EXPECT_TRUE(chk->consistent);
}

// Regression: iterating blobs while txgs complete must never show a blob whose delete had
// returned before the iteration began, nor a stale size of a blob no one is changing. (It once
// paired a meta-object block of the old root with the object table after eviction.)
TEST(Concurrency, IterationDuringCommitsSeesNoDeletedBlobs) {
  std::shared_ptr<vdev::Vdev> dev = vdev::make_memory_vdev(64ull << 20);
  PoolConfig cfg = testing::test_config();
  cfg.txg_interval_ms = 1;
  std::unique_ptr<Pool> pool = new_pool(dev, cfg);
  ASSERT_TRUE(pool);
  // Blobs the mutator keeps resizing, so every commit carries changed dnodes to evict.
  constexpr int kResized = 8;
  std::vector<BlobId> resized(kResized);
  for (auto& id : resized) id = *pool->create_blob();
  std::atomic<uint64_t> dead_upto{0};  // every mutator blob with an id below this is deleted
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread mutator([&] {
    std::mt19937_64 rng(7);
    while (!stop.load()) {
      auto id = pool->create_blob();
      if (!id.ok()) {
        failures++;
        break;
      }
      {
        auto b = *pool->open_blob(*id);
        if (!b->write(0, "data", 4).ok()) failures++;
      }
      if (!pool->sync_all().ok()) failures++;
      if (!pool->delete_blob(*id).ok()) failures++;
      dead_upto.store(*id + 1);
      const int i = static_cast<int>(rng() % kResized);
      const uint64_t ns = 1 + rng() % 100000;
      {
        auto b = *pool->open_blob(resized[i]);  // dropped at once: evicted after the commit
        if (!b->truncate(ns).ok()) failures++;
      }
      if (rng() % 2 == 0 && !pool->sync_all().ok()) failures++;
    }
  });
  std::set<BlobId> resized_set(resized.begin(), resized.end());
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(800);
  int rounds = 0;
  while (std::chrono::steady_clock::now() < until && failures.load() == 0) {
    const uint64_t dead = dead_upto.load();
    ASSERT_TRUE(pool->for_each_blob([&](const BlobStat& s) {
                      if (!resized_set.count(s.id) && s.id < dead) {
                        ADD_FAILURE()
                            << "deleted blob " << s.id << " listed (round " << rounds << ")";
                        failures++;
                      }
                      return true;
                    })
                    .ok());
    rounds++;
  }
  stop = true;
  mutator.join();
  EXPECT_EQ(failures.load(), 0) << "after " << rounds << " rounds";
  EXPECT_GT(rounds, 10);
}

// Passes I/O through to another vdev, except that writes and flushes wait while it is closed
// (a device stalled behind a long commit).
class GateVdev final : public vdev::Vdev {
 public:
  explicit GateVdev(std::shared_ptr<vdev::Vdev> d) : d_(std::move(d)) {}
  void set_open(bool open) {
    std::lock_guard lk(mu_);
    open_ = open;
    cv_.notify_all();
  }
  uint64_t size() const override { return d_->size(); }
  int submit(std::span<vdev::IoReq> reqs) override {
    for (const auto& r : reqs) {
      if (r.op == vdev::IoReq::Op::kWrite) wait_open();
    }
    return d_->submit(reqs);
  }
  int flush() override {
    wait_open();
    return d_->flush();
  }
  vdev::VdevStats stats() const override { return d_->stats(); }
  std::string describe() const override { return "gate:" + d_->describe(); }
  int waiting() {
    std::lock_guard lk(mu_);
    return waiting_;
  }

 private:
  void wait_open() {
    std::unique_lock lk(mu_);
    waiting_++;
    cv_.wait(lk, [&] { return open_; });
    waiting_--;
  }
  std::shared_ptr<vdev::Vdev> d_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int waiting_ = 0;
};

// The test configuration with a dirty limit of 8 MiB: the throttle's thresholds within reach.
PoolConfig small_dirty_config() {
  PoolConfig cfg = testing::test_config();
  cfg.dirty_max_bytes = 8 << 20;
  return cfg;
}

// Regression: while a commit is stuck, a bulk writer used to fill dirty data to the hard limit,
// so a small write (the write + fsync of a database log) waited for the whole commit behind it.
// Bulk writes now stop an eighth below the limit and small ones get through.
TEST(Concurrency, SmallWriteIsNotThrottledBehindBulkWriter) {
  auto gate = std::make_shared<GateVdev>(vdev::make_memory_vdev(128ull << 20));
  std::unique_ptr<Pool> pool = new_pool(gate, small_dirty_config());
  ASSERT_TRUE(pool);
  auto bulk = *pool->open_blob(*pool->create_blob());
  auto small = *pool->open_blob(*pool->create_blob());
  gate->set_open(false);  // from here on every commit stalls
  // 7 MiB of dirty data in 64 KiB writes (the first commit starts at 60% and stalls).
  std::vector<uint8_t> chunk(64 << 10, 0x5a);
  for (uint64_t off = 0; off < (7u << 20); off += chunk.size()) {
    ASSERT_TRUE(bulk->write(off, chunk.data(), chunk.size()).ok());
  }
  ASSERT_EQ(pool->stats().dirty_bytes, 7u << 20);
  const uint64_t waits = pool->stats().throttle_waits;
  std::atomic<bool> bulk_done{false};
  std::thread t([&] {
    std::vector<uint8_t> big(1 << 20, 0x6b);
    EXPECT_TRUE(bulk->write(7 << 20, big.data(), big.size()).ok());
    bulk_done = true;
  });
  // The 1 MiB write must be throttled (it would take dirty data to the limit)...
  while (pool->stats().throttle_waits == waits && !bulk_done.load()) std::this_thread::yield();
  EXPECT_FALSE(bulk_done.load()) << "the bulk write was admitted up to the hard limit";
  // ...and a 4 KiB write still gets in at once (with the gate closed nothing can commit).
  if (!bulk_done.load()) {
    std::vector<uint8_t> page(4096, 0x7c);
    EXPECT_TRUE(small->write(0, page.data(), page.size()).ok());
    EXPECT_FALSE(bulk_done.load());
  }
  gate->set_open(true);
  t.join();
  ASSERT_TRUE(pool->sync_all().ok());
  std::vector<uint8_t> got(1 << 20);
  ASSERT_EQ(*bulk->read(7 << 20, got.data(), got.size()), got.size());
  EXPECT_EQ(got, std::vector<uint8_t>(1 << 20, 0x6b));
  ASSERT_TRUE(pool->export_pool().ok());
}

// Regression: a stream of small writes to one blob (fio's 16 KiB writes, a checkpoint) used the
// reserve meant for other blobs' small writes: it filled dirty data to the very limit, and a
// database's log write to another blob then waited for a whole commit. Once its blob holds much
// dirty data it stops an eighth below the limit, as a bulk writer does, and a small write of
// another blob still gets in at once.
TEST(Concurrency, StreamOfSmallWritesLeavesTheReserveToOthers) {
  auto gate = std::make_shared<GateVdev>(vdev::make_memory_vdev(128ull << 20));
  std::unique_ptr<Pool> pool = new_pool(gate, small_dirty_config());
  ASSERT_TRUE(pool);
  auto stream = *pool->open_blob(*pool->create_blob());
  auto quiet = *pool->open_blob(*pool->create_blob());
  gate->set_open(false);  // nothing commits from here on
  std::atomic<bool> done{false};
  std::thread t([&] {
    std::vector<uint8_t> chunk(16 << 10, 0x3c);
    for (uint64_t off = 0; off < (8u << 20); off += chunk.size()) {
      EXPECT_TRUE(stream->write(off, chunk.data(), chunk.size()).ok());
    }
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (pool->stats().throttle_waits == 0 && !done.load() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_FALSE(done.load()) << "8 MiB of small writes went in with nothing committing";
  const PoolStats s = pool->stats();
  EXPECT_GE(s.throttle_waits, 1u);
  EXPECT_LE(s.dirty_bytes, (7u << 20)) << "the stream used the last eighth of the limit";
  std::vector<uint8_t> page(4096, 0x4d);
  EXPECT_TRUE(quiet->write(0, page.data(), page.size()).ok());
  EXPECT_EQ(pool->stats().throttle_waits, s.throttle_waits) << "the quiet blob's write waited";
  gate->set_open(true);
  t.join();
  ASSERT_TRUE(pool->sync_all().ok());
  std::vector<uint8_t> got(8u << 20);
  ASSERT_EQ(*stream->read(0, got.data(), got.size()), got.size());
  EXPECT_EQ(got, std::vector<uint8_t>(8u << 20, 0x3c));
  ASSERT_TRUE(pool->export_pool().ok());
}

// Group commit on one blob: a sync whose writes another thread's log commit made durable while
// it waited for that commit returns without a commit of its own, even when more writes (not
// its own) arrived meanwhile. Each such sync used to log and flush them again: threads syncing
// one file convoyed, one log block and one flush per sync.
TEST(Concurrency, SyncCoveredByAnotherThreadsCommitWritesNothing) {
  auto gate = std::make_shared<GateVdev>(vdev::make_memory_vdev(128ull << 20));
  std::unique_ptr<Pool> pool = new_pool(gate, testing::test_config());
  ASSERT_TRUE(pool);
  auto b = *pool->open_blob(*pool->create_blob());
  ASSERT_TRUE(pool->sync_all().ok());
  std::vector<uint8_t> page(4096, 0x31);
  ASSERT_TRUE(b->write(0, page.data(), page.size()).ok());
  ASSERT_TRUE(b->write(4096, page.data(), page.size()).ok());
  const uint64_t logged0 = pool->stats().log_syncs;
  gate->set_open(false);
  // A gathers both writes and stalls in its log write, the blob's logger meanwhile.
  std::thread a([&] { EXPECT_TRUE(b->sync().ok()); });
  while (gate->waiting() == 0) std::this_thread::yield();
  // B was called after both writes: A's commit covers it. It waits while A logs. (Given time to
  // get there: should B only start after the next write, it would rightly log that write.)
  std::thread c([&] { EXPECT_TRUE(b->sync().ok()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // A write after B was called, and after A gathered: not B's to make durable.
  page.assign(4096, 0x32);
  ASSERT_TRUE(b->write(8192, page.data(), page.size()).ok());
  gate->set_open(true);
  a.join();
  c.join();
  EXPECT_EQ(pool->stats().log_syncs - logged0, 1u) << "B logged the later write again";
  // The later write is made durable by the next sync, as always.
  ASSERT_TRUE(b->sync().ok());
  EXPECT_EQ(pool->stats().log_syncs - logged0, 2u);
  ASSERT_TRUE(pool->export_pool().ok());
}

// A writer held back by the throttle while a commit runs makes the next commit start as soon
// as that one is durable, even below the dirty threshold: a bulk writer keeps the device busy
// instead of refilling dirty data while it idles (before, the next txg waited for 60% of
// dirty_max_bytes or the commit interval).
TEST(Concurrency, ThrottledWriterStartsTheNextCommitAtOnce) {
  auto gate = std::make_shared<GateVdev>(vdev::make_memory_vdev(128ull << 20));
  std::unique_ptr<Pool> pool = new_pool(gate, small_dirty_config());  // commit interval 60 s
  ASSERT_TRUE(pool);
  auto bulk = *pool->open_blob(*pool->create_blob());
  auto other = *pool->open_blob(*pool->create_blob());
  const uint64_t txg0 = pool->stats().txg;
  gate->set_open(false);  // the commit the dirty threshold starts stalls
  std::vector<uint8_t> chunk(64 << 10, 0x5a);
  uint64_t off = 0;
  for (; off < (7u << 20); off += chunk.size()) {
    ASSERT_TRUE(bulk->write(off, chunk.data(), chunk.size()).ok());
  }
  while (pool->stats().txg == txg0) std::this_thread::yield();    // that commit has begun
  ASSERT_TRUE(other->write(0, chunk.data(), chunk.size()).ok());  // small, not streaming
  ASSERT_EQ(pool->stats().throttle_waits, 0u) << "a small write of a quiet blob was held";
  const uint64_t next = pool->stats().txg;  // holds at most 2 MiB + 64 KiB: below the threshold
  const uint64_t waits = pool->stats().throttle_waits;
  std::thread t([&] {
    std::vector<uint8_t> big(1 << 20, 0x6b);
    EXPECT_TRUE(bulk->write(off, big.data(), big.size()).ok());
  });
  while (pool->stats().throttle_waits == waits) std::this_thread::yield();
  gate->set_open(true);
  // Bounded wait, far below the 60 s commit interval that would otherwise commit it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (pool->stats().synced_txg < next && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_GE(pool->stats().synced_txg, next) << "the next commit waited for the interval";
  t.join();
  ASSERT_TRUE(pool->sync_all().ok());
  std::vector<uint8_t> got(1 << 20);
  ASSERT_EQ(*bulk->read(off, got.data(), got.size()), got.size());
  EXPECT_EQ(got, std::vector<uint8_t>(1 << 20, 0x6b));
  ASSERT_TRUE(pool->export_pool().ok());
}

}  // namespace
}  // namespace zvfs::engine
