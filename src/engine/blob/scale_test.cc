// scale_test.cc — a pool of many blobs and a blob of terabytes.
//
// What is checked is the shape of the cost, not a time: importing a pool reads the same few
// blocks whether it holds a thousand blobs or hundreds of thousands (no scan of the objects);
// finding a blob in a cold cache reads at most the height of the meta-object tree; a sparse
// blob of terabytes costs a handful of blocks, reads back zeros in its holes, and its data and
// holes are found by seeking. ZVFS_SCALE_BLOBS=n sets the number of blobs (the long run: 2M).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>

#include "engine/blob/test_util.h"
#include "zvfs/blob.h"

namespace zvfs::engine {
namespace {

using testing::share;

uint64_t env_u64(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : dflt;
}

PoolConfig config() {
  PoolConfig c = testing::test_config();
  c.block_size = 16384;
  c.cache_bytes = 8 << 20;  // far smaller than the meta-object: lookups go to the device
  c.dirty_max_bytes = 64 << 20;
  return c;
}

class ScaleTest : public ::testing::Test {
 protected:
  std::shared_ptr<vdev::Vdev> dev = vdev::make_memory_vdev(4ull << 30);
  std::unique_ptr<Pool> pool;

  void take(Result<std::unique_ptr<Pool>> p) {
    ASSERT_TRUE(p.ok()) << p.error().msg;
    pool = std::move(*p);
  }
  // Exports and imports the pool; returns the bytes the import read from the device.
  uint64_t reimport() {
    EXPECT_TRUE(pool->export_pool().ok());
    pool.reset();
    const uint64_t before = dev->stats().read_bytes;
    take(Pool::import(share(dev), config()));
    return dev->stats().read_bytes - before;
  }
  // Blob i's contents: every 16th holds 100 bytes; every one has a 32-byte xattr.
  static std::string data_of(uint64_t i) {
    return std::string(100, static_cast<char>('a' + i % 26));
  }
  void make_blobs(uint64_t first, uint64_t count, std::vector<BlobId>* ids) {
    for (uint64_t i = first; i < first + count; i++) {
      auto id = pool->create_blob();
      ASSERT_TRUE(id.ok()) << i;
      auto b = pool->open_blob(*id);
      ASSERT_TRUE(b.ok());
      if (i % 16 == 0) {
        ASSERT_TRUE((*b)->write(0, data_of(i).data(), 100).ok());
      }
      const uint64_t tag[4] = {i, ~i, i * 3, 7};
      ASSERT_TRUE((*b)->set_xattr("zvfs.owner", tag, sizeof tag).ok());
      ids->push_back(*id);
      if ((i + 1) % 50000 == 0) {
        ASSERT_TRUE(pool->sync_all().ok());
      }
    }
    ASSERT_TRUE(pool->sync_all().ok());
  }
  void expect_blob(BlobId id, uint64_t i) {
    auto b = pool->open_blob(id);
    ASSERT_TRUE(b.ok()) << i;
    const uint64_t tag[4] = {i, ~i, i * 3, 7};
    auto x = (*b)->get_xattr("zvfs.owner");
    ASSERT_TRUE(x.ok());
    ASSERT_EQ(x->size(), sizeof tag);
    EXPECT_EQ(std::memcmp(x->data(), tag, sizeof tag), 0) << i;
    if (i % 16 == 0) {
      char buf[100];
      ASSERT_EQ(*(*b)->read(0, buf, sizeof buf), sizeof buf);
      EXPECT_EQ(std::string(buf, 100), data_of(i));
    } else {
      EXPECT_EQ((*b)->size(), 0u);
    }
  }
};

TEST_F(ScaleTest, ImportAndLookupDoNotGrowWithTheNumberOfBlobs) {
  const uint64_t n = env_u64("ZVFS_SCALE_BLOBS", 200000);
  const uint64_t small = 1000;
  take(Pool::create(share(dev), config()));
  std::vector<BlobId> ids;
  make_blobs(0, small, &ids);
  const uint64_t read_small = reimport();
  make_blobs(small, n - small, &ids);
  const uint64_t read_large = reimport();
  std::printf("import read %llu bytes with %llu blobs, %llu bytes with %llu\n",
              static_cast<unsigned long long>(read_small), static_cast<unsigned long long>(small),
              static_cast<unsigned long long>(read_large), static_cast<unsigned long long>(n));
  // The uberblock ring, the log and the space map (condensed: a few records per allocated
  // range), nothing per blob.
  EXPECT_LT(read_large, read_small + (4u << 20));
  EXPECT_EQ(pool->stats().blob_count, n);

  // Cold lookups: each reads at most the meta-object tree's height in blocks (3 levels for
  // up to 4M blobs at 64 dnodes per leaf and 256 pointers per indirect block) plus the blob's
  // data block.
  std::mt19937_64 rng(n);
  constexpr int kLookups = 2000;
  const uint64_t reads_before = dev->stats().reads;
  for (int k = 0; k < kLookups; k++) {
    const uint64_t i = rng() % n;
    expect_blob(ids[i], i);
    if (::testing::Test::HasFailure()) return;
  }
  const double per_lookup =
      static_cast<double>(dev->stats().reads - reads_before) / static_cast<double>(kLookups);
  std::printf("%.2f device reads per cold lookup\n", per_lookup);
  EXPECT_LE(per_lookup, 4.0);

  uint64_t listed = 0;
  ASSERT_TRUE(pool->for_each_blob([&](const BlobStat&) {
                    listed++;
                    return true;
                  })
                  .ok());
  EXPECT_EQ(listed, n);
  // Small blobs take a sector each, the rest only their dnodes: n/16 x 4 KiB + n x 256 B;
  // besides, the meta-object's indirect blocks (one of 16 KiB per 16,384 blobs) and the space
  // map.
  const uint64_t expect = n / 16 * 4096 + n * 256;
  EXPECT_LT(pool->stats().allocated_bytes, expect + expect / 4 + (8u << 20))
      << pool->stats().allocated_bytes;
}

TEST_F(ScaleTest, ATerabyteBlobIsSparseAndSeeksToItsData) {
  take(Pool::create(share(dev), config()));
  auto id = *pool->create_blob();
  auto b = *pool->open_blob(id);
  constexpr uint64_t kTiB = 1ull << 40;
  const uint64_t offs[] = {0, kTiB, 16 * kTiB - 4096, 100 * kTiB};
  for (uint64_t off : offs) ASSERT_TRUE(b->write(off, "tera", 4).ok()) << off;
  EXPECT_EQ(b->size(), 100 * kTiB + 4);
  ASSERT_TRUE(pool->sync_all().ok());
  const uint64_t used = pool->stats().allocated_bytes;
  b.reset();
  reimport();
  b = *pool->open_blob(id);
  for (uint64_t off : offs) {
    char buf[8] = {};
    ASSERT_EQ(*b->read(off, buf, 4), 4u);
    EXPECT_EQ(std::string(buf, 4), "tera") << off;
  }
  char z[4096];
  ASSERT_EQ(*b->read(50 * kTiB, z, sizeof z), sizeof z);
  EXPECT_EQ(std::count(z, z + sizeof z, 0), static_cast<long>(sizeof z)) << "a hole reads as zeros";
  // Seeking finds the data blocks across the terabytes of holes.
  EXPECT_EQ(*b->seek_data(1), 1u) << "inside the first block's data";
  EXPECT_EQ(*b->seek_data(16384), kTiB);
  EXPECT_EQ(*b->seek_data(kTiB + 16384), 16 * kTiB - 16384);
  EXPECT_EQ(*b->seek_hole(kTiB), kTiB + 16384);
  EXPECT_EQ(*b->seek_data(16 * kTiB), 100 * kTiB);
  EXPECT_EQ(b->stat()->allocated_bytes, 4u * 16384);
  // Four data blocks and the indirect blocks on their paths (5 levels for 100 TiB): well under
  // a MiB, however large the blob.
  EXPECT_LT(used, 1u << 20) << used;
  // Truncating back to a megabyte frees the far blocks and their indirect blocks.
  ASSERT_TRUE(b->truncate(1 << 20).ok());
  ASSERT_TRUE(pool->sync_all().ok());
  for (int i = 0; i < 3; i++) ASSERT_TRUE(pool->sync_all().ok());  // deferred frees come back
  EXPECT_EQ(b->size(), 1u << 20);
  EXPECT_EQ(*b->seek_data(0), 0u);
  EXPECT_EQ(b->seek_data(16384).code(), ENXIO);
  auto c = pool->check();
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->consistent) << (c->problems.empty() ? "" : c->problems.front());
}

}  // namespace
}  // namespace zvfs::engine
