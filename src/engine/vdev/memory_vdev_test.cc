// memory_vdev_test.cc — the behaviour every vdev shares, checked alike on the memory vdev, the
// file vdev (io_uring, O_DIRECT) and the fault-injecting vdev: round trips, batches larger than
// a ring, request validation, counters, concurrent writers.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "engine/vdev/fault_vdev.h"
#include "engine/vdev/vdev.h"
#include "engine/vdev/vdev_test_util.h"

namespace zvfs::vdev {
namespace {

using testing::pattern_buf;
using testing::TempPath;

constexpr uint64_t kDevSize = 8ull << 20;

struct Factory {
  const char* name;
  std::function<std::unique_ptr<Vdev>(const std::string&)> make;
};

std::unique_ptr<Vdev> make_mem(const std::string&) {
  return make_memory_vdev(kDevSize);
}
std::unique_ptr<Vdev> make_fault(const std::string&) {
  return std::make_unique<FaultVdev>(kDevSize);
}
std::unique_ptr<Vdev> make_file(const std::string& path) {
  FileVdevOptions o;
  o.create = true;
  o.size = kDevSize;
  o.queue_depth = 8;  // small, so batches larger than the ring are exercised
  auto r = open_file_vdev(path, o);
  return r.ok() ? std::move(*r) : nullptr;
}

class VdevConformance : public ::testing::TestWithParam<Factory> {
 protected:
  void SetUp() override {
    dev_ = GetParam().make(path_.str());
    ASSERT_NE(dev_, nullptr);
  }
  TempPath path_;
  std::unique_ptr<Vdev> dev_;
};

TEST_P(VdevConformance, SizeAndFreshDeviceReadsZero) {
  EXPECT_EQ(dev_->size(), kDevSize);
  AlignedBuf b(8192);
  std::memset(b.data(), 0xAB, 8192);
  IoReq r{IoReq::Op::kRead, b.data(), 8192, kDevSize - 8192};
  ASSERT_EQ(dev_->submit({&r, 1}), 0);
  EXPECT_EQ(r.result, 8192);
  for (size_t i = 0; i < 8192; ++i) ASSERT_EQ(b.data()[i], std::byte{0});
}

TEST_P(VdevConformance, WriteThenReadBackBatch) {
  constexpr int kN = 40;  // more than the file vdev's ring depth
  std::vector<AlignedBuf> w, rd;
  std::vector<IoReq> reqs;
  for (int i = 0; i < kN; ++i) {
    uint32_t len = kSectorSize * (1 + i % 3);
    w.push_back(pattern_buf(len, i));
    reqs.push_back({IoReq::Op::kWrite, w.back().data(), len, uint64_t(i) * 4 * kSectorSize});
  }
  ASSERT_EQ(dev_->submit(reqs), 0);
  for (auto& r : reqs) EXPECT_EQ(r.result, r.len);
  ASSERT_EQ(dev_->flush(), 0);
  reqs.clear();
  for (int i = 0; i < kN; ++i) {
    rd.emplace_back(w[i].size());
    reqs.push_back(
        {IoReq::Op::kRead, rd.back().data(), uint32_t(w[i].size()), uint64_t(i) * 4 * kSectorSize});
  }
  ASSERT_EQ(dev_->submit(reqs), 0);
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(std::memcmp(rd[i].data(), w[i].data(), w[i].size()), 0) << "block " << i;
  }
  VdevStats s = dev_->stats();
  EXPECT_EQ(s.writes, uint64_t(kN));
  EXPECT_EQ(s.reads, uint64_t(kN));
  EXPECT_EQ(s.flushes, 1u);
  EXPECT_EQ(s.read_bytes, s.write_bytes);
  EXPECT_EQ(s.read_errors + s.write_errors + s.flush_errors, 0u);
}

TEST_P(VdevConformance, RejectsMalformedRequests) {
  AlignedBuf b(2 * kSectorSize);
  std::vector<IoReq> bad = {
      {IoReq::Op::kWrite, b.data(), kSectorSize, 100},                        // unaligned offset
      {IoReq::Op::kWrite, b.data(), 100, 0},                                  // unaligned length
      {IoReq::Op::kWrite, b.data() + 1, kSectorSize, 0},                      // unaligned buffer
      {IoReq::Op::kWrite, nullptr, kSectorSize, 0},                           // no buffer
      {IoReq::Op::kWrite, b.data(), 0, 0},                                    // empty
      {IoReq::Op::kRead, b.data(), 2 * kSectorSize, kDevSize - kSectorSize},  // past the end
      {IoReq::Op::kRead, b.data(), kSectorSize, ~0ull & ~uint64_t(kSectorSize - 1)},  // overflow
  };
  for (IoReq& r : bad) {
    IoReq one = r;
    EXPECT_EQ(dev_->submit({&one, 1}), -EINVAL);
    EXPECT_EQ(one.result, -EINVAL);
  }
  // A batch with one bad request: the good ones still run, the first error is returned.
  auto good = pattern_buf(kSectorSize, 7);
  std::vector<IoReq> mixed = {{IoReq::Op::kWrite, good.data(), kSectorSize, 0},
                              {IoReq::Op::kWrite, good.data(), kSectorSize, 1}};
  EXPECT_EQ(dev_->submit(mixed), -EINVAL);
  EXPECT_EQ(mixed[0].result, kSectorSize);
  EXPECT_EQ(mixed[1].result, -EINVAL);
  IoReq rd{IoReq::Op::kRead, b.data(), kSectorSize, 0};
  ASSERT_EQ(dev_->submit({&rd, 1}), 0);
  EXPECT_EQ(std::memcmp(b.data(), good.data(), kSectorSize), 0);
  EXPECT_GE(dev_->stats().write_errors, 1u);
}

TEST_P(VdevConformance, VectoredRequestsMoveEverySegmentInOrder) {
  // Three segments of different sizes, written as one request, read back plainly; then read
  // back as one vectored request into differently sized segments.
  std::vector<AlignedBuf> w;
  std::vector<iovec> iov;
  uint32_t total = 0;
  for (uint32_t i = 0; i < 3; ++i) {
    w.push_back(pattern_buf(kSectorSize * (i + 1), 100 + i));
    iov.push_back(iovec{w.back().data(), w.back().size()});
    total += uint32_t(w.back().size());
  }
  const uint64_t off = 5 * kSectorSize;
  IoReq wr{IoReq::Op::kWrite, nullptr, total, off, 0, iov.data(), uint32_t(iov.size())};
  ASSERT_EQ(dev_->submit({&wr, 1}), 0);
  EXPECT_EQ(wr.result, total);
  AlignedBuf flat(total);
  IoReq rd{IoReq::Op::kRead, flat.data(), total, off};
  ASSERT_EQ(dev_->submit({&rd, 1}), 0);
  size_t pos = 0;
  for (const AlignedBuf& b : w) {
    ASSERT_EQ(std::memcmp(flat.data() + pos, b.data(), b.size()), 0) << "segment at " << pos;
    pos += b.size();
  }
  AlignedBuf a(4 * kSectorSize), b(2 * kSectorSize);
  iovec riov[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
  IoReq vrd{IoReq::Op::kRead, nullptr, total, off, 0, riov, 2};
  ASSERT_EQ(dev_->submit({&vrd, 1}), 0);
  EXPECT_EQ(std::memcmp(a.data(), flat.data(), a.size()), 0);
  EXPECT_EQ(std::memcmp(b.data(), flat.data() + a.size(), b.size()), 0);
  VdevStats s = dev_->stats();
  EXPECT_EQ(s.writes, 1u);
  EXPECT_EQ(s.write_bytes, total);
}

TEST_P(VdevConformance, RejectsMalformedVectoredRequests) {
  AlignedBuf b(2 * kSectorSize);
  iovec ok_seg{b.data(), kSectorSize};
  iovec two[2] = {{b.data(), kSectorSize}, {b.data() + kSectorSize, kSectorSize}};
  iovec unaligned_len[2] = {{b.data(), 100}, {b.data() + kSectorSize, kSectorSize}};
  iovec unaligned_base[1] = {{b.data() + 1, kSectorSize}};
  iovec empty_seg[2] = {{b.data(), 0}, {b.data(), kSectorSize}};
  std::vector<IoReq> bad = {
      {IoReq::Op::kWrite, nullptr, kSectorSize, 0, 0, nullptr, 1},  // no segments
      {IoReq::Op::kWrite, nullptr, kSectorSize, 0, 0, two, 2},      // sum != len
      {IoReq::Op::kWrite, nullptr, 3 * kSectorSize, 0, 0, two, 2},  // sum != len
      {IoReq::Op::kWrite, nullptr, kSectorSize + 100, 0, 0, unaligned_len, 2},
      {IoReq::Op::kWrite, nullptr, kSectorSize, 0, 0, unaligned_base, 1},
      {IoReq::Op::kWrite, nullptr, kSectorSize, 0, 0, empty_seg, 2},
      {IoReq::Op::kWrite, nullptr, kSectorSize, 0, 0, &ok_seg, kMaxIov + 1},            // too many
      {IoReq::Op::kRead, nullptr, 2 * kSectorSize, kDevSize - kSectorSize, 0, two, 2},  // past end
  };
  for (IoReq& r : bad) {
    IoReq one = r;
    EXPECT_EQ(dev_->submit({&one, 1}), -EINVAL);
    EXPECT_EQ(one.result, -EINVAL);
  }
}

TEST_P(VdevConformance, ConcurrentWritersOnDisjointRanges) {
  constexpr int kThreads = 4, kPerThread = 64;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        uint64_t off = (uint64_t(t) * kPerThread + i) * kSectorSize;
        auto b = pattern_buf(kSectorSize, off);
        IoReq r{IoReq::Op::kWrite, b.data(), kSectorSize, off};
        EXPECT_EQ(dev_->submit({&r, 1}), 0);
      }
    });
  }
  for (auto& t : ts) t.join();
  AlignedBuf all(kThreads * kPerThread * kSectorSize);
  IoReq r{IoReq::Op::kRead, all.data(), uint32_t(all.size()), 0};
  ASSERT_EQ(dev_->submit({&r, 1}), 0);
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    auto want = pattern_buf(kSectorSize, uint64_t(i) * kSectorSize);
    ASSERT_EQ(std::memcmp(all.data() + uint64_t(i) * kSectorSize, want.data(), kSectorSize), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(All, VdevConformance,
                         ::testing::Values(Factory{"memory", make_mem}, Factory{"file", make_file},
                                           Factory{"fault", make_fault}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace zvfs::vdev
