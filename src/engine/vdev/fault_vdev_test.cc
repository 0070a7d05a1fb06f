// fault_vdev_test.cc — the fault-injecting vdev does what crash tests rely on: flushed data
// always survives, unflushed writes are kept, dropped or torn at 512-byte granularity (never
// garbage), armed cuts fire at the right write, injected errors hit exactly what was asked.
#include "engine/vdev/fault_vdev.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "engine/vdev/vdev_test_util.h"

namespace zvfs::vdev {
namespace {

using testing::pattern_buf;

constexpr uint64_t kSize = 1 << 20;

int write_block(Vdev& v, uint64_t off, const AlignedBuf& b) {
  IoReq r{IoReq::Op::kWrite, const_cast<std::byte*>(b.data()), uint32_t(b.size()), off};
  return v.submit({&r, 1});
}

int read_block(Vdev& v, uint64_t off, AlignedBuf& b) {
  IoReq r{IoReq::Op::kRead, b.data(), uint32_t(b.size()), off};
  return v.submit({&r, 1});
}

// Which source each 512-byte sector of `got` equals: index into `sources`, or -1 for none.
std::vector<int> sector_sources(const std::byte* got, size_t len,
                                const std::vector<const std::byte*>& sources) {
  std::vector<int> out;
  for (size_t s = 0; s < len; s += kTearSectorSize) {
    int which = -1;
    for (size_t i = 0; i < sources.size() && which < 0; ++i)
      if (std::memcmp(got + s, sources[i] + s, kTearSectorSize) == 0) which = int(i);
    out.push_back(which);
  }
  return out;
}

TEST(FaultVdev, FlushedWritesSurviveEveryCut) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    FaultVdev v(kSize, seed);
    auto a = pattern_buf(8192, 1), b = pattern_buf(8192, 2);
    ASSERT_EQ(write_block(v, 0, a), 0);
    ASSERT_EQ(v.flush(), 0);
    ASSERT_EQ(write_block(v, 0, b), 0);  // overwrites flushed data, unflushed
    ASSERT_EQ(write_block(v, 16384, b), 0);
    EXPECT_EQ(v.fault_stats().unflushed_writes, 2u);
    auto after = v.reboot(seed);
    AlignedBuf got(8192);
    ASSERT_EQ(read_block(*after, 0, got), 0);
    // Every sector is the flushed contents or the new ones: nothing else.
    for (int src : sector_sources(got.data(), 8192, {a.data(), b.data()})) ASSERT_GE(src, 0);
  }
}

TEST(FaultVdev, UnflushedWritesAreKeptDroppedOrTorn) {
  constexpr int kWrites = 60;
  uint64_t kept = 0, dropped = 0, torn = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    FaultVdev v(kSize, seed);
    std::vector<AlignedBuf> bufs;
    for (int i = 0; i < kWrites; ++i) {
      bufs.push_back(pattern_buf(4096, 100 + i));
      ASSERT_EQ(write_block(v, uint64_t(i) * 4096, bufs.back()), 0);
    }
    v.cut_power();
    FaultStats fs = v.fault_stats();
    EXPECT_TRUE(fs.power_cut);
    EXPECT_EQ(fs.cut_kept + fs.cut_dropped + fs.cut_torn, uint64_t(kWrites));
    AlignedBuf zero(4096);
    uint64_t k = 0, d = 0, t = 0;
    for (int i = 0; i < kWrites; ++i) {
      AlignedBuf got(4096);
      ASSERT_TRUE(v.peek(uint64_t(i) * 4096, got.data(), 4096));
      auto src = sector_sources(got.data(), 4096, {zero.data(), bufs[i].data()});
      int news = 0;
      for (int s : src) {
        ASSERT_GE(s, 0) << "a sector holds neither old nor new contents";
        news += s;
      }
      if (news == 8)
        ++k;
      else if (news == 0)
        ++d;
      else
        ++t;
    }
    // A torn write may by chance keep all or none of its sectors; the totals still add up.
    EXPECT_EQ(k + d + t, uint64_t(kWrites));
    EXPECT_LE(t, fs.cut_torn);
    EXPECT_GE(k, fs.cut_kept);
    EXPECT_GE(d, fs.cut_dropped);
    kept += fs.cut_kept;
    dropped += fs.cut_dropped;
    torn += fs.cut_torn;
  }
  EXPECT_GT(kept, 0u);
  EXPECT_GT(dropped, 0u);
  EXPECT_GT(torn, 0u);
}

TEST(FaultVdev, FixedFates) {
  for (CutFate f : {CutFate::kKeepAll, CutFate::kDropAll, CutFate::kTearAll}) {
    FaultVdev v(kSize, 4);
    v.set_cut_fate(f);
    for (int i = 0; i < 10; ++i)
      ASSERT_EQ(write_block(v, uint64_t(i) * 8192, pattern_buf(8192, i)), 0);
    v.cut_power();
    FaultStats fs = v.fault_stats();
    EXPECT_EQ(fs.cut_kept, f == CutFate::kKeepAll ? 10u : 0u);
    EXPECT_EQ(fs.cut_dropped, f == CutFate::kDropAll ? 10u : 0u);
    EXPECT_EQ(fs.cut_torn, f == CutFate::kTearAll ? 10u : 0u);
    AlignedBuf got(8192), zero(8192);
    ASSERT_TRUE(v.peek(0, got.data(), 8192));
    auto src = sector_sources(got.data(), 8192, {zero.data(), pattern_buf(8192, 0).data()});
    for (int s : src) {
      ASSERT_GE(s, 0);
      if (f == CutFate::kKeepAll) {
        EXPECT_EQ(s, 1);
      } else if (f == CutFate::kDropAll) {
        EXPECT_EQ(s, 0);
      }
    }
  }
}

TEST(FaultVdev, OverlappingUnflushedWritesLeaveOnlyRealContents) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    FaultVdev v(kSize, seed);
    auto old = pattern_buf(8192, 7), x = pattern_buf(8192, 8), y = pattern_buf(8192, 9);
    ASSERT_EQ(write_block(v, 4096, old), 0);
    ASSERT_EQ(v.flush(), 0);
    ASSERT_EQ(write_block(v, 4096, x), 0);
    ASSERT_EQ(write_block(v, 4096, y), 0);
    v.cut_power();
    AlignedBuf got(8192);
    ASSERT_TRUE(v.peek(4096, got.data(), 8192));
    for (int s : sector_sources(got.data(), 8192, {old.data(), x.data(), y.data()}))
      ASSERT_GE(s, 0) << "seed " << seed;
  }
}

TEST(FaultVdev, SameSeedSameOutcome) {
  auto run = [](uint64_t seed) {
    FaultVdev v(kSize, seed);
    for (int i = 0; i < 20; ++i)
      EXPECT_EQ(write_block(v, uint64_t(i) * 8192, pattern_buf(8192, i)), 0);
    auto r = v.reboot(0);
    std::vector<std::byte> img(20 * 8192);
    EXPECT_TRUE(r->peek(0, img.data(), img.size()));
    return img;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(FaultVdev, ArmedCutFiresAtThatWriteInsideABatch) {
  FaultVdev v(kSize, 3);
  v.arm_power_cut_at_write(5);
  std::vector<AlignedBuf> bufs;
  std::vector<IoReq> reqs;
  for (int i = 0; i < 8; ++i) {
    bufs.push_back(pattern_buf(4096, i));
    reqs.push_back({IoReq::Op::kWrite, bufs.back().data(), 4096, uint64_t(i) * 4096});
  }
  EXPECT_EQ(v.submit(reqs), -EIO);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(reqs[i].result, 4096) << i;
  for (int i = 4; i < 8; ++i) EXPECT_EQ(reqs[i].result, -EIO) << i;
  EXPECT_TRUE(v.power_is_cut());
  EXPECT_EQ(v.write_count(), 5u);
  FaultStats fs = v.fault_stats();
  EXPECT_EQ(fs.cut_kept + fs.cut_dropped + fs.cut_torn, 5u) << "the in-flight write is at risk too";
  // Dead device: every I/O fails.
  AlignedBuf b(4096);
  EXPECT_EQ(read_block(v, 0, b), -EIO);
  EXPECT_EQ(write_block(v, 0, b), -EIO);
  EXPECT_EQ(v.flush(), -EIO);
  // Writes 6..8 never reached the medium.
  AlignedBuf zero(4096);
  for (int i = 5; i < 8; ++i) {
    ASSERT_TRUE(v.peek(uint64_t(i) * 4096, b.data(), 4096));
    EXPECT_EQ(std::memcmp(b.data(), zero.data(), 4096), 0);
  }
}

TEST(FaultVdev, RebootGivesAWorkingDeviceWithTheSurvivors) {
  FaultVdev v(kSize, 1);
  auto a = pattern_buf(4096, 1);
  ASSERT_EQ(write_block(v, 8192, a), 0);
  ASSERT_EQ(v.flush(), 0);
  auto r = v.reboot(9);
  EXPECT_TRUE(v.power_is_cut());
  EXPECT_EQ(r->size(), kSize);
  EXPECT_FALSE(r->power_is_cut());
  AlignedBuf got(4096);
  ASSERT_EQ(read_block(*r, 8192, got), 0);
  EXPECT_EQ(std::memcmp(got.data(), a.data(), 4096), 0);
  ASSERT_EQ(write_block(*r, 0, a), 0);
  EXPECT_EQ(r->write_count(), 1u);
  ASSERT_EQ(r->flush(), 0);  // durable: survives the cut surviving_image() makes
  auto img = r->surviving_image();
  ASSERT_EQ(img.size(), kSize);
  EXPECT_TRUE(r->power_is_cut());
  auto copy = FaultVdev::from_image(img.data(), kSize, 1);
  ASSERT_EQ(read_block(*copy, 0, got), 0);
  EXPECT_EQ(std::memcmp(got.data(), a.data(), 4096), 0);
}

TEST(FaultVdev, InjectedWriteErrorsChangeNothing) {
  FaultVdev v(kSize, 1);
  auto a = pattern_buf(4096, 1);
  AlignedBuf zero(4096), got(4096);
  v.fail_write_number(2);
  EXPECT_EQ(write_block(v, 0, a), 0);
  EXPECT_EQ(write_block(v, 4096, a), -EIO);
  EXPECT_EQ(write_block(v, 8192, a), 0);
  ASSERT_TRUE(v.peek(4096, got.data(), 4096));
  EXPECT_EQ(std::memcmp(got.data(), zero.data(), 4096), 0);
  v.fail_writes_in_range(65536, 4096);
  EXPECT_EQ(write_block(v, 61440, pattern_buf(8192, 3)), -EIO) << "overlapping the range";
  EXPECT_EQ(write_block(v, 69632, a), 0);
  v.fail_reads_in_range(0, 4096);
  EXPECT_EQ(read_block(v, 0, got), -EIO);
  EXPECT_EQ(read_block(v, 8192, got), 0);
  v.clear_range_failures();
  EXPECT_EQ(read_block(v, 0, got), 0);
  EXPECT_EQ(write_block(v, 65536, a), 0);
  EXPECT_EQ(v.fault_stats().injected_errors, 3u);
  EXPECT_EQ(v.stats().write_errors, 2u);
  EXPECT_EQ(v.stats().read_errors, 1u);
}

TEST(FaultVdev, FailedFlushMakesNothingDurable) {
  FaultVdev v(kSize, 5);
  auto a = pattern_buf(4096, 1);
  ASSERT_EQ(write_block(v, 0, a), 0);
  v.fail_next_flush();
  EXPECT_EQ(v.flush(), -EIO);
  EXPECT_EQ(v.fault_stats().unflushed_writes, 1u) << "still at risk";
  EXPECT_EQ(v.stats().flush_errors, 1u);
  EXPECT_EQ(v.flush(), 0);
  EXPECT_EQ(v.fault_stats().unflushed_writes, 0u);
  auto r = v.reboot(1);
  AlignedBuf got(4096);
  ASSERT_EQ(read_block(*r, 0, got), 0);
  EXPECT_EQ(std::memcmp(got.data(), a.data(), 4096), 0);
}

TEST(FaultVdev, FlippedBitsAreReadBackAndSurviveTheCut) {
  FaultVdev v(kSize, 5);
  auto a = pattern_buf(4096, 1);
  ASSERT_EQ(write_block(v, 0, a), 0);
  ASSERT_EQ(v.flush(), 0);
  v.flip_bits(100, 0x81);
  AlignedBuf got(4096);
  ASSERT_EQ(read_block(v, 0, got), 0);
  EXPECT_EQ(got.data()[100], a.data()[100] ^ std::byte{0x81});
  EXPECT_EQ(std::memcmp(got.data(), a.data(), 100), 0);
  auto r = v.reboot(2);
  ASSERT_EQ(read_block(*r, 0, got), 0);
  EXPECT_EQ(got.data()[100], a.data()[100] ^ std::byte{0x81});
  r->flip_bits(kSize, 1);  // out of range: ignored
  EXPECT_FALSE(r->peek(kSize - 10, got.data(), 20));
}

}  // namespace
}  // namespace zvfs::vdev
