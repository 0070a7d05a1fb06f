// status_print_test.cc — decoding and printing the stats reply.
#include "cli/status_print.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace zvfs::cli {
namespace {

// A reply whose client records are `rec` bytes long (0 in the header: a daemon from before the
// record size was sent, 32-byte records without gid).
std::vector<uint8_t> sample(uint32_t rec = sizeof(ipc::ClientInfo)) {
  ipc::StatsHeader h;
  h.client_info_bytes = rec == ipc::kClientInfoV1Bytes ? 0 : rec;
  h.pool_size = 1ull << 30;
  h.pool_allocated = 1ull << 20;
  h.cache_hits = 90;
  h.cache_misses = 10;
  h.daemon_pid = 42;
  h.op_count = 1;
  h.client_count = 1;
  ipc::OpStats o;
  o.op = static_cast<uint16_t>(ipc::Op::kWrite);
  o.count = 10;
  o.total_ns = 10 * 3000;
  o.hist[11] = 10;  // 2-4 us
  ipc::ClientInfo c;
  c.pid = 1234;
  c.uid = 1000;
  c.gid = 4242;
  c.handles = 3;
  c.requests = 77;
  std::vector<uint8_t> b(sizeof h + sizeof o + rec, 0xee);  // bytes past the known fields: 0xee
  memcpy(b.data(), &h, sizeof h);
  memcpy(b.data() + sizeof h, &o, sizeof o);
  memcpy(b.data() + sizeof h + sizeof o, &c, rec < sizeof c ? rec : sizeof c);
  return b;
}

TEST(Status, ParseAndPrint) {
  auto b = sample();
  StatsView v;
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  ASSERT_EQ(v.ops.size(), 1u);
  ASSERT_EQ(v.clients.size(), 1u);
  std::string t = stats_text(v, "/s");
  EXPECT_NE(t.find("hit rate 90.0%"), std::string::npos) << t;
  EXPECT_NE(t.find("write"), std::string::npos);
  EXPECT_NE(t.find("1234"), std::string::npos);
  EXPECT_NE(t.find("PID    UID    GID"), std::string::npos) << t;
  EXPECT_NE(t.find("    1234   1000   4242        3          77\n"), std::string::npos) << t;
  std::string j = stats_json(v, "/s\"x");
  EXPECT_NE(j.find("\"hit_rate\":0.9000"), std::string::npos) << j;
  EXPECT_NE(j.find("\"pid\":1234,\"uid\":1000,\"gid\":4242,\"handles\":3,\"requests\":77"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"socket\":\"/s\\\"x\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"write\":{\"count\":10"), std::string::npos) << j;
}

TEST(Status, ReadsRecordsOfTheFirstVersionWithoutGid) {
  auto b = sample(ipc::kClientInfoV1Bytes);
  StatsView v;
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  ASSERT_EQ(v.clients.size(), 1u);
  EXPECT_FALSE(v.client_gid);
  EXPECT_EQ(v.clients[0].pid, 1234);
  EXPECT_EQ(v.clients[0].requests, 77u);
  EXPECT_EQ(v.clients[0].gid, 0u);
  std::string t = stats_text(v, "/s");
  EXPECT_NE(t.find("    1234   1000      -        3          77\n"), std::string::npos) << t;
  std::string j = stats_json(v, "/s");
  EXPECT_NE(j.find("\"uid\":1000,\"gid\":null,"), std::string::npos) << j;
}

TEST(Status, ReadsTheKnownStartOfLongerRecords) {
  auto b = sample(sizeof(ipc::ClientInfo) + 16);  // a later daemon's longer record
  StatsView v;
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  ASSERT_EQ(v.clients.size(), 1u);
  EXPECT_TRUE(v.client_gid);
  EXPECT_EQ(v.clients[0].gid, 4242u);
  EXPECT_EQ(v.clients[0].requests, 77u);
}

// The reply with the write-path block appended, `extra` bytes longer than this version's.
std::vector<uint8_t> sample_with_write(uint32_t extra = 0) {
  auto b = sample();
  ipc::StatsWrite w;
  w.bytes = sizeof w + extra;
  w.dirty_max_bytes = 512ull << 20;
  w.throttle_waits = 17;
  w.throttle_delay_ns = 1500000000;
  w.log_records = 3000;
  w.log_blocks = 1200;
  w.log_bytes = 3ull << 20;
  w.behind_writes = 900;
  w.behind_syncs = 450;
  size_t at = b.size();
  b.resize(at + w.bytes, 0xee);
  memcpy(b.data() + at, &w, sizeof w);
  return b;
}

// The reply with the write-path and pool blocks appended.
std::vector<uint8_t> sample_with_pool(uint32_t flags = 0, uint32_t extra = 0) {
  auto b = sample_with_write();
  ipc::StatsPool p;
  p.bytes = sizeof p + extra;
  p.format_version = 2;
  p.block_size = 16384;
  p.flags = flags;
  p.host_free_bytes = 300ll << 20;
  size_t at = b.size();
  b.resize(at + p.bytes, 0xee);
  memcpy(b.data() + at, &p, sizeof p);
  return b;
}

TEST(Status, PoolBlock) {
  auto b = sample_with_pool();
  StatsView v;
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  ASSERT_TRUE(v.has_pool);
  std::string t = stats_text(v, "/s");
  EXPECT_NE(t.find("\nformat   2, 16.0 KiB blocks\ntxg "), std::string::npos) << t;
  EXPECT_EQ(t.find("limited"), std::string::npos) << t;
  std::string j = stats_json(v, "/s");
  EXPECT_NE(j.find("\"dirty_bytes\":0,\"format_version\":2,\"block_size\":16384,"
                   "\"host_limited\":false,\"host_free_bytes\":314572800,"
                   "\"fallocated_bytes\":0},\"cache\""),
            std::string::npos)
      << j;
  // Free space bounded by the file system holding the pool file: said so.
  b = sample_with_pool(ipc::kStatsPoolHostLimited);
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  t = stats_text(v, "/s");
  EXPECT_NE(t.find("free space limited by the file system holding the pool file (300.0 MiB free "
                   "there)\n"),
            std::string::npos)
      << t;
  EXPECT_NE(stats_json(v, "/s").find("\"host_limited\":true"), std::string::npos);
  // A pool of an older format: how to move it on.
  reinterpret_cast<ipc::StatsPool*>(b.data() + sample_with_write().size())->format_version = 1;
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  t = stats_text(v, "/s");
  EXPECT_NE(t.find("format   1, 16.0 KiB blocks\n         format 2 stores small files in less "
                   "space: `zvfs upgrade POOL` while the daemon is down\n"),
            std::string::npos)
      << t;
  // Space set aside by fallocate: a line under the pool's, and its JSON field.
  reinterpret_cast<ipc::StatsPool*>(b.data() + sample_with_write().size())->fallocated_bytes =
      5u << 20;
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  EXPECT_NE(stats_text(v, "/s").find(
                " blobs\n         5.0 MiB of the free space set aside by fallocate for open files\n"
                "format "),
            std::string::npos)
      << stats_text(v, "/s");
  EXPECT_NE(stats_json(v, "/s").find("\"fallocated_bytes\":5242880}"), std::string::npos);
  // A daemon's first pool block (24 bytes) has no such count: no line, no JSON field.
  b = sample_with_pool();
  const uint32_t v1 = ipc::kStatsPoolV1Bytes;
  memcpy(b.data() + sample_with_write().size(), &v1, sizeof v1);
  b.resize(sample_with_write().size() + v1);
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  EXPECT_TRUE(v.has_pool);
  EXPECT_FALSE(v.has_fallocated);
  EXPECT_EQ(stats_json(v, "/s").find("fallocated"), std::string::npos);
  EXPECT_EQ(stats_text(v, "/s").find("set aside"), std::string::npos);
  // A later daemon's longer block: the known start is read.
  b = sample_with_pool(0, 16);
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  EXPECT_EQ(v.p.block_size, 16384u);
  // A daemon that sent only the write-path block: no format line, no such JSON fields.
  b = sample_with_write();
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  EXPECT_FALSE(v.has_pool);
  EXPECT_EQ(stats_text(v, "/s").find("format"), std::string::npos);
  EXPECT_NE(stats_json(v, "/s").find("\"dirty_bytes\":0},"), std::string::npos);
  // A pool block shorter than its first version is malformed.
  b = sample_with_pool();
  uint32_t short_block = ipc::kStatsPoolV1Bytes - 8;
  memcpy(b.data() + sample_with_write().size(), &short_block, sizeof short_block);
  b.resize(sample_with_write().size() + short_block);
  EXPECT_FALSE(parse_stats(b.data(), b.size(), &v));
}

TEST(Status, WritePathBlock) {
  auto b = sample_with_write();
  StatsView v;
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  ASSERT_TRUE(v.has_write);
  ASSERT_EQ(v.clients.size(), 1u);
  std::string t = stats_text(v, "/s");
  EXPECT_NE(t.find("dirty 0 B of 512.0 MiB\n"), std::string::npos) << t;
  EXPECT_NE(t.find("writes   delayed 1.500 s near the dirty limit, stopped 17 times at it\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("log      3000 records in 1200 blocks, 3.0 MiB written\n"), std::string::npos)
      << t;
  std::string j = stats_json(v, "/s");
  EXPECT_NE(j.find("\"writes\":{\"dirty_max_bytes\":536870912,\"throttle_delay_ns\":1500000000,"
                   "\"throttle_waits\":17},\"log\":{\"records\":3000,\"blocks\":1200,"
                   "\"bytes\":3145728},"),
            std::string::npos)
      << j;
  // A later daemon's longer block: the known start is read.
  b = sample_with_write(24);
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  EXPECT_EQ(v.w.log_blocks, 1200u);
  // Blocks of later versions after it and the pool block (each led by its u32 size) are
  // skipped.
  b = sample_with_pool();
  for (uint32_t later : {16u, 8u}) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&later);
    b.insert(b.end(), p, p + sizeof later);
    b.resize(b.size() + later - sizeof later, 0xee);
  }
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  EXPECT_EQ(v.w.log_blocks, 1200u);
  EXPECT_EQ(v.w.throttle_waits, 17u);
  // An older daemon sent none: no such lines.
  b = sample();
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  EXPECT_FALSE(v.has_write);
  t = stats_text(v, "/s");
  EXPECT_EQ(t.find("delayed"), std::string::npos) << t;
  EXPECT_NE(t.find("dirty 0 B\n"), std::string::npos) << t;
  EXPECT_EQ(stats_json(v, "/s").find("\"log\""), std::string::npos);
}

TEST(Status, WriteBehindCounters) {
  auto b = sample_with_write();
  StatsView v;
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  EXPECT_TRUE(v.has_behind);
  std::string t = stats_text(v, "/s");
  EXPECT_NE(t.find("\nbehind   900 writes answered before they were applied, 450 fsyncs joined "
                   "one\ncache "),
            std::string::npos)
      << t;
  EXPECT_NE(stats_json(v, "/s").find("\"write_behind\":{\"writes\":900,\"joined_syncs\":450},"),
            std::string::npos);
  // A daemon before the counters sent the 56-byte block: the rest is read, no such line.
  b = sample();
  ipc::StatsWrite w;
  w.bytes = ipc::kStatsWriteV1Bytes;
  w.log_blocks = 5;
  w.behind_writes = 900;  // not sent
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&w);
  b.insert(b.end(), p, p + ipc::kStatsWriteV1Bytes);
  ASSERT_TRUE(parse_stats(b.data(), b.size(), &v));
  EXPECT_TRUE(v.has_write);
  EXPECT_FALSE(v.has_behind);
  EXPECT_EQ(v.w.log_blocks, 5u);
  EXPECT_EQ(v.w.behind_writes, 0u);
  t = stats_text(v, "/s");
  EXPECT_EQ(t.find("behind"), std::string::npos) << t;
  EXPECT_NE(t.find("log      0 records in 5 blocks"), std::string::npos) << t;
  EXPECT_EQ(stats_json(v, "/s").find("write_behind"), std::string::npos);
}

TEST(Status, RejectsMalformed) {
  auto b = sample();
  StatsView v;
  EXPECT_FALSE(parse_stats(b.data(), b.size() - 1, &v));
  EXPECT_FALSE(parse_stats(b.data(), 10, &v));
  reinterpret_cast<ipc::StatsHeader*>(b.data())->client_count = 1000000;
  EXPECT_FALSE(parse_stats(b.data(), b.size(), &v));
  b = sample();
  reinterpret_cast<ipc::StatsHeader*>(b.data())->client_info_bytes = 16;  // shorter than v1
  EXPECT_FALSE(parse_stats(b.data(), b.size(), &v));
  reinterpret_cast<ipc::StatsHeader*>(b.data())->client_info_bytes = 0xffffffffu;
  EXPECT_FALSE(parse_stats(b.data(), b.size(), &v));
  reinterpret_cast<ipc::StatsHeader*>(b.data())->client_info_bytes = 0;  // 32: length mismatch
  EXPECT_FALSE(parse_stats(b.data(), b.size(), &v));
  // A write-path block longer than the reply, bytes after it that no block can hold, or a
  // block of a later version whose size is too small or runs past the end; or a write-path
  // block shorter than its first version.
  b = sample_with_write();
  EXPECT_FALSE(parse_stats(b.data(), b.size() - 1, &v));
  b.push_back(0);
  EXPECT_FALSE(parse_stats(b.data(), b.size(), &v));
  for (uint32_t later : {4u, 40u}) {
    b = sample_with_pool();
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&later);
    b.insert(b.end(), p, p + sizeof later);
    b.resize(b.size() + 12);  // a 16-byte block: size 4 is too small, 40 runs past the end
    EXPECT_FALSE(parse_stats(b.data(), b.size(), &v)) << later;
  }
  b = sample_with_write();
  uint32_t short_block = ipc::kStatsWriteV1Bytes - 8;
  memcpy(b.data() + sample().size(), &short_block, sizeof short_block);
  b.resize(sample().size() + short_block);
  EXPECT_FALSE(parse_stats(b.data(), b.size(), &v));
}

}  // namespace
}  // namespace zvfs::cli
