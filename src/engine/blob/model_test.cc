// model_test.cc — model-based randomized test of the blob API.
//
// Random sequences of every blob operation run against the engine and against a plain
// in-memory model (a byte vector and an xattr map per blob); every result is compared as it
// happens, blobs are compared in full at random points, and everything is compared after
// export/re-import and after a power cut that follows a sync of every blob. Background commits
// (a short txg interval and a small dirty limit) interleave with the operations so writes land
// on open, syncing and committed state alike.
//
// ZVFS_SEED=n replays a run (the seed is printed); ZVFS_MODEL_OPS=n sets the operation count.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

#include "engine/blob/test_util.h"
#include "zvfs/blob.h"

namespace zvfs::engine {
namespace {

struct ModelBlob {
  std::vector<uint8_t> data;
  std::map<std::string, std::vector<uint8_t>> xattrs;
};

// Index of the first differing byte, or n if equal.
size_t first_diff(const uint8_t* a, const uint8_t* b, size_t n) {
  if (n == 0 || std::memcmp(a, b, n) == 0) return n;
  size_t i = 0;
  while (a[i] == b[i]) i++;
  return i;
}

uint64_t env_u64(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : dflt;
}

class ModelRun {
 public:
  ModelRun(uint64_t seed, uint32_t block_size) : rng_(seed) {
    cfg_ = testing::test_config();
    cfg_.block_size = block_size;
    cfg_.dirty_max_bytes = 4 << 20;
    cfg_.txg_interval_ms = 30;
    cfg_.cache_bytes = 4 << 20;
    auto p = Pool::create(testing::share(dev_), cfg_);
    EXPECT_TRUE(p.ok());
    pool_ = std::move(*p);
  }

  void run(uint64_t ops) {
    for (uint64_t i = 0; i < ops && !::testing::Test::HasFatalFailure(); i++) {
      step_ = i;
      one_op();
    }
    compare_all("end");
    reimport(true);
    compare_all("final import");
  }

 private:
  uint64_t rand(uint64_t n) { return n == 0 ? 0 : rng_() % n; }

  // Offsets cluster near block boundaries and the current end, where bugs live.
  uint64_t pick_off(uint64_t size) {
    switch (rand(4)) {
      case 0:
        return rand(size + 1);
      case 1:
        return rand(kMaxSize / 4096) * 4096 + (rand(2) ? 0 : 4096 - 1 - rand(8));
      case 2:
        return size > 0 ? size - std::min<uint64_t>(size, rand(5000)) : 0;
      default:
        return rand(kMaxSize);
    }
  }
  size_t pick_len() {
    switch (rand(4)) {
      case 0:
        return 1 + rand(16);
      case 1:
        return 4096 * (1 + rand(4));
      case 2:
        return 1 + rand(20000);
      default:
        return 1 + rand(4096);
    }
  }

  std::shared_ptr<Blob> handle(BlobId id) {
    auto it = handles_.find(id);
    if (it != handles_.end()) return it->second;
    auto b = pool_->open_blob(id);
    EXPECT_TRUE(b.ok()) << "open " << id << " step " << step_;
    if (!b.ok()) return nullptr;
    if (handles_.size() < 8) handles_[id] = *b;
    return *b;
  }

  BlobId pick_blob() {
    auto it = model_.begin();
    std::advance(it, rand(model_.size()));
    return it->first;
  }

  void one_op() {
    // Keep a bounded population (the pool must not fill up: ENOSPC has its own test).
    if (model_.empty() || (model_.size() < kMaxBlobs && rand(100) < 3)) {
      auto id = pool_->create_blob();
      ASSERT_TRUE(id.ok()) << "step " << step_;
      ASSERT_EQ(model_.count(*id), 0u);
      model_[*id];
      return;
    }
    const BlobId id = pick_blob();
    ModelBlob& m = model_[id];
    auto b = handle(id);
    ASSERT_TRUE(b) << "step " << step_;
    const int r = static_cast<int>(rand(1000));
    if (r < 300) {
      do_write(*b, m);
    } else if (r < 360) {
      std::vector<uint8_t> buf(pick_len(), static_cast<uint8_t>(step_));
      if (m.data.size() + buf.size() > kMaxSize) return;
      auto off = b->append(buf.data(), buf.size());
      ASSERT_TRUE(off.ok());
      ASSERT_EQ(*off, m.data.size()) << "step " << step_;
      m.data.insert(m.data.end(), buf.begin(), buf.end());
    } else if (r < 560) {
      do_read(*b, m);
    } else if (r < 610) {
      uint64_t ns = rand(3) == 0 ? pick_off(m.data.size()) : rand(m.data.size() + 1);
      if (ns > kMaxSize) ns = kMaxSize;
      ASSERT_TRUE(b->truncate(ns).ok());
      m.data.resize(ns, 0);
    } else if (r < 660) {
      uint64_t off = pick_off(m.data.size()), len = pick_len() * (rand(3) + 1);
      ASSERT_TRUE(b->punch_hole(off, len).ok());
      for (uint64_t i = off; i < std::min<uint64_t>(off + len, m.data.size()); i++) m.data[i] = 0;
    } else if (r < 700) {
      do_seek(*b, m);
    } else if (r < 760) {
      do_xattr(*b, m);
    } else if (r < 790) {
      ASSERT_EQ(b->size(), m.data.size()) << "step " << step_;
      auto st = b->stat();
      ASSERT_TRUE(st.ok());
      ASSERT_EQ(st->size, m.data.size());
      ASSERT_EQ(st->id, id);
    } else if (r < 810) {
      ASSERT_TRUE(b->sync().ok()) << "step " << step_;
    } else if (r < 820) {
      handles_.erase(id);
      ASSERT_TRUE(pool_->delete_blob(id).ok());
      uint8_t x;
      ASSERT_EQ(b->read(0, &x, 1).code(), ENOENT);
      model_.erase(id);
    } else if (r < 840) {
      compare_blob(id, *b, m, "spot check");
    } else if (r < 842) {
      ASSERT_TRUE(pool_->sync_all().ok());
    } else if (r < 843) {
      compare_list();
    } else if (r < 848) {
      if (rand(16) == 0) reimport(rand(2) == 0);
    } else if (r < 853) {
      handles_.clear();  // drop handles: objects get evicted and reloaded from disk
    } else {
      do_write(*b, m);
    }
  }

  void do_write(Blob& b, ModelBlob& m) {
    uint64_t off = pick_off(m.data.size());
    size_t len = pick_len();
    if (off + len > kMaxSize) return;
    std::vector<uint8_t> buf(len);
    const uint8_t base = static_cast<uint8_t>(rand(256));
    for (size_t i = 0; i < len; i++) buf[i] = static_cast<uint8_t>(base + i * 7 + (i >> 8));
    if (rand(10) == 0) std::fill(buf.begin(), buf.end(), 0);  // written zeros stay allocated
    auto w = b.write(off, buf.data(), len);
    ASSERT_TRUE(w.ok()) << "step " << step_ << ": " << w.error().msg;
    ASSERT_EQ(*w, len);
    if (m.data.size() < off + len) m.data.resize(off + len, 0);
    std::memcpy(m.data.data() + off, buf.data(), len);
    // Read-your-writes, immediately.
    std::vector<uint8_t> got(len);
    ASSERT_EQ(*b.read(off, got.data(), len), len);
    ASSERT_EQ(got, buf) << "step " << step_;
  }

  void do_read(Blob& b, const ModelBlob& m) {
    uint64_t off = pick_off(m.data.size());
    size_t len = pick_len();
    std::vector<uint8_t> got(len, 0xee);
    auto rd = b.read(off, got.data(), len);
    ASSERT_TRUE(rd.ok()) << "step " << step_;
    const size_t want = off >= m.data.size() ? 0 : std::min<size_t>(len, m.data.size() - off);
    ASSERT_EQ(*rd, want) << "step " << step_;
    ASSERT_EQ(first_diff(got.data(), m.data.data() + off, want), want)
        << "step " << step_ << " read at " << off;
  }

  void do_seek(Blob& b, const ModelBlob& m) {
    const uint64_t size = m.data.size();
    uint64_t off = rand(size + 2);
    auto d = b.seek_data(off);
    auto h = b.seek_hole(off);
    if (off >= size) {
      ASSERT_EQ(d.code(), ENXIO);
      ASSERT_EQ(h.code(), ENXIO);
      return;
    }
    ASSERT_TRUE(h.ok());
    ASSERT_GE(*h, off);
    ASSERT_LE(*h, size);
    // A reported hole holds zeros up to the next block boundary (or the end).
    for (uint64_t i = *h; i < std::min<uint64_t>(size, (*h / 4096 + 1) * 4096); i++) {
      ASSERT_EQ(m.data[i], 0) << "step " << step_ << " hole at " << *h;
    }
    // Everything the data search skipped over is zeros.
    uint64_t end = d.ok() ? *d : size;
    if (d.ok()) {
      ASSERT_GE(*d, off);
      ASSERT_LT(*d, size);
    } else {
      ASSERT_EQ(d.code(), ENXIO);
    }
    for (uint64_t i = off; i < end; i++) {
      ASSERT_EQ(m.data[i], 0) << "step " << step_ << " skipped data at " << i;
    }
  }

  void do_xattr(Blob& b, ModelBlob& m) {
    const std::string name = "user.x" + std::to_string(rand(6));
    const int r = static_cast<int>(rand(4));
    if (r == 0 || r == 1) {
      std::vector<uint8_t> v(rand(3) == 0 ? rand(3000) : rand(40));
      for (auto& c : v) c = static_cast<uint8_t>(rand(256));
      ASSERT_TRUE(b.set_xattr(name, v.data(), v.size()).ok());
      m.xattrs[name] = v;
    } else if (r == 2) {
      Status s = b.remove_xattr(name);
      ASSERT_EQ(s.code(), m.xattrs.erase(name) ? 0 : ENODATA) << "step " << step_;
    } else {
      auto v = b.get_xattr(name);
      auto it = m.xattrs.find(name);
      if (it == m.xattrs.end()) {
        ASSERT_EQ(v.code(), ENODATA) << "step " << step_;
      } else {
        ASSERT_TRUE(v.ok());
        ASSERT_EQ(*v, it->second) << "step " << step_;
      }
    }
  }

  void compare_blob(BlobId id, Blob& b, const ModelBlob& m, const char* when) {
    ASSERT_EQ(b.size(), m.data.size()) << when << " blob " << id << " step " << step_;
    std::vector<uint8_t> got(m.data.size());
    auto rd = b.read(0, got.data(), got.size());
    ASSERT_TRUE(rd.ok());
    ASSERT_EQ(*rd, got.size());
    ASSERT_EQ(first_diff(got.data(), m.data.data(), got.size()), got.size())
        << when << " blob " << id << " step " << step_;
    auto names = b.list_xattrs();
    ASSERT_TRUE(names.ok());
    std::vector<std::string> want;
    for (const auto& kv : m.xattrs) want.push_back(kv.first);
    ASSERT_EQ(*names, want) << when << " blob " << id;
    for (const auto& [k, v] : m.xattrs) ASSERT_EQ(*b.get_xattr(k), v);
  }

  void compare_list() {
    std::vector<BlobId> seen;
    ASSERT_TRUE(pool_
                    ->for_each_blob([&](const BlobStat& s) {
                      seen.push_back(s.id);
                      auto it = model_.find(s.id);
                      EXPECT_TRUE(it != model_.end()) << "unexpected blob " << s.id;
                      if (it != model_.end()) {
                        EXPECT_EQ(s.size, it->second.data.size()) << "blob " << s.id;
                      }
                      return true;
                    })
                    .ok());
    ASSERT_EQ(seen.size(), model_.size()) << "step " << step_;
  }

  void compare_all(const char* when) {
    compare_list();
    for (auto& [id, m] : model_) {
      auto b = pool_->open_blob(id);
      ASSERT_TRUE(b.ok()) << when << " blob " << id;
      compare_blob(id, **b, m, when);
    }
  }

  // clean: export and import. Otherwise sync every blob through the log and cut the power:
  // everything must come back exactly from the log.
  void reimport(bool clean) {
    handles_.clear();
    if (clean) {
      ASSERT_TRUE(pool_->export_pool().ok());
    } else {
      for (auto& [id, m] : model_) ASSERT_TRUE((*pool_->open_blob(id))->sync().ok());
      if (model_.empty()) {
        ASSERT_TRUE(pool_->sync_all().ok());
      }
      testing::abandon(*pool_);
    }
    pool_.reset();
    auto p = Pool::import(testing::share(dev_), cfg_);
    ASSERT_TRUE(p.ok()) << p.error().msg;
    pool_ = std::move(*p);
    compare_all(clean ? "after import" : "after power cut");
    auto rep = pool_->check();
    ASSERT_TRUE(rep.ok());
    ASSERT_TRUE(rep->consistent) << rep->problems[0];
  }

  static constexpr uint64_t kMaxSize = 160 * 1024;
  static constexpr size_t kMaxBlobs = 64;
  std::mt19937_64 rng_;
  std::shared_ptr<vdev::Vdev> dev_ = vdev::make_memory_vdev(96ull << 20);
  PoolConfig cfg_;
  std::unique_ptr<Pool> pool_;
  std::map<BlobId, ModelBlob> model_;
  std::map<BlobId, std::shared_ptr<Blob>> handles_;
  uint64_t step_ = 0;
};

void run_model(uint32_t block_size, uint64_t default_ops) {
  const uint64_t seed =
      env_u64("ZVFS_SEED",
              static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  const uint64_t ops = env_u64("ZVFS_MODEL_OPS", default_ops);
  std::printf(
      "model test: seed %llu, %llu operations, %u-byte blocks (replay with ZVFS_SEED=%llu)\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(ops), block_size,
      static_cast<unsigned long long>(seed));
  ModelRun run(seed, block_size);
  run.run(ops);
}

TEST(Model, RandomOperationsMatchModel) {
  run_model(4096, 100000);
}

// 16 KiB blocks (the default): blocks are stored short when their tail is zero, and the
// model's writes near sector boundaries land inside and past a block's stored part.
TEST(Model, RandomOperationsMatchModelWith16KiBBlocks) {
  run_model(16384, 100000);
}

}  // namespace
}  // namespace zvfs::engine
