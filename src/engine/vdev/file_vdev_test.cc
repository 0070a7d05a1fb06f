// file_vdev_test.cc — what is specific to the file vdev: creation, persistence across reopen,
// exclusive open, sizing rules, and concurrent callers not serializing on one ring.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "engine/vdev/sync_priority.h"
#include "engine/vdev/vdev.h"
#include "engine/vdev/vdev_test_util.h"

namespace zvfs::vdev {
namespace {

using testing::pattern_buf;
using testing::TempPath;

FileVdevOptions create_opts(uint64_t size) {
  FileVdevOptions o;
  o.create = true;
  o.size = size;
  return o;
}

TEST(FileVdev, CreatesSparseFileOfRequestedSize) {
  TempPath p;
  auto v = open_file_vdev(p.str(), create_opts(64ull << 20));
  ASSERT_TRUE(v.ok()) << v.error().msg;
  EXPECT_EQ((*v)->size(), 64ull << 20);
  EXPECT_EQ((*v)->describe(), "file:" + p.str());
  struct stat st;
  ASSERT_EQ(::stat(p.str().c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 64 << 20);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "file should be sparse";
}

TEST(FileVdev, DataPersistsAcrossReopen) {
  TempPath p;
  auto w = pattern_buf(3 * kSectorSize, 42);
  {
    auto v = open_file_vdev(p.str(), create_opts(1 << 20));
    ASSERT_TRUE(v.ok());
    IoReq r{IoReq::Op::kWrite, w.data(), 3 * kSectorSize, 5 * kSectorSize};
    ASSERT_EQ((*v)->submit({&r, 1}), 0);
    ASSERT_EQ((*v)->flush(), 0);
  }
  FileVdevOptions o;  // existing file, size taken from it
  auto v = open_file_vdev(p.str(), o);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ((*v)->size(), 1u << 20);
  AlignedBuf rd(3 * kSectorSize);
  IoReq r{IoReq::Op::kRead, rd.data(), 3 * kSectorSize, 5 * kSectorSize};
  ASSERT_EQ((*v)->submit({&r, 1}), 0);
  EXPECT_EQ(std::memcmp(rd.data(), w.data(), rd.size()), 0);
}

// The write + flush submitted together: every request completes, the flush is counted once
// and issued, and a batch deeper than the ring (streamed through it) is covered too.
TEST(FileVdev, SubmitThenFlushRunsTheBatchAndOneFlush) {
  TempPath p;
  FileVdevOptions o = create_opts(4 << 20);
  o.queue_depth = 4;  // the 9-request batch below streams through the ring
  auto v = open_file_vdev(p.str(), o);
  ASSERT_TRUE(v.ok()) << v.error().msg;
  std::vector<AlignedBuf> bufs;
  std::vector<IoReq> reqs;
  for (uint32_t i = 0; i < 9; ++i) bufs.push_back(pattern_buf(2 * kSectorSize, 100 + i));
  for (uint32_t i = 0; i < 9; ++i)
    reqs.push_back(IoReq{IoReq::Op::kWrite, bufs[i].data(), 2 * kSectorSize, i * 3 * kSectorSize});
  VdevStats before = (*v)->stats();
  ASSERT_EQ((*v)->submit_then_flush(reqs), 0);
  VdevStats after = (*v)->stats();
  EXPECT_EQ(after.writes - before.writes, 9u);
  EXPECT_EQ(after.flushes - before.flushes, 1u);
  for (const IoReq& r : reqs) EXPECT_EQ(r.result, static_cast<int64_t>(r.len));
  for (uint32_t i = 0; i < 9; ++i) {
    AlignedBuf rd(2 * kSectorSize);
    IoReq r{IoReq::Op::kRead, rd.data(), 2 * kSectorSize, i * 3 * kSectorSize};
    ASSERT_EQ((*v)->submit({&r, 1}), 0);
    EXPECT_EQ(std::memcmp(rd.data(), bufs[i].data(), rd.size()), 0) << "request " << i;
  }
}

// One write + flush (the intent log's case, served by pwrite(v) + fdatasync in the caller's
// thread), plain and vectored: written, counted as one write and one flush, readable.
TEST(FileVdev, SubmitThenFlushOfOneWrite) {
  TempPath p;
  auto v = open_file_vdev(p.str(), create_opts(4 << 20));
  ASSERT_TRUE(v.ok()) << v.error().msg;
  AlignedBuf a = pattern_buf(3 * kSectorSize, 7);
  AlignedBuf b = pattern_buf(kSectorSize, 8), c = pattern_buf(2 * kSectorSize, 9);
  iovec iov[2] = {{b.data(), kSectorSize}, {c.data(), 2 * kSectorSize}};
  IoReq plain{IoReq::Op::kWrite, a.data(), 3 * kSectorSize, 5 * kSectorSize};
  IoReq vec{IoReq::Op::kWrite, nullptr, 3 * kSectorSize, 20 * kSectorSize, 0, iov, 2};
  for (IoReq* r : {&plain, &vec}) {
    VdevStats before = (*v)->stats();
    ASSERT_EQ((*v)->submit_then_flush({r, 1}), 0);
    VdevStats after = (*v)->stats();
    EXPECT_EQ(r->result, static_cast<int64_t>(r->len));
    EXPECT_EQ(after.writes - before.writes, 1u);
    EXPECT_EQ(after.flushes - before.flushes, 1u);
    EXPECT_EQ(after.write_bytes - before.write_bytes, r->len);
  }
  AlignedBuf rd(3 * kSectorSize);
  IoReq r1{IoReq::Op::kRead, rd.data(), 3 * kSectorSize, 5 * kSectorSize};
  ASSERT_EQ((*v)->submit({&r1, 1}), 0);
  EXPECT_EQ(std::memcmp(rd.data(), a.data(), rd.size()), 0);
  IoReq r2{IoReq::Op::kRead, rd.data(), 3 * kSectorSize, 20 * kSectorSize};
  ASSERT_EQ((*v)->submit({&r2, 1}), 0);
  EXPECT_EQ(std::memcmp(rd.data(), b.data(), kSectorSize), 0);
  EXPECT_EQ(std::memcmp(rd.data() + kSectorSize, c.data(), 2 * kSectorSize), 0);
}

// While syncs run, bulk writes are cut into pieces sent between them (sync_priority.h): the
// bytes must land exactly as whole requests would, plain and vectored, and the results must
// count every byte.
TEST(FileVdev, BulkWritesDuringSyncsLandIntact) {
  TempPath p;
  auto v = open_file_vdev(p.str(), create_opts(64 << 20));
  ASSERT_TRUE(v.ok()) << v.error().msg;
  std::atomic<bool> stop{false};
  std::atomic<int> syncs{0};
  std::thread syncer([&] {
    AlignedBuf s = pattern_buf(kSectorSize, 1);
    while (!stop.load()) {
      IoReq w{IoReq::Op::kWrite, s.data(), kSectorSize, 0};
      if ((*v)->submit_then_flush({&w, 1}) == 0) syncs.fetch_add(1);
    }
  });
  while (syncs.load() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  constexpr uint32_t kPlain = 3 * (1 << 20) + 5 * kSectorSize;  // not a multiple of a piece
  constexpr uint32_t kSeg = 48 * kSectorSize, kSegs = 40;       // 7.5 MiB in 40 segments
  AlignedBuf a = pattern_buf(kPlain, 21), b = pattern_buf(kSeg * kSegs, 22);
  std::vector<iovec> iov(kSegs);
  for (uint32_t i = 0; i < kSegs; i++) iov[i] = {b.data() + i * kSeg, kSeg};
  IoReq reqs[2] = {{IoReq::Op::kWrite, a.data(), kPlain, 1 << 20},
                   {IoReq::Op::kWrite, nullptr, kSeg * kSegs, 8 << 20, 0, iov.data(), kSegs}};
  ASSERT_EQ((*v)->submit({reqs, 2}), 0);
  stop.store(true);
  syncer.join();
  EXPECT_EQ(reqs[0].result, static_cast<int64_t>(kPlain));
  EXPECT_EQ(reqs[1].result, static_cast<int64_t>(kSeg * kSegs));
  AlignedBuf ra(kPlain), rb(kSeg * kSegs);
  IoReq back[2] = {{IoReq::Op::kRead, ra.data(), kPlain, 1 << 20},
                   {IoReq::Op::kRead, rb.data(), kSeg * kSegs, 8 << 20}};
  ASSERT_EQ((*v)->submit({back, 2}), 0);
  EXPECT_EQ(std::memcmp(ra.data(), a.data(), kPlain), 0);
  EXPECT_EQ(std::memcmp(rb.data(), b.data(), kSeg * kSegs), 0);
}

// A bulk piece sent in a gap between syncs is small; one sent because no gap came is large,
// so back-to-back syncs slow a commit down without starving it.
TEST(SyncPriority, PieceSizeDependsOnWhetherAGapCame) {
  SyncPriority p;
  EXPECT_EQ(p.wait_turn(), SyncPriority::kPieceBytes);  // no sync at all
  {
    SyncPriority::Scope sync(p);  // never ends while we wait
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(p.wait_turn(), SyncPriority::kBusyPieceBytes);
    EXPECT_GE(std::chrono::steady_clock::now() - t0,
              std::chrono::nanoseconds(SyncPriority::kMaxWaitNs));
  }
  std::optional<SyncPriority::Scope> sync(std::in_place, p);
  std::thread ender([&] {
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    sync.reset();  // the sync ends well within kMaxWaitNs: a gap
  });
  EXPECT_EQ(p.wait_turn(), SyncPriority::kPieceBytes);
  ender.join();
  EXPECT_LT(SyncPriority::kPieceBytes, SyncPriority::kBusyPieceBytes);
}

// Syncs that overlap, so that one is always in flight, still let a small piece through once
// two of them have ended: the bulk writer neither waits out kMaxWaitNs nor sends a big piece.
TEST(SyncPriority, OverlappingSyncsLetASmallPieceThrough) {
  SyncPriority p;
  std::atomic<bool> stop{false};
  std::optional<SyncPriority::Scope> a(std::in_place, p);
  std::thread chain([&] {
    std::optional<SyncPriority::Scope> b;
    while (!stop.load()) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      b.emplace(p);  // the next sync begins before the last one ends
      a.reset();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      a.emplace(p);
      b.reset();
    }
  });
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(p.wait_turn(), SyncPriority::kPieceBytes);
  EXPECT_LT(std::chrono::steady_clock::now() - t0,
            std::chrono::nanoseconds(SyncPriority::kMaxWaitNs));
  stop.store(true);
  chain.join();
}

// Bulk writers ask whether syncs happened lately (a transaction group then keeps fewer batches
// queued): only submit_then_flush counts, and only for the last 100 ms.
TEST(FileVdev, SyncsActiveOnlyRightAfterSynchronousWrites) {
  TempPath p;
  auto v = open_file_vdev(p.str(), create_opts(16 << 20));
  ASSERT_TRUE(v.ok()) << v.error().msg;
  EXPECT_FALSE((*v)->syncs_active());
  AlignedBuf s = pattern_buf(kSectorSize, 3);
  IoReq w{IoReq::Op::kWrite, s.data(), kSectorSize, 0};
  ASSERT_EQ((*v)->submit({&w, 1}), 0);
  ASSERT_EQ((*v)->flush(), 0);
  EXPECT_FALSE((*v)->syncs_active());  // plain writes and a flush alone are not syncs
  ASSERT_EQ((*v)->submit_then_flush({&w, 1}), 0);
  EXPECT_TRUE((*v)->syncs_active());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_FALSE((*v)->syncs_active());
}

// A request the vdev refuses is reported, and no flush pretends the batch is durable.
TEST(FileVdev, SubmitThenFlushReportsABadRequestWithoutFlushing) {
  TempPath p;
  auto v = open_file_vdev(p.str(), create_opts(1 << 20));
  ASSERT_TRUE(v.ok());
  auto w = pattern_buf(kSectorSize, 7);
  IoReq reqs[2] = {{IoReq::Op::kWrite, w.data(), kSectorSize, 0},
                   {IoReq::Op::kWrite, w.data(), kSectorSize, 1 << 20}};  // past the end
  VdevStats before = (*v)->stats();
  int rc = (*v)->submit_then_flush(reqs);
  EXPECT_LT(rc, 0);
  EXPECT_EQ(reqs[0].result, static_cast<int64_t>(kSectorSize));
  EXPECT_LT(reqs[1].result, 0);
  EXPECT_EQ((*v)->stats().flushes, before.flushes);
}

TEST(FileVdev, SecondOpenIsRefusedWhileFirstIsOpen) {
  TempPath p;
  auto a = open_file_vdev(p.str(), create_opts(1 << 20));
  ASSERT_TRUE(a.ok());
  auto b = open_file_vdev(p.str(), FileVdevOptions{});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, EBUSY);
  a->reset();
  auto c = open_file_vdev(p.str(), FileVdevOptions{});
  EXPECT_TRUE(c.ok());
}

TEST(FileVdev, SizingErrors) {
  TempPath p;
  auto missing = open_file_vdev(p.str(), FileVdevOptions{});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ENOENT);
  {
    auto v = open_file_vdev(p.str(), create_opts(1 << 20));
    ASSERT_TRUE(v.ok());
  }
  FileVdevOptions bigger;
  bigger.size = 2 << 20;  // larger than the file, without create
  auto b = open_file_vdev(p.str(), bigger);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, EINVAL);
  FileVdevOptions smaller;
  smaller.size = (512 << 10) + 100;  // rounded down to whole sectors
  auto s = open_file_vdev(p.str(), smaller);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->size(), 512u << 10);
  auto dir = open_file_vdev(".", FileVdevOptions{});
  EXPECT_FALSE(dir.ok());
}

TEST(FileVdev, EmptyFileIsRefused) {
  TempPath p;
  int fd = ::open(p.str().c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  ::close(fd);
  auto v = open_file_vdev(p.str(), FileVdevOptions{});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, EINVAL);
}

TEST(FileVdev, BufferedModeWorksToo) {
  TempPath p;
  FileVdevOptions o = create_opts(1 << 20);
  o.direct = false;
  auto v = open_file_vdev(p.str(), o);
  ASSERT_TRUE(v.ok());
  auto w = pattern_buf(kSectorSize, 9);
  IoReq r{IoReq::Op::kWrite, w.data(), kSectorSize, 0};
  ASSERT_EQ((*v)->submit({&r, 1}), 0);
  ASSERT_EQ((*v)->flush(), 0);
  EXPECT_EQ((*v)->stats().flushes, 1u);
}

// Many threads issuing flushes and writes at once: each gets its own ring, all succeed.
TEST(FileVdev, ConcurrentFlushesAndWrites) {
  TempPath p;
  auto v = open_file_vdev(p.str(), create_opts(16 << 20));
  ASSERT_TRUE(v.ok());
  Vdev& dev = **v;
  constexpr int kThreads = 8, kIters = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      auto b = pattern_buf(kSectorSize, t);
      for (int i = 0; i < kIters; ++i) {
        IoReq r{IoReq::Op::kWrite, b.data(), kSectorSize, uint64_t(t * kIters + i) * kSectorSize};
        if (dev.submit({&r, 1}) != 0) ++failures;
        if (dev.flush() != 0) ++failures;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  VdevStats s = dev.stats();
  EXPECT_EQ(s.writes, uint64_t(kThreads * kIters));
  EXPECT_EQ(s.flushes, uint64_t(kThreads * kIters));
}

}  // namespace
}  // namespace zvfs::vdev
