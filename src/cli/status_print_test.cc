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
}

}  // namespace
}  // namespace zvfs::cli
