// small_blocks_test.cc — how little a small blob costs on disk (format 2), and that a
// version-1 pool is still read and written in version-1 form.
//
// Format 2 stores a data block only up to the 4 KiB sector holding its last non-zero byte, the
// last xattr leaf only up to the stream's end, and an xattr stream of up to 128 bytes inside
// the dnode (no block at all). A 100-byte file with its owner tag thus takes one 4 KiB sector
// and a share of a dnode block, where whole blocks took 32 KiB.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/blob/label_cut.h"
#include "engine/blob/pool_testing.h"
#include "engine/blob/test_util.h"
#include "engine/dmu/dnode.h"
#include "engine/spa/label.h"
#include "engine/zio/zio.h"
#include "zvfs/blob.h"

namespace zvfs::engine {
namespace {

using testing::share;

constexpr uint32_t kBlock = 16384;
constexpr int kBlobs = 64;

PoolConfig config() {
  PoolConfig c = testing::test_config();
  c.block_size = kBlock;  // the default: tails matter only when a block is more than a sector
  return c;
}

class SmallBlocksTest : public ::testing::Test {
 protected:
  std::shared_ptr<vdev::Vdev> dev = vdev::make_memory_vdev(256ull << 20);
  std::unique_ptr<Pool> pool;

  void take(Result<std::unique_ptr<Pool>> p) {
    ASSERT_TRUE(p.ok()) << p.error().msg;
    pool = std::move(*p);
  }
  void create() { take(Pool::create(share(dev), config())); }
  void reimport() {
    ASSERT_TRUE(pool->export_pool().ok());
    pool.reset();
    take(Pool::import(share(dev), config()));
  }
  // Exports the pool and returns the format version its label carries.
  uint32_t export_and_read_version() {
    EXPECT_TRUE(pool->export_pool().ok());
    pool.reset();
    zio::Pipeline z(*dev);
    auto label = spa::read_label(z);
    EXPECT_TRUE(label.ok());
    return label.ok() ? label->version : 0;
  }
  // A new pool whose labels then say format 1, imported.
  void create_version_1() {
    create();
    ASSERT_EQ(export_and_read_version(), spa::kFormatVersion);
    set_version(1);
    take(Pool::import(share(dev), config()));
  }
  // Rewrites both labels of the exported pool with another format version.
  void set_version(uint32_t version) {
    zio::Pipeline z(*dev);
    auto label = spa::read_label(z);
    ASSERT_TRUE(label.ok());
    label->version = version;
    ASSERT_TRUE(spa::write_labels(z, *label).ok());
  }
  uint64_t allocated() {
    EXPECT_TRUE(pool->sync_all().ok());
    return pool->stats().allocated_bytes;
  }
  void expect_consistent() {
    auto c = pool->check();
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(c->consistent) << (c->problems.empty() ? "" : c->problems.front());
  }
  // kBlobs blobs of 100 bytes, each with a 32-byte xattr (the size of the daemon's owner tag).
  std::vector<BlobId> make_small_blobs() {
    std::vector<BlobId> ids;
    for (int i = 0; i < kBlobs; i++) {
      auto id = pool->create_blob();
      EXPECT_TRUE(id.ok());
      auto b = pool->open_blob(*id);
      EXPECT_TRUE(b.ok());
      std::string data(100, static_cast<char>('a' + i % 26));
      EXPECT_TRUE((*b)->write(0, data.data(), data.size()).ok());
      uint8_t tag[32];
      std::memset(tag, i, sizeof tag);
      EXPECT_TRUE((*b)->set_xattr("zvfs.owner", tag, sizeof tag).ok());
      ids.push_back(*id);
    }
    return ids;
  }
  testing::StoredShape shape(BlobId id) {
    auto s = testing::stored_shape(*pool, id);
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : testing::StoredShape{};
  }
  void expect_small_blobs(const std::vector<BlobId>& ids) {
    for (size_t i = 0; i < ids.size(); i++) {
      auto b = pool->open_blob(ids[i]);
      ASSERT_TRUE(b.ok());
      ASSERT_EQ((*b)->size(), 100u);
      char buf[100];
      ASSERT_EQ(*(*b)->read(0, buf, sizeof buf), sizeof buf);
      EXPECT_EQ(std::string(buf, 100), std::string(100, static_cast<char>('a' + i % 26)));
      auto tag = (*b)->get_xattr("zvfs.owner");
      ASSERT_TRUE(tag.ok());
      EXPECT_EQ(*tag, std::vector<uint8_t>(32, static_cast<uint8_t>(i)));
    }
  }
};

TEST_F(SmallBlocksTest, SmallBlobsTakeOneSectorAndNoXattrBlock) {
  create();
  const uint64_t before = allocated();
  const auto ids = make_small_blobs();
  const uint64_t used = allocated() - before;
  // The data: one sector per blob. Besides it: the dnode block (16 KiB), its tree and the
  // space map's new block. Whole blocks would be 64 x (16 KiB data + 16 KiB xattr) = 2 MiB.
  EXPECT_GE(used, uint64_t{kBlobs} * 4096);
  EXPECT_LE(used, uint64_t{kBlobs} * 4096 + 192 * 1024) << used;
  for (BlobId id : ids) {
    const testing::StoredShape s = shape(id);
    EXPECT_EQ(s.data_root_level, 0);
    EXPECT_EQ(s.data_root_lsize, 4096u);
    EXPECT_TRUE(s.xattrs_in_dnode);
    EXPECT_EQ(s.xattr_root_lsize, 0u);
    EXPECT_EQ((*pool->open_blob(id))->stat()->allocated_bytes, 4096u) << "st_blocks: 8";
  }
  expect_small_blobs(ids);
  reimport();
  expect_small_blobs(ids);
  expect_consistent();
}

TEST_F(SmallBlocksTest, BytesPastAShortBlockReadAsZeroAndCanBeWritten) {
  create();
  auto id = *pool->create_blob();
  auto b = *pool->open_blob(id);
  ASSERT_TRUE(b->write(0, "head", 4).ok());
  ASSERT_TRUE(b->truncate(kBlock).ok());  // the block's tail is zero: stored short
  ASSERT_TRUE(pool->sync_all().ok());
  b.reset();
  reimport();  // the block now comes from disk, one sector long
  b = *pool->open_blob(id);
  std::vector<char> got(kBlock, 'x');
  ASSERT_EQ(*b->read(0, got.data(), got.size()), size_t{kBlock});
  std::vector<char> want(kBlock, 0);
  std::memcpy(want.data(), "head", 4);
  EXPECT_EQ(got, want);
  // Writes into the part that is not stored, read-modify-write of the short block.
  ASSERT_TRUE(b->write(kBlock - 3, "end", 3).ok());
  ASSERT_TRUE(b->write(6000, "mid", 3).ok());
  std::memcpy(want.data() + kBlock - 3, "end", 3);
  std::memcpy(want.data() + 6000, "mid", 3);
  ASSERT_TRUE(pool->sync_all().ok());
  b.reset();
  reimport();
  b = *pool->open_blob(id);
  std::fill(got.begin(), got.end(), 'x');
  ASSERT_EQ(*b->read(0, got.data(), got.size()), size_t{kBlock});
  EXPECT_EQ(got, want);
  // An unaligned read that starts past the stored sector.
  char tail[10];
  ASSERT_EQ(*b->read(kBlock - 10, tail, sizeof tail), sizeof tail);
  EXPECT_EQ(std::string(tail, 10), std::string(7, '\0') + "end");
  expect_consistent();
}

TEST_F(SmallBlocksTest, AllocatedBytesOfADenseBlobEndAtItsLastSector) {
  create();
  auto id = *pool->create_blob();
  auto b = *pool->open_blob(id);
  std::vector<uint8_t> data(100000, 7);
  ASSERT_TRUE(b->write(0, data.data(), data.size()).ok());
  EXPECT_EQ(b->stat()->allocated_bytes, 102400u) << "before the commit";
  ASSERT_TRUE(pool->sync_all().ok());
  EXPECT_EQ(b->stat()->allocated_bytes, 102400u) << "after it";
  uint64_t listed = 0;
  ASSERT_TRUE(pool->for_each_blob([&](const BlobStat& s) {
                    if (s.id == id) listed = s.allocated_bytes;
                    return true;
                  })
                  .ok());
  EXPECT_EQ(listed, 102400u);
}

TEST_F(SmallBlocksTest, XattrsMoveBetweenTheDnodeAndATreeAndFreeWhatTheyLeave) {
  create();
  auto id = *pool->create_blob();
  auto b = *pool->open_blob(id);
  ASSERT_TRUE(b->set_xattr("user.s", "small", 5).ok());
  ASSERT_TRUE(pool->sync_all().ok());
  EXPECT_TRUE(shape(id).xattrs_in_dnode) << "a small stream lives in the dnode";
  EXPECT_EQ(shape(id).xattr_root_lsize, 0u);
  std::vector<uint8_t> big(5000, 9);
  ASSERT_TRUE(b->set_xattr("user.big", big.data(), big.size()).ok());
  ASSERT_TRUE(pool->sync_all().ok());
  EXPECT_FALSE(shape(id).xattrs_in_dnode);
  EXPECT_EQ(shape(id).xattr_root_lsize, 8192u) << "one leaf, as long as the stream's sectors";
  b.reset();
  reimport();
  b = *pool->open_blob(id);
  EXPECT_EQ(*b->get_xattr("user.big"), big);
  ASSERT_TRUE(b->remove_xattr("user.big").ok());
  auto small = b->get_xattr("user.s");
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(std::string(small->begin(), small->end()), "small");
  ASSERT_TRUE(pool->sync_all().ok());
  EXPECT_TRUE(shape(id).xattrs_in_dnode) << "back in the dnode";
  EXPECT_EQ(shape(id).xattr_root_lsize, 0u);
  expect_consistent();  // the leaf was freed, not leaked
  b.reset();
  reimport();
  b = *pool->open_blob(id);
  auto names = b->list_xattrs();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"user.s"});
  ASSERT_TRUE(b->remove_xattr("user.s").ok());
  ASSERT_TRUE(pool->sync_all().ok());
  EXPECT_FALSE(shape(id).xattrs_in_dnode);
  EXPECT_EQ(shape(id).xattr_bytes, 0u);
  b.reset();
  reimport();
  b = *pool->open_blob(id);
  EXPECT_TRUE(b->list_xattrs()->empty());
  expect_consistent();
}

TEST_F(SmallBlocksTest, AVersion1PoolKeepsWholeBlocks) {
  create_version_1();
  const uint64_t before = allocated();
  const auto ids = make_small_blobs();
  const uint64_t used = allocated() - before;
  // Whole data blocks and whole xattr leaves, as a version-1 reader expects.
  EXPECT_GE(used, uint64_t{kBlobs} * 2 * kBlock) << used;
  for (BlobId id : ids) {
    const testing::StoredShape s = shape(id);
    EXPECT_EQ(s.data_root_lsize, kBlock);
    EXPECT_FALSE(s.xattrs_in_dnode);
    EXPECT_EQ(s.xattr_root_lsize, kBlock);
    EXPECT_EQ((*pool->open_blob(id))->stat()->allocated_bytes, kBlock);
  }
  reimport();
  expect_small_blobs(ids);
  expect_consistent();
  EXPECT_EQ(export_and_read_version(), 1u) << "import never upgrades a pool";
}

TEST_F(SmallBlocksTest, AVersion1PoolUpgradesOnRequestAndKeepsItsOldBlocks) {
  create_version_1();
  const auto old_ids = make_small_blobs();
  auto had = pool->upgrade_format();
  ASSERT_TRUE(had.ok());
  EXPECT_EQ(*had, 1u);
  // The running pool keeps writing the form it was imported with.
  auto late = *pool->create_blob();
  ASSERT_TRUE((*pool->open_blob(late))->write(0, "late", 4).ok());
  ASSERT_TRUE(pool->sync_all().ok());
  EXPECT_EQ(shape(late).data_root_lsize, kBlock);
  EXPECT_EQ(export_and_read_version(), kPoolFormatVersion);
  take(Pool::import(share(dev), config()));
  // Old blocks read as before; new ones are stored short.
  expect_small_blobs(old_ids);
  EXPECT_EQ(shape(old_ids[0]).data_root_lsize, kBlock);
  auto fresh = *pool->create_blob();
  ASSERT_TRUE((*pool->open_blob(fresh))->write(0, "fresh", 5).ok());
  ASSERT_TRUE((*pool->open_blob(fresh))->set_xattr("zvfs.owner", "tag", 3).ok());
  ASSERT_TRUE(pool->sync_all().ok());
  EXPECT_EQ(shape(fresh).data_root_lsize, 4096u);
  EXPECT_TRUE(shape(fresh).xattrs_in_dnode);
  // Rewriting an old blob's xattr moves it into the dnode and frees its leaf.
  ASSERT_TRUE((*pool->open_blob(old_ids[1]))->set_xattr("user.x", "1", 1).ok());
  ASSERT_TRUE(pool->sync_all().ok());
  EXPECT_TRUE(shape(old_ids[1]).xattrs_in_dnode) << "77 bytes encoded: it fits";
  EXPECT_EQ(shape(old_ids[1]).xattr_root_lsize, 0u);
  expect_consistent();
  // A current pool is left alone.
  had = pool->upgrade_format();
  ASSERT_TRUE(had.ok());
  EXPECT_EQ(*had, kPoolFormatVersion);
}

TEST_F(SmallBlocksTest, AnUnknownFormatVersionIsRefused) {
  create();
  ASSERT_EQ(export_and_read_version(), spa::kFormatVersion);
  set_version(spa::kFormatVersion + 1);
  EXPECT_EQ(Pool::import(share(dev), config()).code(), EINVAL);
}

// The upgrade rewrites the two labels, each made durable before the other is written: a
// power cut at either write, whatever happens to the write in flight, leaves a pool that
// imports (as format 1 or 2) with its data.
TEST(FormatUpgrade, APowerCutAtEitherLabelWriteLeavesAnImportablePool) {
  testing::expect_label_cuts_survived(
      12, config(),
      [](uint64_t seed, BlobId* id) {
        auto dev = std::make_shared<vdev::FaultVdev>(64ull << 20, seed);
        *id = testing::make_payload_pool(dev, config());
        zio::Pipeline z(*dev);
        auto label = spa::read_label(z);
        EXPECT_TRUE(label.ok());
        label->version = 1;
        EXPECT_TRUE(spa::write_labels(z, *label).ok());
        return dev;
      },
      [](Pool& p) { return p.upgrade_format().ok(); },
      [](Pool& p) {
        const uint32_t v = p.stats().format_version;
        EXPECT_TRUE(v == 1 || v == 2) << v;
      });
}

TEST(DnodeCheck, RefusesUnknownFlagsAndImpossibleInlineLengths) {
  dmu::DnodePhys dn;
  dn.type = dmu::ObjType::kBlob;
  dn.version = dmu::kDnodeVersion;
  dn.block_size = kBlock;
  dn.id = 7;
  EXPECT_TRUE(dmu::dnode_consistent(dn, 7, kBlock));
  EXPECT_FALSE(dmu::dnode_consistent(dn, 8, kBlock)) << "another slot's dnode";
  EXPECT_FALSE(dmu::dnode_consistent(dn, 7, 4096)) << "another block size";
  dn.flags = dmu::kDnodeXattrInline;
  EXPECT_FALSE(dmu::dnode_consistent(dn, 7, kBlock)) << "inline, but no stream";
  dn.xattr_bytes = dmu::kInlineXattrMax;
  EXPECT_TRUE(dmu::dnode_consistent(dn, 7, kBlock));
  dn.xattr_bytes = dmu::kInlineXattrMax + 1;
  EXPECT_FALSE(dmu::dnode_consistent(dn, 7, kBlock)) << "longer than the room in the dnode";
  dn.xattr_bytes = 10;
  dn.flags = 2;
  EXPECT_FALSE(dmu::dnode_consistent(dn, 7, kBlock)) << "a flag this build does not know";
}

}  // namespace
}  // namespace zvfs::engine
