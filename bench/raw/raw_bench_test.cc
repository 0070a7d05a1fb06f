// raw_bench_test.cc — the raw baseline measures real I/O: counts, bounds, contents, errors.
#include "raw_bench.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "latency.h"
#include "raw_options.h"

namespace zvfs::bench {
namespace {

// A scratch directory under the test's working directory (the build tree, a real disk file
// system: O_DIRECT is refused by tmpfs).
class RawBenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "raw_bench_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    unlink(path().c_str());
    rmdir(dir_.c_str());
  }
  std::string path() const { return dir_ + "/f"; }

  RawOptions opts(RawMode mode, uint32_t bs, uint32_t qd, bool sync) const {
    RawOptions o;
    o.path = path();
    o.mode = mode;
    o.block_bytes = bs;
    o.queue_depth = qd;
    o.fdatasync_each = sync;
    o.file_bytes = 1 << 20;
    o.seconds = 30;
    o.ops_max = 64;
    o.keep_file = true;
    return o;
  }

  // Every block of the file carries its own offset in its first 8 bytes.
  void expect_blocks_stamped(uint64_t bytes, uint32_t bs) {
    int fd = open(path().c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    struct stat st {};
    ASSERT_EQ(fstat(fd, &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), bytes);
    std::vector<char> block(bs);
    for (uint64_t off = 0; off + bs <= bytes; off += bs) {
      ASSERT_EQ(pread(fd, block.data(), bs, static_cast<off_t>(off)), static_cast<ssize_t>(bs));
      uint64_t tag = 0;
      std::memcpy(&tag, block.data(), 8);
      ASSERT_EQ(tag, off) << "block at " << off;
    }
    close(fd);
  }

  std::string dir_;
};

TEST(ParseSize, SuffixesAndErrors) {
  EXPECT_EQ(parse_size("4096").value(), 4096u);
  EXPECT_EQ(parse_size("4k").value(), 4096u);
  EXPECT_EQ(parse_size("16K").value(), 16384u);
  EXPECT_EQ(parse_size("1m").value(), 1u << 20);
  EXPECT_EQ(parse_size("2G").value(), 2ull << 30);
  EXPECT_EQ(parse_size("").code(), EINVAL);
  EXPECT_EQ(parse_size("-4k").code(), EINVAL);
  EXPECT_EQ(parse_size("4x").code(), EINVAL);
  EXPECT_EQ(parse_size("4kb").value(), 4096u);  // the grammar of zvfsd --size
  EXPECT_EQ(parse_size("4kx").code(), EINVAL);
  EXPECT_EQ(parse_size("99999999999999999999").code(), EINVAL);
  EXPECT_EQ(parse_size("17179869184g").code(), EINVAL);  // 2^64 bytes
}

TEST(ParseOptions, FullCommandLine) {
  const char* argv[] = {"x",    "--file", "/tmp/f", "--mode",      "append",     "--bs",  "16k",
                        "--qd", "8",      "--size", "64m",         "--seconds",  "1.5",   "--ops",
                        "100",  "--seed", "7",      "--fdatasync", "--buffered", "--keep"};
  auto o = parse_raw_options(static_cast<int>(std::size(argv)), argv);
  ASSERT_TRUE(o.ok()) << o.error().msg;
  EXPECT_EQ(o->path, "/tmp/f");
  EXPECT_EQ(o->mode, RawMode::kAppend);
  EXPECT_EQ(o->block_bytes, 16384u);
  EXPECT_EQ(o->queue_depth, 8u);
  EXPECT_EQ(o->file_bytes, 64ull << 20);
  EXPECT_DOUBLE_EQ(o->seconds, 1.5);
  EXPECT_EQ(o->ops_max, 100u);
  EXPECT_EQ(o->seed, 7u);
  EXPECT_TRUE(o->fdatasync_each);
  EXPECT_FALSE(o->direct);
  EXPECT_TRUE(o->keep_file);
}

TEST(ParseOptions, BadInputIsAnError) {
  auto parse = [](std::vector<const char*> args) {
    args.insert(args.begin(), "x");
    return parse_raw_options(static_cast<int>(args.size()), args.data()).code();
  };
  EXPECT_EQ(parse({}), EINVAL);                                 // no --file
  EXPECT_EQ(parse({"--file", "f", "--mode", "trim"}), EINVAL);  // unknown mode
  EXPECT_EQ(parse({"--file", "f", "--bs", "1000"}), EINVAL);    // not 512-aligned, direct
  EXPECT_EQ(parse({"--file", "f", "--bs", "1000", "--buffered"}), 0);
  EXPECT_EQ(parse({"--file", "f", "--qd", "0"}), EINVAL);
  EXPECT_EQ(parse({"--file", "f", "--qd", "5000"}), EINVAL);
  EXPECT_EQ(parse({"--file", "f", "--seconds", "0"}), EINVAL);
  EXPECT_EQ(parse({"--file", "f", "--seconds", "abc"}), EINVAL);
  EXPECT_EQ(parse({"--file", "f", "--size", "1k", "--bs", "4k"}), EINVAL);
  EXPECT_EQ(parse({"--file", "f", "--bogus", "1"}), EINVAL);
  EXPECT_EQ(parse({"--file"}), EINVAL);  // missing value
  EXPECT_EQ(parse({"--file", "f", "--flush-every", "1m"}), 0);
  EXPECT_EQ(parse({"--file", "f", "--flush-every", "1m", "--flush-overlap"}), 0);
  EXPECT_EQ(parse({"--file", "f", "--flush-overlap"}), EINVAL);  // without --flush-every
  EXPECT_EQ(parse({"--file", "f", "--flush-every", "1m", "--fdatasync"}), EINVAL);
  EXPECT_EQ(parse({"--file", "f", "--flush-every", "1m", "--mode", "randread"}), EINVAL);
}

TEST(Latency, NearestRankPercentiles) {
  std::vector<uint64_t> v;
  for (uint64_t i = 1; i <= 100; i++) v.push_back(i);
  EXPECT_EQ(percentile_sorted(v, 0.50), 50u);
  EXPECT_EQ(percentile_sorted(v, 0.99), 99u);
  EXPECT_EQ(percentile_sorted(v, 1.0), 100u);
  EXPECT_EQ(percentile_sorted(v, 0.0), 1u);
  EXPECT_EQ(percentile_sorted({}, 0.5), 0u);
}

TEST(Latency, SummaryInMicroseconds) {
  LatencyRecorder rec(3);  // keeps 3 samples; the 4th only counts in mean and extremes
  rec.add(3000);
  rec.add(1000);
  rec.add(2000);
  rec.add(10000);
  LatencySummary s = rec.summarize();
  EXPECT_EQ(s.count, 4u);
  EXPECT_DOUBLE_EQ(s.min_us, 1.0);
  EXPECT_DOUBLE_EQ(s.max_us, 10.0);
  EXPECT_DOUBLE_EQ(s.mean_us, 4.0);
  EXPECT_DOUBLE_EQ(s.p50_us, 2.0);
  EXPECT_DOUBLE_EQ(s.p99_us, 3.0);
}

TEST_F(RawBenchTest, RandomWritesQd1WithFdatasync) {
  auto r = run_raw_bench(opts(RawMode::kRandWrite, 4096, 1, true));
  ASSERT_TRUE(r.ok()) << r.error().msg << ": " << std::strerror(r.error().code);
  EXPECT_EQ(r->ops, 64u);
  EXPECT_EQ(r->bytes, 64u * 4096);
  EXPECT_EQ(r->latency.count, 64u);
  EXPECT_GT(r->iops, 0);
  EXPECT_LE(r->latency.min_us, r->latency.p50_us);
  EXPECT_LE(r->latency.p50_us, r->latency.p99_us);
  EXPECT_LE(r->latency.p99_us, r->latency.max_us);
  expect_blocks_stamped(1 << 20, 4096);
}

TEST_F(RawBenchTest, RandomWritesDeepQueue) {
  auto r = run_raw_bench(opts(RawMode::kRandWrite, 16384, 16, false));
  ASSERT_TRUE(r.ok()) << r.error().msg;
  EXPECT_EQ(r->ops, 64u);
  expect_blocks_stamped(1 << 20, 16384);
}

TEST_F(RawBenchTest, RandomReadsCheckWhatTheyRead) {
  auto o = opts(RawMode::kRandRead, 4096, 4, false);
  o.ops_max = 200;
  auto r = run_raw_bench(o);
  ASSERT_TRUE(r.ok()) << r.error().msg;
  EXPECT_EQ(r->ops, 200u);
  EXPECT_EQ(r->latency.count, 200u);
}

TEST_F(RawBenchTest, SequentialWritesWrapAround) {
  auto o = opts(RawMode::kSeqWrite, 256 << 10, 2, false);
  o.ops_max = 10;  // 2.5 passes over the 1 MiB file
  auto r = run_raw_bench(o);
  ASSERT_TRUE(r.ok()) << r.error().msg;
  EXPECT_EQ(r->ops, 10u);
  expect_blocks_stamped(1 << 20, 256 << 10);
}

// --flush-every: one fdatasync per 1 MiB of 64 KiB writes; without --flush-overlap no write
// is issued while one runs, and a run of 4 MiB makes exactly four.
TEST_F(RawBenchTest, GroupFlushesStopTheWritesUnlessOverlapped) {
  auto o = opts(RawMode::kSeqWrite, 64 << 10, 4, false);
  o.ops_max = 64;
  o.flush_every_bytes = 1 << 20;
  auto r = run_raw_bench(o);
  ASSERT_TRUE(r.ok()) << r.error().msg;
  EXPECT_EQ(r->ops, 64u);
  EXPECT_EQ(r->flushes, 4u);
  EXPECT_EQ(r->writes_beside_flushes, 0u);
  EXPECT_GT(r->flush_mean_us, 0);
  expect_blocks_stamped(1 << 20, 64 << 10);
  o.flush_overlap = true;
  r = run_raw_bench(o);
  ASSERT_TRUE(r.ok()) << r.error().msg;
  EXPECT_EQ(r->ops, 64u);
  EXPECT_GE(r->flushes, 1u);  // one due while another runs is issued after it, as one
  EXPECT_LE(r->flushes, 4u);
  auto json = report_json(*r);
  EXPECT_NE(json.find("\"flush_overlap\":true"), std::string::npos) << json;
  EXPECT_NE(json.find("\"writes_beside_flushes\":"), std::string::npos) << json;
}

TEST_F(RawBenchTest, AppendsExtendTheFile) {
  auto r = run_raw_bench(opts(RawMode::kAppend, 4096, 1, true));
  ASSERT_TRUE(r.ok()) << r.error().msg;
  EXPECT_EQ(r->ops, 64u);
  expect_blocks_stamped(64 * 4096, 4096);
}

TEST_F(RawBenchTest, BufferedAppendsAtDepth) {
  auto o = opts(RawMode::kAppend, 512, 4, true);
  o.direct = false;
  auto r = run_raw_bench(o);
  ASSERT_TRUE(r.ok()) << r.error().msg;
  EXPECT_EQ(r->ops, 64u);
  expect_blocks_stamped(64 * 512, 512);
}

TEST_F(RawBenchTest, TimeBoundStopsARun) {
  auto o = opts(RawMode::kRandRead, 4096, 1, false);
  o.ops_max = 0;
  o.seconds = 0.2;
  auto r = run_raw_bench(o);
  ASSERT_TRUE(r.ok()) << r.error().msg;
  EXPECT_GT(r->ops, 0u);
  EXPECT_LT(r->seconds, 5.0);
}

TEST_F(RawBenchTest, MissingDirectoryIsAnError) {
  auto o = opts(RawMode::kRandWrite, 4096, 1, false);
  o.path = dir_ + "/no/such/dir/f";
  auto r = run_raw_bench(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
}

TEST_F(RawBenchTest, RemovesItsFileUnlessKept) {
  auto o = opts(RawMode::kRandWrite, 4096, 1, false);
  o.keep_file = false;
  ASSERT_TRUE(run_raw_bench(o).ok());
  EXPECT_NE(access(path().c_str(), F_OK), 0);
}

TEST(ReportJson, NamesEveryFigure) {
  RawReport r;
  r.options.mode = RawMode::kAppend;
  r.options.block_bytes = 4096;
  r.options.fdatasync_each = true;
  r.ops = 10;
  r.iops = 1234.5;
  r.latency.p50_us = 80.25;
  std::string j = report_json(r);
  EXPECT_NE(j.find("\"mode\":\"append\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"sync\":\"fdatasync\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"ops\":10,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"iops\":1234.5,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"p50\":80.25,"), std::string::npos) << j;
  EXPECT_EQ(j.front(), '{');
  EXPECT_EQ(j.back(), '}');
}

}  // namespace
}  // namespace zvfs::bench
