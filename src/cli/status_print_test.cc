// status_print_test.cc — decoding and printing the stats reply.
#include "cli/status_print.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace zvfs::cli {
namespace {

std::vector<uint8_t> sample() {
  ipc::StatsHeader h;
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
  c.handles = 3;
  std::vector<uint8_t> b(sizeof h + sizeof o + sizeof c);
  memcpy(b.data(), &h, sizeof h);
  memcpy(b.data() + sizeof h, &o, sizeof o);
  memcpy(b.data() + sizeof h + sizeof o, &c, sizeof c);
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
  std::string j = stats_json(v, "/s\"x");
  EXPECT_NE(j.find("\"hit_rate\":0.9000"), std::string::npos) << j;
  EXPECT_NE(j.find("\"pid\":1234"), std::string::npos);
  EXPECT_NE(j.find("\"socket\":\"/s\\\"x\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"write\":{\"count\":10"), std::string::npos) << j;
}

TEST(Status, RejectsMalformed) {
  auto b = sample();
  StatsView v;
  EXPECT_FALSE(parse_stats(b.data(), b.size() - 1, &v));
  EXPECT_FALSE(parse_stats(b.data(), 10, &v));
  reinterpret_cast<ipc::StatsHeader*>(b.data())->client_count = 1000000;
  EXPECT_FALSE(parse_stats(b.data(), b.size(), &v));
}

}  // namespace
}  // namespace zvfs::cli
