// mem_pool.h — a small in-memory implementation of the engine's Pool/Blob API for the daemon's
// in-process tests: it lets the session, binding and lifetime logic be tested on its own, with
// exact expectations (sizes, deletes, xattrs), independent of the storage engine's timing.
// The end-to-end tests (zvfsd_e2e_test) run the real engine.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>

#include "zvfs/blob.h"

namespace zvfs::testing {

// Set to an errno: every MemBlob write fails with it (tests of how write failures are reported).
inline std::atomic<int> g_mem_write_error{0};
// While true, every MemBlob sync waits (a device flush that takes its time); g_mem_syncs_held
// counts the syncs waiting there.
inline std::atomic<bool> g_mem_sync_hold{false};
inline std::atomic<int> g_mem_syncs_held{0};

class MemBlob : public engine::Blob {
 public:
  explicit MemBlob(engine::BlobId id) : id_(id) {}
  engine::BlobId id() const override { return id_; }
  Result<size_t> read(uint64_t off, void* buf, size_t len) override {
    std::lock_guard<std::mutex> g(mu_);
    if (deleted_) return make_error(ENOENT, "deleted");
    if (off >= data_.size()) return size_t{0};
    size_t n = std::min<uint64_t>(len, data_.size() - off);
    memcpy(buf, data_.data() + off, n);
    return n;
  }
  Result<size_t> write(uint64_t off, const void* buf, size_t len) override {
    std::lock_guard<std::mutex> g(mu_);
    if (deleted_) return make_error(ENOENT, "deleted");
    if (int e = g_mem_write_error.load()) return make_error(e, "injected write error");
    if (off + len > (1ull << 31)) return make_error(ENOSPC, "mem pool full");
    if (data_.size() < off + len) data_.resize(off + len);
    memcpy(data_.data() + off, buf, len);
    return len;
  }
  Result<uint64_t> append(const void* buf, size_t len) override {
    std::lock_guard<std::mutex> g(mu_);
    uint64_t off = data_.size();
    data_.resize(off + len);
    memcpy(data_.data() + off, buf, len);
    return off;
  }
  Status truncate(uint64_t size) override {
    std::lock_guard<std::mutex> g(mu_);
    if (size > (1ull << 31)) return make_error(ENOSPC, "mem pool full");
    data_.resize(size);
    return ok_status();
  }
  Status punch_hole(uint64_t off, uint64_t len) override {
    std::lock_guard<std::mutex> g(mu_);
    if (off < data_.size())
      memset(data_.data() + off, 0, std::min<uint64_t>(len, data_.size() - off));
    return ok_status();
  }
  Status allocate(uint64_t off, uint64_t len, bool keep_size) override {
    std::lock_guard<std::mutex> g(mu_);
    if (off + len > (1ull << 31)) return make_error(ENOSPC, "mem pool full");
    if (!keep_size && data_.size() < off + len) data_.resize(off + len);
    return ok_status();
  }
  Status sync() override {
    if (g_mem_sync_hold.load()) {
      g_mem_syncs_held.fetch_add(1);
      while (g_mem_sync_hold.load()) usleep(1000);
      g_mem_syncs_held.fetch_sub(1);
    }
    std::lock_guard<std::mutex> g(mu_);
    syncs_++;
    return deleted_ ? Status(make_error(ENOENT, "deleted")) : ok_status();
  }
  uint64_t size() const override {
    std::lock_guard<std::mutex> g(mu_);
    return data_.size();
  }
  Result<engine::BlobStat> stat() override {
    std::lock_guard<std::mutex> g(mu_);
    engine::BlobStat s;
    s.id = id_;
    s.size = data_.size();
    s.allocated_bytes = data_.size();
    return s;
  }
  Result<uint64_t> seek_data(uint64_t off) override {
    if (off >= size()) return make_error(ENXIO, "past end");
    return off;
  }
  Result<uint64_t> seek_hole(uint64_t off) override {
    if (off >= size()) return make_error(ENXIO, "past end");
    return size();
  }
  Result<std::vector<uint8_t>> get_xattr(std::string_view name) override {
    std::lock_guard<std::mutex> g(mu_);
    auto it = xattrs_.find(std::string(name));
    if (it == xattrs_.end()) return make_error(ENODATA, "no xattr");
    return it->second;
  }
  Status set_xattr(std::string_view name, const void* v, size_t len) override {
    std::lock_guard<std::mutex> g(mu_);
    auto* p = static_cast<const uint8_t*>(v);
    xattrs_[std::string(name)] = std::vector<uint8_t>(p, p + len);
    return ok_status();
  }
  Status remove_xattr(std::string_view name) override {
    std::lock_guard<std::mutex> g(mu_);
    return xattrs_.erase(std::string(name)) ? ok_status() : Status(make_error(ENODATA, "no xattr"));
  }
  Result<std::vector<std::string>> list_xattrs() override {
    std::lock_guard<std::mutex> g(mu_);
    std::vector<std::string> v;
    for (auto& [k, _] : xattrs_) v.push_back(k);
    return v;
  }
  void mark_deleted() {
    std::lock_guard<std::mutex> g(mu_);
    deleted_ = true;
  }
  uint64_t syncs() const {
    std::lock_guard<std::mutex> g(mu_);
    return syncs_;
  }

 private:
  engine::BlobId id_;
  mutable std::mutex mu_;
  std::vector<uint8_t> data_;
  std::map<std::string, std::vector<uint8_t>> xattrs_;
  bool deleted_ = false;
  uint64_t syncs_ = 0;
};

class MemPool : public engine::Pool {
 public:
  Status export_pool() override { return ok_status(); }
  Result<engine::BlobId> create_blob() override {
    std::lock_guard<std::mutex> g(mu_);
    engine::BlobId id = next_++;
    blobs_[id] = std::make_shared<MemBlob>(id);
    return id;
  }
  Result<std::shared_ptr<engine::Blob>> open_blob(engine::BlobId id) override {
    std::lock_guard<std::mutex> g(mu_);
    auto it = blobs_.find(id);
    if (it == blobs_.end()) return make_error(ENOENT, "no such blob");
    return std::shared_ptr<engine::Blob>(it->second);
  }
  Status delete_blob(engine::BlobId id) override {
    std::lock_guard<std::mutex> g(mu_);
    auto it = blobs_.find(id);
    if (it == blobs_.end()) return make_error(ENOENT, "no such blob");
    it->second->mark_deleted();
    blobs_.erase(it);
    return ok_status();
  }
  Status for_each_blob(const std::function<bool(const engine::BlobStat&)>& fn) override {
    std::vector<std::shared_ptr<MemBlob>> all;
    {
      std::lock_guard<std::mutex> g(mu_);
      for (auto& [_, b] : blobs_) all.push_back(b);
    }
    for (auto& b : all)
      if (!fn(*b->stat())) break;
    return ok_status();
  }
  Status sync_all() override { return ok_status(); }
  engine::PoolStats stats() const override {
    std::lock_guard<std::mutex> g(mu_);
    engine::PoolStats s;
    s.blob_count = blobs_.size();
    s.size_bytes = 1ull << 30;
    s.free_bytes = 1ull << 30;
    return s;
  }
  Result<engine::ScrubReport> scrub(
      const std::function<void(const engine::ScrubProgress&)>& p) override {
    if (p) p(engine::ScrubProgress{1, 1});
    return engine::ScrubReport{};
  }
  Result<engine::CheckReport> check() override { return engine::CheckReport{}; }
  // An in-memory pool has no on-disk format to move.
  Result<uint32_t> upgrade_format() override { return engine::kPoolFormatVersion; }
  Result<uint64_t> grow() override { return uint64_t{1} << 30; }

  size_t count() const {
    std::lock_guard<std::mutex> g(mu_);
    return blobs_.size();
  }
  std::shared_ptr<MemBlob> get(engine::BlobId id) const {
    std::lock_guard<std::mutex> g(mu_);
    auto it = blobs_.find(id);
    return it == blobs_.end() ? nullptr : it->second;
  }

 private:
  mutable std::mutex mu_;
  engine::BlobId next_ = 1;
  std::map<engine::BlobId, std::shared_ptr<MemBlob>> blobs_;
};

}  // namespace zvfs::testing
