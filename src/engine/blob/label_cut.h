// label_cut.h — test helper for the operations that rewrite a pool's labels (upgrade, grow):
// a power cut at either of their two label writes, whatever happens to the write in flight,
// must leave a pool that imports with its data.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "engine/blob/pool_testing.h"
#include "engine/blob/test_util.h"
#include "engine/vdev/fault_vdev.h"
#include "zvfs/blob.h"

namespace zvfs::engine::testing {

// Creates a pool on dev with one blob holding "payload", exports it, and returns the blob's id.
inline BlobId make_payload_pool(const std::shared_ptr<vdev::FaultVdev>& dev,
                                const PoolConfig& cfg) {
  auto p = Pool::create(share(dev), cfg);
  EXPECT_TRUE(p.ok());
  if (!p.ok()) return 0;
  BlobId id = *(*p)->create_blob();
  EXPECT_TRUE((*(*p)->open_blob(id))->write(0, "payload", 7).ok());
  EXPECT_TRUE((*p)->export_pool().ok());
  return id;
}

// For seeds 1..seeds, label writes 1 and 2 of `change`, and every fate of the write in flight:
// prepare(seed, &id) returns the device of an exported pool whose blob `id` holds "payload";
// the pool is imported, the power cut at that write of change(pool); imported again from what
// reached the medium, the blob must read "payload", check() must be clean, and verify(pool)
// checks the rest. A torn label is whole when its first and last sectors come from the same
// write, so several seeds are needed to catch two copies written unordered.
template <class Prepare, class Change, class Verify>
void expect_label_cuts_survived(uint64_t seeds, const PoolConfig& cfg, Prepare prepare,
                                Change change, Verify verify) {
  const vdev::CutFate fates[] = {vdev::CutFate::kTearAll, vdev::CutFate::kDropAll,
                                 vdev::CutFate::kKeepAll, vdev::CutFate::kRandom};
  for (uint64_t seed = 1; seed <= seeds; seed++) {
    for (uint64_t k = 1; k <= 2; k++) {
      for (vdev::CutFate fate : fates) {
        SCOPED_TRACE("seed " + std::to_string(seed) + ", label write " + std::to_string(k) +
                     ", fate " + std::to_string(static_cast<int>(fate)));
        BlobId id = 0;
        std::shared_ptr<vdev::FaultVdev> dev = prepare(seed, &id);
        ASSERT_TRUE(dev);
        auto p = Pool::import(share(dev), cfg);
        ASSERT_TRUE(p.ok());
        dev->set_cut_fate(fate);
        dev->arm_power_cut_at_write(dev->write_count() + k);
        EXPECT_FALSE(change(**p)) << "the power went out under it";
        abandon(**p);
        p->reset();
        std::shared_ptr<vdev::Vdev> after = dev->reboot(seed * 2 + k);
        auto q = Pool::import(share(after), cfg);
        ASSERT_TRUE(q.ok()) << q.error().msg;
        char buf[7];
        ASSERT_EQ(*(*(*q)->open_blob(id))->read(0, buf, 7), 7u);
        EXPECT_EQ(std::string(buf, 7), "payload");
        auto c = (*q)->check();
        ASSERT_TRUE(c.ok());
        EXPECT_TRUE(c->consistent);
        verify(**q);
      }
    }
  }
}

}  // namespace zvfs::engine::testing
