// concurrency_test.cc — many threads on many blobs and on the same blob at once, with
// background commits, syncs and a power cut at the end: every thread's data must be exact.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>

#include "engine/blob/test_util.h"
#include "zvfs/blob.h"

namespace zvfs::engine {
namespace {

TEST(Concurrency, ThreadsOnPrivateAndSharedBlobs) {
  std::shared_ptr<vdev::Vdev> dev = vdev::make_memory_vdev(128ull << 20);
  PoolConfig cfg = testing::test_config();
  cfg.txg_interval_ms = 5;
  cfg.dirty_max_bytes = 2 << 20;
  auto created = Pool::create(testing::share(dev), cfg);
  ASSERT_TRUE(created.ok());
  std::unique_ptr<Pool> pool = std::move(*created);
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

}  // namespace
}  // namespace zvfs::engine
