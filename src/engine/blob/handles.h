// handles.h — the Pool and Blob objects handed out by the engine (thin handles on PoolCore).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "engine/blob/pool_core.h"
#include "engine/dmu/range_set.h"
#include "zvfs/blob.h"

namespace zvfs::engine {

class PoolImpl final : public Pool {
 public:
  explicit PoolImpl(std::shared_ptr<PoolCore> core) : core_(std::move(core)) {}
  // Dropping a pool that was not exported commits and exports it (never silently loses data).
  ~PoolImpl() override;

  Status export_pool() override;
  Result<BlobId> create_blob() override;
  Result<std::shared_ptr<Blob>> open_blob(BlobId id) override;
  Status delete_blob(BlobId id) override;
  Status for_each_blob(const std::function<bool(const BlobStat&)>& fn) override;
  Status sync_all() override;
  PoolStats stats() const override;
  Result<ScrubReport> scrub(const std::function<void(const ScrubProgress&)>& progress) override;
  Result<CheckReport> check() override;
  Result<uint32_t> upgrade_format() override;
  Result<uint64_t> grow() override;

  PoolCore& core() { return *core_; }

 private:
  std::shared_ptr<PoolCore> core_;
};

class BlobImpl final : public Blob {
 public:
  BlobImpl(std::shared_ptr<PoolCore> core, std::shared_ptr<dmu::Object> obj)
      : core_(std::move(core)), obj_(std::move(obj)) {}
  ~BlobImpl() override;  // gives back what allocate() set aside and no write took

  BlobId id() const override { return obj_->id; }
  Result<size_t> read(uint64_t off, void* buf, size_t len) override;
  Result<size_t> write(uint64_t off, const void* buf, size_t len) override;
  Result<uint64_t> append(const void* buf, size_t len) override;
  Status truncate(uint64_t size) override;
  Status punch_hole(uint64_t off, uint64_t len) override;
  Status allocate(uint64_t off, uint64_t len, bool keep_size) override;
  Status sync() override;
  uint64_t size() const override;
  Result<BlobStat> stat() override;
  Result<uint64_t> seek_data(uint64_t off) override;
  Result<uint64_t> seek_hole(uint64_t off) override;
  Result<std::vector<uint8_t>> get_xattr(std::string_view name) override;
  Status set_xattr(std::string_view name, const void* value, size_t len) override;
  Status remove_xattr(std::string_view name) override;
  Result<std::vector<std::string>> list_xattrs() override;

 private:
  // A write's admission: without a space check if every block it touches was set aside by
  // allocate() (then those blocks' space is the write's and they leave the set-aside).
  Status admit_write(uint64_t off, uint64_t len);
  bool set_aside_covers(uint64_t off, uint64_t len);
  void take_set_aside(uint64_t b0, uint64_t b1);  // gives back blocks [b0, b1) of it

  std::shared_ptr<PoolCore> core_;
  std::shared_ptr<dmu::Object> obj_;
  // Blocks (block numbers) allocate() set aside pool space for that no write took yet; their
  // space is counted in PoolCore's reserve()d bytes until taken or the handle goes.
  std::mutex set_aside_mu_;
  dmu::RangeSet set_aside_;
  std::atomic<bool> has_set_aside_{false};  // !set_aside_.empty(): writes skip the mutex
};

}  // namespace zvfs::engine
