// test_util.h — helpers for the engine's tests: a vdev that outlives the pool using it, so a
// test can abandon a pool (power cut) and import the same device image again.
#pragma once

#include <memory>

#include "engine/blob/pool_testing.h"
#include "engine/vdev/vdev.h"
#include "zvfs/blob.h"

namespace zvfs::engine::testing {

class SharedVdev final : public vdev::Vdev {
 public:
  explicit SharedVdev(std::shared_ptr<vdev::Vdev> d) : d_(std::move(d)) {}
  uint64_t size() const override { return d_->size(); }
  int submit(std::span<vdev::IoReq> reqs) override { return d_->submit(reqs); }
  int flush() override { return d_->flush(); }
  vdev::VdevStats stats() const override { return d_->stats(); }
  std::string describe() const override { return d_->describe(); }
  int64_t host_free_bytes() const override { return d_->host_free_bytes(); }

 private:
  std::shared_ptr<vdev::Vdev> d_;
};

inline std::unique_ptr<vdev::Vdev> share(const std::shared_ptr<vdev::Vdev>& d) {
  return std::make_unique<SharedVdev>(d);
}

// Small, fast settings for tests: commits only when asked (or when the dirty limit forces).
inline PoolConfig test_config() {
  PoolConfig c;
  c.block_size = 4096;
  c.cache_bytes = 16 << 20;
  c.dirty_max_bytes = 32 << 20;
  c.txg_interval_ms = 60000;
  c.log_bytes = 4 << 20;
  return c;
}

}  // namespace zvfs::engine::testing
