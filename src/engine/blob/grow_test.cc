// grow_test.cc — a pool taking in a larger device: Pool::grow().
//
// The device (a pool file, here also a fault-injecting image) is made larger first; grow()
// rewrites the labels for the new size, the copy at the new end first, and the next import
// has the larger data region. A power cut at either label write leaves a pool that imports,
// at the old size or the new one, with its data.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "engine/blob/label_cut.h"
#include "engine/blob/pool_testing.h"
#include "engine/blob/test_util.h"
#include "zvfs/blob.h"

namespace zvfs::engine {
namespace {

using testing::share;

constexpr uint64_t kMiB = 1ull << 20;

PoolConfig config() {
  PoolConfig c = testing::test_config();
  c.create_size = 64 * kMiB;
  return c;
}

void write_pattern(Pool& pool, BlobId id, uint64_t bytes, char c) {
  auto b = pool.open_blob(id);
  ASSERT_TRUE(b.ok());
  std::vector<char> data(1 << 20, c);
  for (uint64_t off = 0; off < bytes; off += data.size()) {
    auto n = (*b)->write(off, data.data(), data.size());
    ASSERT_TRUE(n.ok()) << off << ": " << n.error().msg;
  }
}

TEST(Grow, APoolFileMadeLargerHoldsMoreAfterGrow) {
  auto dir = std::filesystem::temp_directory_path() / ("zvfs_grow_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "pool").string();
  BlobId id;
  uint64_t size_before;
  {
    auto p = Pool::create(path, config());
    ASSERT_TRUE(p.ok()) << p.error().msg;
    size_before = (*p)->stats().size_bytes;
    id = *(*p)->create_blob();
    write_pattern(**p, id, 8 * kMiB, 'a');
    // More than the pool can hold is refused.
    auto big = *(*p)->create_blob();
    auto b = *(*p)->open_blob(big);
    std::vector<char> mib(kMiB, 'b');
    bool full = false;
    for (int i = 0; i < 80 && !full; i++) full = !b->write(i * kMiB, mib.data(), kMiB).ok();
    EXPECT_TRUE(full) << "80 MiB fit in a 64 MiB pool";
    ASSERT_TRUE((*p)->delete_blob(big).ok());
    ASSERT_TRUE((*p)->export_pool().ok());
  }
  ASSERT_EQ(truncate(path.c_str(), 256 * kMiB), 0);
  {
    auto p = Pool::import(path, config());
    ASSERT_TRUE(p.ok()) << p.error().msg;
    EXPECT_EQ((*p)->stats().size_bytes, size_before) << "the labels still say 64 MiB";
    auto grown = (*p)->grow();
    ASSERT_TRUE(grown.ok()) << grown.error().msg;
    EXPECT_GT(*grown, size_before + 180 * kMiB);
    ASSERT_TRUE((*p)->export_pool().ok());
  }
  {
    auto p = Pool::import(path, config());
    ASSERT_TRUE(p.ok()) << p.error().msg;
    EXPECT_GT((*p)->stats().size_bytes, size_before + 180 * kMiB);
    auto b = *(*p)->open_blob(id);
    std::vector<char> got(8 * kMiB);
    ASSERT_EQ(*b->read(0, got.data(), got.size()), got.size());
    EXPECT_EQ(std::count(got.begin(), got.end(), 'a'), static_cast<long>(got.size()));
    // 150 MiB now fit, and the pool stays consistent.
    auto more = *(*p)->create_blob();
    write_pattern(**p, more, 150 * kMiB, 'c');
    ASSERT_TRUE((*p)->sync_all().ok());
    auto c = (*p)->check();
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(c->consistent) << (c->problems.empty() ? "" : c->problems.front());
    // Growing again to the same size changes nothing.
    auto again = (*p)->grow();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, (*p)->stats().size_bytes);
    ASSERT_TRUE((*p)->export_pool().ok());
  }
  std::filesystem::remove_all(dir);
}

// The image of `small` (a pool of its size) at the start of a device of `size` bytes.
std::shared_ptr<vdev::FaultVdev> enlarged(vdev::FaultVdev& small, uint64_t size, uint64_t seed) {
  std::vector<uint8_t> img(size, 0);
  EXPECT_TRUE(small.peek(0, img.data(), small.size()));
  return vdev::FaultVdev::from_image(img.data(), img.size(), seed);
}

TEST(Grow, APowerCutAtEitherLabelWriteLeavesAnImportablePool) {
  uint64_t old_size = 0;
  testing::expect_label_cuts_survived(
      4, config(),
      [&](uint64_t seed, BlobId* id) {
        auto small = std::make_shared<vdev::FaultVdev>(32 * kMiB, seed);
        *id = testing::make_payload_pool(small, config());
        auto dev = enlarged(*small, 64 * kMiB, seed);
        auto p = Pool::import(share(dev), config());
        EXPECT_TRUE(p.ok());
        if (!p.ok()) return dev;
        old_size = (*p)->stats().size_bytes;
        EXPECT_TRUE((*p)->export_pool().ok());
        return dev;
      },
      [](Pool& p) { return p.grow().ok(); },
      [&](Pool& p) {
        const uint64_t size = p.stats().size_bytes;
        EXPECT_TRUE(size == old_size || size > old_size + 30 * kMiB) << size;
      });
}

}  // namespace
}  // namespace zvfs::engine
