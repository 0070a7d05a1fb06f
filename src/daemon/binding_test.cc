// binding_test.cc — binding xattr format, read/write through fds, owner tags.
#include "daemon/binding.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "daemon/op_stats.h"

namespace zvfs::daemon {
namespace {

TEST(Binding, FormatParse) {
  Binding b;
  std::string v = format_binding(Binding{0xabcdef0123456789ull, 12345});
  EXPECT_EQ(v, "zvfs:1:abcdef0123456789:12345");
  ASSERT_TRUE(parse_binding(v.data(), v.size(), &b));
  EXPECT_EQ(b.id, 12345u);
  EXPECT_EQ(b.pool_guid, 0xabcdef0123456789ull);
  for (const char* bad :
       {"", "zvfs:1:", "zvfs:1:5", "zvfs:2:abcdef0123456789:5", "zvfs:1:abcdef0123456789:0",
        "zvfs:1:abcdef0123456789:12a", "zvfs:1:ABCDEF0123456789:5", "zvfs:1:abcdef012345678:55",
        "zvfs:1:abcdef0123456789;5", "zvfs:1:abcdef0123456789:99999999999999999999999"}) {
    EXPECT_FALSE(parse_binding(bad, strlen(bad), &b)) << bad;
  }
}

TEST(Binding, ReadWriteThroughFd) {
  char path[] = "/tmp/zvfs-binding-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(read_binding(fd, kUserBinding, false).code(), ENODATA);
  EXPECT_EQ(write_binding(fd, kUserBinding, Binding{1, 76}, true).code(), ENODATA);
  ASSERT_TRUE(write_binding(fd, kUserBinding, Binding{1, 77}, false).ok());
  // A second binding never replaces the first, unless asked to.
  EXPECT_EQ(write_binding(fd, kUserBinding, Binding{1, 78}, false).code(), EEXIST);
  auto r = read_binding(fd, kUserBinding, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, 77u);
  EXPECT_EQ(r->pool_guid, 1u);
  // Through an O_PATH descriptor (release_if_unlinked).
  int op = open(path, O_PATH | O_CLOEXEC);
  ASSERT_GE(op, 0);
  auto r2 = read_binding(op, kUserBinding, true);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->id, 77u);
  // Garbage in the xattr is not a binding.
  ASSERT_EQ(fsetxattr(fd, kUserBinding, "junk", 4, 0), 0);
  EXPECT_EQ(read_binding(fd, kUserBinding, false).code(), EINVAL);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  OwnerTag t = owner_of(fd, st);
  EXPECT_EQ(t.ino, st.st_ino);
  EXPECT_EQ(t.dev, st.st_dev);
  close(op);
  close(fd);
  unlink(path);
}

TEST(OpStats, HistogramAndPercentiles) {
  OpStatsTable t;
  for (int i = 0; i < 99; ++i) t.record(18, 1000, false);  // ~1 us
  t.record(18, 1000000, true);                             // one 1 ms outlier
  ipc::OpStats s;
  ASSERT_TRUE(t.snapshot(18, &s));
  EXPECT_EQ(s.count, 100u);
  EXPECT_EQ(s.errors, 1u);
  double p50 = hist_percentile(s.hist, 0.5), p99 = hist_percentile(s.hist, 0.99),
         p100 = hist_percentile(s.hist, 1.0);
  EXPECT_GE(p50, 512);
  EXPECT_LE(p50, 2048);
  EXPECT_LE(p99, 2048);
  EXPECT_GE(p100, 500000);
  EXPECT_FALSE(t.snapshot(19, &s));
  EXPECT_FALSE(t.snapshot(999, &s));
  EXPECT_EQ(OpStatsTable::bucket(0), 0);
  EXPECT_EQ(OpStatsTable::bucket(~0ull), ipc::kHistBuckets - 1);
}

}  // namespace
}  // namespace zvfs::daemon
