// crash_test.cc — power cuts at random device writes, then import and verify.
//
// A chain of iterations on one FaultVdev: import the pool, run a random workload (writes,
// appends, truncates, punches, creates, deletes, xattrs, blob syncs, commits) while the sync
// thread commits in the background, and cut the power at a random device write (armed a few
// dozen writes ahead, so cuts land in log writes, data and metadata writes, uberblock writes
// and flush windows alike; every unflushed write survives, vanishes or is torn at 512 bytes).
// Sometimes a second cut is armed inside the import that follows (a crash during recovery).
// Then the pool must import, and:
//   - every blob synced since its last change exists; a deleted blob is gone once any sync
//     succeeded after the delete;
//   - every 4 KiB block of every blob equals one of the versions it had since its last
//     successful sync (so synced bytes are exact and the rest are old or new, never garbage),
//     and the size is one of the sizes it had since then;
//   - check() finds every block verifying, nothing referenced twice, no leak (also on the
//     live pool now and then, before the cut).
// Before each import, the newest valid uberblock's space map must load as it is: a power cut
// never leaves the pool needing import's fallback to an older uberblock (which would hide a
// lost write behind an older state).
// The recovered state becomes the model for the next iteration.
//
// ZVFS_SEED replays a run; ZVFS_CRASH_POINTS sets the number of power cuts (default 1000).
// ZVFS_CRASH_DEV_MB (device size, default 24, at least 16) and ZVFS_CRASH_BLOB_KB (largest
// blob, default 96) run the pool near full instead (e.g. 16 and 1024: ENOSPC, the reserve,
// slab moves, condensing under pressure); ZVFS_CRASH_BLOCK_KB sets the block size (default 4).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "engine/alloc/space_map.h"
#include "engine/blob/test_util.h"
#include "engine/spa/label.h"
#include "engine/spa/uberblock.h"
#include "engine/vdev/fault_vdev.h"
#include "engine/zio/zio.h"
#include "zvfs/blob.h"

namespace zvfs::engine {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr size_t kMaxBlobs = 12;

uint64_t env_u64(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : dflt;
}

uint64_t hash_block(const std::vector<uint8_t>& data, uint64_t blk) {
  uint8_t buf[kBlock] = {};
  if (blk * kBlock < data.size()) {
    std::memcpy(buf, data.data() + blk * kBlock,
                std::min<uint64_t>(kBlock, data.size() - blk * kBlock));
  }
  zio::Checksum c = zio::checksum(buf, kBlock);
  return c.lo ^ (c.hi * 31);
}

// Empty if the newest valid uberblock on `d` names a space map that loads; else what is wrong.
std::string newest_space_map_problem(vdev::FaultVdev& d) {
  zio::Pipeline z(d);
  auto label = spa::read_label(z);
  if (!label.ok()) return std::string("label: ") + label.error().msg;
  const spa::Layout& l = label->layout;
  auto ubs = spa::read_uberblocks(z, l, label->pool_guid);
  if (!ubs.ok()) return std::string("uberblocks: ") + ubs.error().msg;
  const spa::Uberblock& ub = ubs->front();
  alloc::Allocator a(l.data_off, l.data_off + l.data_len, 0);
  Status st = alloc::SpaceMap::load(z, ub.space_map, a, ub.txg);
  if (st.ok()) return "";
  return "space map of the newest uberblock (txg " + std::to_string(ub.txg) +
         ") does not load: " + st.error().msg;
}

// What a blob may look like after a crash.
struct Expect {
  std::vector<uint8_t> cur;                   // contents now (as acknowledged in memory)
  std::map<uint64_t, std::set<uint64_t>> ok;  // block -> acceptable hashes since last sync
  std::set<uint64_t> sizes;                   // acceptable sizes since last sync
  bool must_exist = false;                    // synced since creation
  bool deleted = false, delete_durable = false;

  void floor() {  // everything now is durable
    ok.clear();
    for (uint64_t b = 0; b * kBlock < std::max<uint64_t>(cur.size(), 1); b++) {
      ok[b].insert(hash_block(cur, b));
    }
    sizes = {cur.size()};
  }
  // The blocks in [lo_blk, hi_blk) changed: their new versions become acceptable too.
  void changed(uint64_t lo_blk, uint64_t hi_blk) {
    for (uint64_t b = lo_blk; b < hi_blk; b++) {
      if (!ok.count(b)) ok[b].insert(hash_block({}, 0));  // a block never written reads zeros
      ok[b].insert(hash_block(cur, b));
    }
    sizes.insert(cur.size());
  }
};

class CrashRun {
 public:
  explicit CrashRun(uint64_t seed) : seed_(seed), rng_(seed) {
    cfg_ = testing::test_config();
    cfg_.log_bytes = 1 << 20;
    cfg_.dirty_max_bytes = 1 << 20;
    cfg_.cache_bytes = 2 << 20;
    cfg_.block_size = static_cast<uint32_t>(env_u64("ZVFS_CRASH_BLOCK_KB", 4) * 1024);
    dev_ = std::make_shared<vdev::FaultVdev>(env_u64("ZVFS_CRASH_DEV_MB", 24) << 20, seed);
    auto p = Pool::create(testing::share(dev_), cfg_);
    EXPECT_TRUE(p.ok());
    pool_ = std::move(*p);
  }

  void run(uint64_t points) {
    for (iter_ = 0; iter_ < points && !::testing::Test::HasFailure(); iter_++) {
      cfg_.txg_interval_ms = 1 + static_cast<uint32_t>(rand(20));
      dev_->arm_power_cut_at_write(dev_->write_count() + 1 + rand(rand(4) == 0 ? 200 : 40));
      workload();
      crash_and_recover();
    }
  }

 private:
  uint64_t rand(uint64_t n) { return n == 0 ? 0 : rng_() % n; }

  // Runs operations until one fails (the power is out) or a bound is reached.
  void workload() {
    for (int i = 0; i < 400; i++) {
      if (!one_op()) return;
    }
    dev_->cut_power();
  }

  BlobId pick_live() {
    std::vector<BlobId> live;
    for (auto& [id, e] : model_) {
      if (!e.deleted) live.push_back(id);
    }
    return live.empty() ? 0 : live[rand(live.size())];
  }

  // One random operation; false once the pool reports an error.
  bool one_op() {
    size_t live = 0;
    for (auto& [id, e] : model_) live += e.deleted ? 0 : 1;
    if (live == 0 || (live < kMaxBlobs && rand(30) == 0)) {
      auto id = pool_->create_blob();
      if (!id.ok()) return false;
      Expect& e = model_[*id];
      e.floor();
      e.must_exist = false;
      return true;
    }
    const BlobId id = pick_live();
    Expect& e = model_[id];
    auto h = pool_->open_blob(id);
    if (!h.ok()) return false;
    Blob& b = **h;
    const int r = static_cast<int>(rand(100));
    if (r < 45) {  // write (or append)
      const bool app = rand(5) == 0;
      const uint64_t len = 1 + (rand(3) == 0 ? rand(3 * kBlock) : rand(600));
      uint64_t off = app ? e.cur.size() : rand(max_blob_ - len);
      if (off + len > max_blob_) return true;
      std::vector<uint8_t> buf(len);
      // Some writes are of zeros (as a database extends a file): such blocks are stored whole.
      if (rand(8) != 0)
        for (auto& c : buf) c = static_cast<uint8_t>(rng_());
      const std::vector<uint8_t> before = e.cur;
      if (e.cur.size() < off + len) e.cur.resize(off + len, 0);
      std::memcpy(e.cur.data() + off, buf.data(), len);
      e.changed(off / kBlock, (off + len + kBlock - 1) / kBlock);
      if (app) {
        auto at = b.append(buf.data(), len);
        if (!at.ok()) return false;
        EXPECT_EQ(*at, before.size());
      } else if (!b.write(off, buf.data(), len).ok()) {
        return false;
      }
    } else if (r < 55) {
      const uint64_t old = e.cur.size();
      const uint64_t ns = rand(max_blob_);
      e.cur.resize(ns, 0);
      e.changed(std::min(old, ns) / kBlock, (std::max(old, ns) + kBlock - 1) / kBlock);
      if (!b.truncate(ns).ok()) return false;
    } else if (r < 62) {
      const uint64_t off = rand(e.cur.size() + 1), len = rand(3 * kBlock);
      const uint64_t end = std::min<uint64_t>(off + len, e.cur.size());
      for (uint64_t i = off; i < end; i++) e.cur[i] = 0;
      if (off < end) e.changed(off / kBlock, (end + kBlock - 1) / kBlock);
      if (!b.punch_hole(off, len).ok()) return false;
    } else if (r < 66) {
      const std::string v = std::to_string(rng_());
      if (!b.set_xattr("user.v", v.data(), v.size()).ok()) return false;
    } else if (r < 86) {
      if (!b.sync().ok()) return false;
      e.floor();
      e.must_exist = true;
      durable_deletes();
    } else if (r < 90) {
      if (!pool_->sync_all().ok()) return false;
      for (auto& [i, x] : model_) {
        x.floor();
        x.must_exist = true;
      }
      durable_deletes();
      if (++sync_alls_ % 8 == 0) {  // the live pool agrees with its space map (before a cut)
        auto rep = pool_->check();
        if (!rep.ok()) return false;
        // The armed cut may fire during the check (a commit of its own, or a background one):
        // a dead device fails every read, and that verdict says nothing about the pool.
        if (dev_->power_is_cut()) return false;
        EXPECT_TRUE(rep->consistent) << rep->problems[0] << " (live), iteration " << iter_;
      }
    } else if (r < 93) {
      e.deleted = true;
      if (!pool_->delete_blob(id).ok()) return false;
    } else {
      std::vector<uint8_t> got(e.cur.size());
      auto rd = b.read(0, got.data(), got.size());
      if (!rd.ok()) return false;
      EXPECT_EQ(got, e.cur) << "live read, iteration " << iter_;
    }
    return true;
  }

  void durable_deletes() {
    for (auto& [id, e] : model_) {
      if (e.deleted) e.delete_durable = true;
    }
  }

  void crash_and_recover() {
    testing::abandon(*pool_);
    pool_.reset();
    for (int attempt = 0;; attempt++) {
      dev_ = dev_->reboot(seed_ ^ (iter_ * 7919 + attempt));
      const std::string problem = newest_space_map_problem(*dev_);
      ASSERT_TRUE(problem.empty())
          << problem << ", iteration " << iter_ << " attempt " << attempt << " seed " << seed_;
      const bool again = attempt == 0 && rand(8) == 0;
      if (again) dev_->arm_power_cut_at_write(1 + rand(12));  // crash again during recovery
      auto p = Pool::import(testing::share(dev_), cfg_);
      if (p.ok() && again) {  // recovered before the cut: crash right after recovery instead
        testing::abandon(**p);
        dev_->cut_power();
        continue;
      }
      if (p.ok()) {
        pool_ = std::move(*p);
        break;
      }
      ASSERT_TRUE(dev_->power_is_cut() && attempt < 3)
          << "import failed: " << p.error().msg << ", iteration " << iter_;
    }
    verify();
  }

  void verify() {
    std::set<BlobId> present;
    ASSERT_TRUE(pool_
                    ->for_each_blob([&](const BlobStat& s) {
                      present.insert(s.id);
                      return true;
                    })
                    .ok());
    for (auto it = model_.begin(); it != model_.end();) {
      const BlobId id = it->first;
      Expect& e = it->second;
      const bool here = present.count(id) > 0;
      if (e.delete_durable) {
        ASSERT_FALSE(here) << "blob " << id << " deleted and synced, back after crash, iter "
                           << iter_;
      }
      if (!e.deleted || !e.delete_durable) {
        if (e.must_exist && !e.deleted) {
          ASSERT_TRUE(here) << "synced blob " << id << " lost, iteration " << iter_;
        }
      }
      if (!here) {
        it = model_.erase(it);
        continue;
      }
      auto h = pool_->open_blob(id);
      ASSERT_TRUE(h.ok());
      const uint64_t size = (*h)->size();
      ASSERT_TRUE(e.sizes.count(size)) << "blob " << id << " size " << size << " iter " << iter_;
      std::vector<uint8_t> got(size);
      auto rd = (*h)->read(0, got.data(), size);
      ASSERT_TRUE(rd.ok()) << "blob " << id << ": " << rd.error().msg << " iter " << iter_;
      for (const auto& [blk, hashes] : e.ok) {
        ASSERT_TRUE(hashes.count(hash_block(got, blk)))
            << "blob " << id << " block " << blk << " holds neither old nor new contents, iter "
            << iter_ << " seed " << seed_;
      }
      for (uint64_t b = 0; b * kBlock < size; b++) {
        if (!e.ok.count(b)) {
          ASSERT_EQ(hash_block(got, b), hash_block({}, 0));
        }
      }
      // The recovered state is the new baseline.
      e.cur = std::move(got);
      e.deleted = false;
      e.delete_durable = false;
      e.floor();
      e.must_exist = true;
      ++it;
    }
    // Blobs the pool has and the model does not: created, never synced, survived in a commit.
    for (BlobId id : present) {
      if (model_.count(id)) continue;
      auto h = pool_->open_blob(id);
      ASSERT_TRUE(h.ok());
      Expect& e = model_[id];
      e.cur.resize((*h)->size());
      ASSERT_TRUE((*h)->read(0, e.cur.data(), e.cur.size()).ok());
      e.floor();
      e.must_exist = true;
    }
    if (iter_ % 10 == 0) {
      auto rep = pool_->check();
      ASSERT_TRUE(rep.ok());
      ASSERT_TRUE(rep->consistent) << rep->problems[0] << " iter " << iter_;
    }
  }

  const uint64_t seed_;
  const uint64_t max_blob_ = env_u64("ZVFS_CRASH_BLOB_KB", 96) * 1024;
  std::mt19937_64 rng_;
  PoolConfig cfg_;
  std::shared_ptr<vdev::FaultVdev> dev_;
  std::unique_ptr<Pool> pool_;
  std::map<BlobId, Expect> model_;
  uint64_t iter_ = 0;
  uint64_t sync_alls_ = 0;
};

TEST(Crash, PowerCutsAtRandomWrites) {
  const uint64_t seed =
      env_u64("ZVFS_SEED",
              static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  const uint64_t points = env_u64("ZVFS_CRASH_POINTS", 1000);
  std::printf("crash test: seed %llu, %llu power cuts (replay with ZVFS_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(points),
              static_cast<unsigned long long>(seed));
  CrashRun run(seed);
  run.run(points);
}

// A fixed workload: blobs whose blocks are rewritten and logged, one commit per round, until
// the space map has been condensed at least once. Stops at the first error (the power is out).
// `rounds` receives, per round, the device's write count after its commit and the number of
// records of the newest space map.
struct Round {
  uint64_t writes_after = 0, sm_records = 0;
};
void condensing_workload(vdev::FaultVdev& dev, Pool& pool, std::vector<Round>* rounds) {
  constexpr int kBlobs = 8, kRoundsMax = 60;
  std::vector<BlobId> ids;
  for (int i = 0; i < kBlobs; i++) {
    auto id = pool.create_blob();
    if (!id.ok()) return;
    ids.push_back(*id);
  }
  std::vector<uint8_t> buf(kBlock);
  bool condensed = false;
  uint64_t last_records = 0;
  for (int r = 0; r < kRoundsMax && !condensed; r++) {
    for (int i = 0; i < kBlobs; i++) {
      auto b = pool.open_blob(ids[i]);
      if (!b.ok()) return;
      std::memset(buf.data(), r * 16 + i, buf.size());
      if (!(*b)->write(((r * 7 + i * 3) % 24) * kBlock, buf.data(), kBlock).ok()) return;
      if (i == r % kBlobs && !(*b)->sync().ok()) return;
    }
    if (r % 5 == 4 && !pool.delete_blob(ids[r % kBlobs]).ok()) return;
    if (r % 5 == 4) {
      auto id = pool.create_blob();
      if (!id.ok()) return;
      ids[r % kBlobs] = *id;
    }
    if (!pool.sync_all().ok()) return;
    zio::Pipeline z(dev);
    auto label = spa::read_label(z);
    if (!label.ok()) return;
    auto ubs = spa::read_uberblocks(z, label->layout, label->pool_guid);
    if (!ubs.ok()) return;
    const uint64_t records = ubs->front().space_map.records;
    condensed = records < last_records;
    last_records = records;
    if (rounds) rounds->push_back({dev.write_count(), records});
  }
}

// Every write of the commits around the first condense of the space map, in turn, is the one
// in flight when the power fails, with all unflushed writes kept, all dropped or all torn: the
// newest valid uberblock's space map loads as it is, the pool imports and check() finds it
// consistent.
TEST(Crash, EveryWriteAroundACondenseWithEachFate) {
  PoolConfig cfg = testing::test_config();
  cfg.log_bytes = 1 << 20;
  auto fresh = [&](std::shared_ptr<vdev::FaultVdev>* dev, std::unique_ptr<Pool>* pool) {
    *dev = std::make_shared<vdev::FaultVdev>(24ull << 20, 1);
    auto p = Pool::create(testing::share(*dev), cfg);
    ASSERT_TRUE(p.ok()) << p.error().msg;
    *pool = std::move(*p);
  };
  std::shared_ptr<vdev::FaultVdev> dev;
  std::unique_ptr<Pool> pool;
  std::vector<Round> rounds;
  fresh(&dev, &pool);
  condensing_workload(*dev, *pool, &rounds);
  ASSERT_GE(rounds.size(), 3u);
  ASSERT_LT(rounds.back().sm_records, rounds[rounds.size() - 2].sm_records)
      << "the workload never condensed the space map";
  testing::abandon(*pool);
  pool.reset();
  // The writes of the round before the condense, the condensing one and one more.
  const uint64_t first = rounds[rounds.size() - 3].writes_after + 1;
  const uint64_t last = rounds.back().writes_after + 8;
  int cuts = 0;
  for (vdev::CutFate fate :
       {vdev::CutFate::kKeepAll, vdev::CutFate::kDropAll, vdev::CutFate::kTearAll}) {
    for (uint64_t k = first; k <= last && !::testing::Test::HasFailure(); k++) {
      fresh(&dev, &pool);
      dev->set_cut_fate(fate);
      dev->arm_power_cut_at_write(k);
      condensing_workload(*dev, *pool, nullptr);
      testing::abandon(*pool);
      pool.reset();
      if (!dev->power_is_cut()) continue;  // the workload finished before write k
      cuts++;
      dev = dev->reboot(k);
      const std::string problem = newest_space_map_problem(*dev);
      ASSERT_TRUE(problem.empty())
          << problem << " (cut at write " << k << ", fate " << static_cast<int>(fate) << ")";
      auto p = Pool::import(testing::share(dev), cfg);
      ASSERT_TRUE(p.ok()) << p.error().msg << " (cut at write " << k << ")";
      auto chk = (*p)->check();
      ASSERT_TRUE(chk.ok());
      ASSERT_TRUE(chk->consistent) << chk->problems[0] << " (cut at write " << k << ")";
      ASSERT_TRUE((*p)->for_each_blob([&](const BlobStat& st) {
                        auto b = (*p)->open_blob(st.id);
                        std::vector<uint8_t> got(st.size);
                        EXPECT_TRUE(b.ok() && (*b)->read(0, got.data(), got.size()).ok())
                            << "blob " << st.id << " (cut at write " << k << ")";
                        return true;
                      })
                      .ok());
    }
  }
  std::printf("%d power cuts at writes %llu..%llu (condense in round %zu)\n", cuts,
              static_cast<unsigned long long>(first), static_cast<unsigned long long>(last),
              rounds.size());
  EXPECT_GT(cuts, 30);
}

}  // namespace
}  // namespace zvfs::engine
