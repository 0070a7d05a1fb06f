// pipeline_test.cc — zio: checksums, bounce buffers, BlockPtr filling, verification on read,
// error propagation and counters.
#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstring>
#include <thread>
#include <vector>

#include "common/aligned_buf.h"
#include "engine/vdev/vdev.h"
#include "engine/zio/zio.h"

namespace zvfs::zio {
namespace {

constexpr uint64_t kDev = 4 << 20;

std::vector<unsigned char> bytes(size_t n, unsigned seed) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<unsigned char>((i * 131 + seed * 7 + 3) ^ (i >> 8));
  return v;
}

// A vdev that forwards to a memory vdev but fails every write (and flush) when told to.
class FailingVdev : public vdev::Vdev {
 public:
  FailingVdev() : inner_(vdev::make_memory_vdev(kDev)) {}
  uint64_t size() const override { return inner_->size(); }
  int submit(std::span<vdev::IoReq> reqs) override {
    if (!fail_writes) return inner_->submit(reqs);
    for (auto& r : reqs) r.result = r.op == vdev::IoReq::Op::kWrite ? -EIO : 0;
    for (auto& r : reqs)
      if (r.op == vdev::IoReq::Op::kRead) inner_->submit({&r, 1});
    return -EIO;
  }
  int flush() override { return fail_writes ? -EIO : 0; }
  vdev::VdevStats stats() const override { return inner_->stats(); }
  std::string describe() const override { return "failing"; }
  bool fail_writes = false;

 private:
  std::unique_ptr<vdev::Vdev> inner_;
};

TEST(Checksum, DeterministicAndSensitive) {
  auto a = bytes(10000, 1);
  Checksum c1 = checksum(a.data(), a.size());
  EXPECT_EQ(c1, checksum(a.data(), a.size()));
  a[5000] ^= 1;
  EXPECT_NE(c1, checksum(a.data(), a.size()));
  a[5000] ^= 1;
  EXPECT_NE(c1, checksum(a.data(), a.size() - 1));
  EXPECT_NE(c1.lo, c1.hi);
}

// The on-disk checksum is XXH3-128 whichever entry point computes it (the x86 dispatcher picks
// a vector width at run time): every length class of the algorithm and unaligned starts give
// the portable function's value, and a fixed input its published value (docs/FORMAT.md).
TEST(Checksum, IsXxh3OfTheBytes) {
  auto a = bytes((1 << 20) + 64, 7);
  for (size_t len : {0, 1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1000, 1024, 4096, 16384,
                     65536 + 5, 1 << 20}) {
    for (size_t off : {0, 1, 13, 64}) {
      XXH128_hash_t want = XXH3_128bits(a.data() + off, len);
      Checksum got = checksum(a.data() + off, len);
      EXPECT_EQ(got.lo, want.low64) << len << " at " << off;
      EXPECT_EQ(got.hi, want.high64) << len << " at " << off;
    }
  }
  Checksum empty = checksum("", 0);
  EXPECT_EQ(empty.lo, 0x6001C324468D497Full);
  EXPECT_EQ(empty.hi, 0x99AA06D3014798D8ull);
}

TEST(Pipeline, WritesFillBlockPointersAndReadsVerify) {
  auto dev = vdev::make_memory_vdev(kDev);
  Pipeline zio(*dev);
  // One aligned full block, one short block, one unaligned buffer, one multi-sector odd size.
  AlignedBuf aligned(8192);
  auto src_a = bytes(8192, 1);
  std::memcpy(aligned.data(), src_a.data(), 8192);
  auto src_b = bytes(100, 2);
  auto src_c_storage = bytes(4096 + 1, 3);  // data at +1: unaligned
  auto src_d = bytes(3 * 4096 + 17, 4);
  BlockPtr bps[4];
  WriteOp ops[4] = {
      {aligned.data(), 8192, BlockType::kData, 0, 1, 0, 8192, &bps[0]},
      {src_b.data(), 100, BlockType::kIndirect, 1, 7, 8192, 4096, &bps[1]},
      {src_c_storage.data() + 1, 4096, BlockType::kDnode, 0, 1, 3 * 4096, 8192, &bps[2]},
      {src_d.data(), uint32_t(src_d.size()), BlockType::kData, 0, 1, 5 * 4096, 4 * 4096, &bps[3]},
  };
  ASSERT_TRUE(zio.write(ops, 9).ok());
  EXPECT_EQ(bps[1].offset, 8192u);
  EXPECT_EQ(bps[1].asize, 4096u);
  EXPECT_EQ(bps[1].lsize, 100u);
  EXPECT_EQ(bps[1].psize, 100u);
  EXPECT_EQ(bps[1].type, BlockType::kIndirect);
  EXPECT_EQ(bps[1].level, 1);
  EXPECT_EQ(bps[1].fill, 7u);
  EXPECT_EQ(bps[1].birth_txg, 9u);
  EXPECT_EQ(bps[1].cksum, ChecksumAlg::kXxh3_128);
  EXPECT_EQ(bps[1].checksum, checksum(src_b.data(), 100));
  EXPECT_EQ(bps[2].asize, 8192u);
  EXPECT_FALSE(bps[0].is_hole());

  // Read each back into an unaligned buffer and an aligned one.
  const unsigned char* want[4] = {src_a.data(), src_b.data(), src_c_storage.data() + 1,
                                  src_d.data()};
  for (int i = 0; i < 4; ++i) {
    std::vector<unsigned char> out(bps[i].lsize + 1);
    ASSERT_TRUE(zio.read_block(bps[i], out.data() + 1).ok());
    EXPECT_EQ(std::memcmp(out.data() + 1, want[i], bps[i].lsize), 0) << i;
    AlignedBuf al(bps[i].lsize);
    ASSERT_TRUE(zio.read_block(bps[i], al.data()).ok());
    EXPECT_EQ(std::memcmp(al.data(), want[i], bps[i].lsize), 0) << i;
  }
  // The short block's tail on disk is zeroed, not stale bounce memory.
  AlignedBuf raw(4096);
  ASSERT_TRUE(zio.read_raw(8192, raw.data(), 4096).ok());
  for (int i = 100; i < 4096; ++i) ASSERT_EQ(raw.data()[i], std::byte{0});
  ZioStats s = zio.stats();
  EXPECT_EQ(s.blocks_written, 4u);
  EXPECT_EQ(s.blocks_read, 8u);
  EXPECT_EQ(s.checksum_errors, 0u);
}

TEST(Pipeline, CorruptionIsEioNeverData) {
  auto dev = vdev::make_memory_vdev(kDev);
  Pipeline zio(*dev);
  auto a = bytes(4096, 1), b = bytes(5000, 2);
  BlockPtr bpa, bpb;
  WriteOp ops[2] = {{a.data(), 4096, BlockType::kData, 0, 1, 0, 4096, &bpa},
                    {b.data(), 5000, BlockType::kData, 0, 1, 4096, 8192, &bpb}};
  ASSERT_TRUE(zio.write(ops, 1).ok());
  // Flip one bit of block b on the device (second sector: inside lsize).
  AlignedBuf sec(4096);
  vdev::IoReq r{vdev::IoReq::Op::kRead, sec.data(), 4096, 8192};
  ASSERT_EQ(dev->submit({&r, 1}), 0);
  sec.data()[100] ^= std::byte{0x10};
  r.op = vdev::IoReq::Op::kWrite;
  ASSERT_EQ(dev->submit({&r, 1}), 0);

  std::vector<unsigned char> outa(4096), outb(5000, 0xEE);
  ReadOp rops[2] = {{&bpa, outa.data(), 0}, {&bpb, outb.data(), 0}};
  Status st = zio.read(rops);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), EIO);
  EXPECT_EQ(rops[0].result, 0);
  EXPECT_EQ(rops[1].result, -EIO);
  EXPECT_EQ(outa, a);
  for (unsigned char c : outb) ASSERT_EQ(c, 0) << "corrupt data must not reach the caller";
  EXPECT_EQ(zio.stats().checksum_errors, 1u);

  // A wrong checksum in the pointer is the same failure.
  BlockPtr wrong = bpa;
  wrong.checksum.lo ^= 1;
  EXPECT_EQ(zio.read_block(wrong, outa.data()).code(), EIO);
  EXPECT_EQ(zio.stats().checksum_errors, 2u);
}

TEST(Pipeline, ImpossibleBlockPointersAreRefused) {
  auto dev = vdev::make_memory_vdev(kDev);
  Pipeline zio(*dev);
  auto a = bytes(4096, 1);
  BlockPtr bp;
  WriteOp op{a.data(), 4096, BlockType::kData, 0, 1, 0, 4096, &bp};
  ASSERT_TRUE(zio.write({&op, 1}, 3).ok());
  std::vector<unsigned char> out(8192);
  EXPECT_EQ(zio.read_block(BlockPtr{}, out.data()).code(), EINVAL);  // hole
  auto mutate = [&](auto f) {
    BlockPtr b = bp;
    f(b);
    return zio.read_block(b, out.data()).code();
  };
  EXPECT_EQ(mutate([](BlockPtr& b) { b.offset = kDev; }), EIO);
  EXPECT_EQ(mutate([](BlockPtr& b) { b.offset = 100; }), EIO);
  EXPECT_EQ(mutate([](BlockPtr& b) { b.lsize = 8192; }), EIO);
  EXPECT_EQ(mutate([](BlockPtr& b) { b.psize = 10; }), EIO);
  EXPECT_EQ(mutate([](BlockPtr& b) { b.cksum = ChecksumAlg::kNone; }), EIO);
  EXPECT_EQ(mutate([](BlockPtr& b) { b.comp = 3; }), EIO);
  EXPECT_EQ(mutate([](BlockPtr& b) { b.vdev = 1; }), EIO);
  EXPECT_EQ(zio.read_block(bp, nullptr).code(), EINVAL);
  EXPECT_TRUE(zio.read_block(bp, out.data()).ok());
}

TEST(Pipeline, BadWritesAreRefusedAndFillNothing) {
  auto dev = vdev::make_memory_vdev(kDev);
  Pipeline zio(*dev);
  auto a = bytes(8192, 1);
  BlockPtr bp;
  auto try_write = [&](WriteOp op, uint64_t txg = 5) { return zio.write({&op, 1}, txg).code(); };
  EXPECT_EQ(try_write({a.data(), 4096, BlockType::kData, 0, 1, 0, 4096, &bp}, 0), EINVAL);
  EXPECT_EQ(try_write({a.data(), 8192, BlockType::kData, 0, 1, 0, 4096, &bp}), EINVAL);
  EXPECT_EQ(try_write({a.data(), 4096, BlockType::kData, 0, 1, 10, 4096, &bp}), EINVAL);
  EXPECT_EQ(try_write({a.data(), 4096, BlockType::kData, 0, 1, kDev, 4096, &bp}), EINVAL);
  EXPECT_EQ(try_write({a.data(), 0, BlockType::kData, 0, 1, 0, 4096, &bp}), EINVAL);
  EXPECT_EQ(try_write({nullptr, 10, BlockType::kData, 0, 1, 0, 4096, &bp}), EINVAL);
  EXPECT_TRUE(bp.is_hole());
  EXPECT_TRUE(zio.write({}, 5).ok());
}

TEST(Pipeline, DeviceErrorsReachTheCaller) {
  FailingVdev dev;
  Pipeline zio(dev);
  auto a = bytes(4096, 1);
  BlockPtr good, bp;
  WriteOp op{a.data(), 4096, BlockType::kData, 0, 1, 0, 4096, &good};
  ASSERT_TRUE(zio.write({&op, 1}, 1).ok());
  dev.fail_writes = true;
  WriteOp ops[2] = {{a.data(), 4096, BlockType::kData, 0, 1, 4096, 4096, &bp},
                    {a.data() + 1, 100, BlockType::kData, 0, 1, 8192, 4096, &bp}};
  EXPECT_EQ(zio.write(ops, 2).code(), EIO);
  EXPECT_TRUE(bp.is_hole()) << "a failed batch fills no block pointer";
  EXPECT_EQ(zio.write_raw(0, a.data(), 4096).code(), EIO);
  EXPECT_EQ(zio.flush().code(), EIO);
  EXPECT_EQ(zio.stats().io_errors, 4u);
  std::vector<unsigned char> out(4096);
  EXPECT_TRUE(zio.read_block(good, out.data()).ok());
  EXPECT_EQ(out, a);
}

TEST(Pipeline, ContiguousBlocksGoOutAsOneDeviceWrite) {
  auto dev = vdev::make_memory_vdev(kDev);
  Pipeline zio(*dev);
  // Blocks 0..3 follow one another on the device (one of them bounced: unaligned and short),
  // block 4 leaves a gap, block 5 follows block 4, block 6 lies before block 0's run.
  struct Spec {
    uint32_t lsize;
    uint64_t offset;
    bool aligned;
  };
  const Spec specs[] = {{16384, 65536, true}, {4096, 81920, true},  {100, 86016, false},
                        {8192, 90112, true},  {4096, 106496, true}, {4096, 110592, true},
                        {4096, 4096, true}};
  constexpr size_t kN = sizeof(specs) / sizeof(specs[0]);
  std::vector<AlignedBuf> bufs;
  std::vector<std::vector<unsigned char>> want;
  std::vector<WriteOp> ops;
  std::vector<BlockPtr> bps(kN);
  for (size_t i = 0; i < kN; ++i) {
    want.push_back(bytes(specs[i].lsize, unsigned(i) + 40));
    bufs.emplace_back(specs[i].lsize + 4096);
    std::byte* p = bufs.back().data() + (specs[i].aligned ? 0 : 1);
    std::memcpy(p, want.back().data(), specs[i].lsize);
    ops.push_back({p, specs[i].lsize, BlockType::kData, 0, 1, specs[i].offset,
                   uint32_t((specs[i].lsize + 4095) / 4096 * 4096), &bps[i]});
  }
  ASSERT_TRUE(zio.write(ops, 9).ok());
  EXPECT_EQ(dev->stats().writes, 3u) << "runs: blocks 0-3, blocks 4-5, block 6";
  EXPECT_EQ(zio.stats().blocks_written, kN);
  for (size_t i = 0; i < kN; ++i) {
    EXPECT_EQ(bps[i].offset, specs[i].offset);
    EXPECT_EQ(bps[i].lsize, specs[i].lsize);
    std::vector<unsigned char> out(specs[i].lsize);
    ASSERT_TRUE(zio.read_block(bps[i], out.data()).ok()) << "block " << i;
    EXPECT_EQ(out, want[i]) << "block " << i;
  }
  // The sector tail of the bounced block is zero on the device.
  AlignedBuf sec(4096);
  ASSERT_TRUE(zio.read_raw(86016, sec.data(), 4096).ok());
  for (size_t k = 100; k < 4096; ++k) ASSERT_EQ(sec.data()[k], std::byte{0});
}

TEST(Pipeline, CoalescedWritesAreBoundedInSize) {
  auto dev = vdev::make_memory_vdev(kDev);
  Pipeline zio(*dev);
  constexpr uint32_t kBlock = 64 << 10;
  constexpr size_t kN = 48;  // 3 MiB of contiguous blocks: more than one request may carry
  AlignedBuf data(kN * kBlock);
  auto pat = bytes(kN * kBlock, 3);
  std::memcpy(data.data(), pat.data(), pat.size());
  std::vector<WriteOp> ops;
  std::vector<BlockPtr> bps(kN);
  for (size_t i = 0; i < kN; ++i)
    ops.push_back(
        {data.data() + i * kBlock, kBlock, BlockType::kData, 0, 1, i * kBlock, kBlock, &bps[i]});
  ASSERT_TRUE(zio.write(ops, 2).ok());
  EXPECT_EQ(dev->stats().writes, 2u);
  std::vector<unsigned char> out(kBlock);
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_TRUE(zio.read_block(bps[i], out.data()).ok());
    ASSERT_EQ(std::memcmp(out.data(), pat.data() + i * kBlock, kBlock), 0) << "block " << i;
  }
}

TEST(Pipeline, RawRoundTripAnyBuffer) {
  auto dev = vdev::make_memory_vdev(kDev);
  Pipeline zio(*dev);
  auto a = bytes(8192 + 3, 5);
  ASSERT_TRUE(zio.write_raw(4096, a.data() + 3, 8192).ok());
  std::vector<unsigned char> out(8192 + 1);
  ASSERT_TRUE(zio.read_raw(4096, out.data() + 1, 8192).ok());
  EXPECT_EQ(std::memcmp(out.data() + 1, a.data() + 3, 8192), 0);
  EXPECT_EQ(zio.write_raw(4096, a.data(), 100).code(), EINVAL);
  EXPECT_EQ(zio.read_raw(1, out.data(), 4096).code(), EINVAL);
  EXPECT_EQ(zio.read_raw(kDev, out.data(), 4096).code(), EINVAL);
  zio.count_checksum_error();
  EXPECT_EQ(zio.stats().checksum_errors, 1u);
}

TEST(Pipeline, LargeBatchesAndManyThreads) {
  auto dev = vdev::make_memory_vdev(64 << 20);
  Pipeline zio(*dev);
  constexpr int kThreads = 4, kBlocks = 64;
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<std::vector<unsigned char>> data;
      std::vector<BlockPtr> bps(kBlocks);
      std::vector<WriteOp> ops;
      for (int i = 0; i < kBlocks; ++i) data.push_back(bytes(1000 + i * 300, t * 100 + i));
      for (int i = 0; i < kBlocks; ++i) {
        uint64_t off = (uint64_t(t) * kBlocks + i) * 64 * 1024;
        ops.push_back({data[i].data(), uint32_t(data[i].size()), BlockType::kData, 0, 1, off,
                       64 * 1024, &bps[i]});
      }
      if (!zio.write(ops, 1 + t).ok()) ++bad;
      std::vector<std::vector<unsigned char>> out(kBlocks);
      std::vector<ReadOp> rops;
      for (int i = 0; i < kBlocks; ++i) {
        out[i].resize(data[i].size());
        rops.push_back({&bps[i], out[i].data(), 0});
      }
      if (!zio.read(rops).ok()) ++bad;
      for (int i = 0; i < kBlocks; ++i)
        if (out[i] != data[i]) ++bad;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(zio.stats().blocks_written, uint64_t(kThreads * kBlocks));
}

}  // namespace
}  // namespace zvfs::zio
