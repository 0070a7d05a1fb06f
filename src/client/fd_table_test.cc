// fd_table_test.cc — the descriptor table: lookups, shared OpenFiles across dup'd slots,
// remembered-descriptor hand-over, displacement of stale slots, bounded range removal.
#include "client/fd_table.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace zvfs::client {
namespace {

class FdTable : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(fd_table_init(4096)); }
  void TearDown() override {
    fd_remove_range(0, ~0u, [](const Released& r) {
      if (r.last) of_free(r.of);
    });
    EXPECT_EQ(live_open_files(), 0);
  }
};

TEST_F(FdTable, EmptyAndOutOfRangeLookupsAreNull) {
  EXPECT_EQ(fd_lookup(-1), nullptr);
  EXPECT_EQ(fd_lookup(5), nullptr);
  EXPECT_EQ(fd_lookup(4096), nullptr);
  EXPECT_EQ(fd_lookup(1 << 30), nullptr);
  Released d;
  OpenFile* of = of_alloc(1, 2, 3);
  fd_install(5000, of, &d);  // beyond the table: ignored
  EXPECT_EQ(fd_lookup(5000), nullptr);
  EXPECT_EQ(fd_remove(5000).of, nullptr);
  of_free(of);
}

TEST_F(FdTable, DupSharesAndLastCloseReleases) {
  OpenFile* of = of_alloc(7, 1, 100);
  Released d;
  fd_install(10, of, &d);
  EXPECT_EQ(d.of, nullptr);
  fd_install(11, of, &d);
  fd_install(12, of, &d);
  EXPECT_EQ(of->refs, 3);
  EXPECT_EQ(of->remembered_fd, 10);
  EXPECT_EQ(fd_lookup(11), of);
  EXPECT_EQ(fd_find_inode_handle(1, 100), 7);
  EXPECT_EQ(fd_find_inode_handle(1, 101), -1);

  Released r = fd_remove(11);  // not the remembered one: nothing to tell
  EXPECT_EQ(r.of, of);
  EXPECT_FALSE(r.last);
  EXPECT_EQ(r.new_fd, -1);
  r = fd_remove(10);  // the remembered one moves to a remaining slot
  EXPECT_FALSE(r.last);
  EXPECT_EQ(r.new_fd, 12);
  EXPECT_EQ(of->remembered_fd, 12);
  r = fd_remove(12);
  EXPECT_TRUE(r.last);
  EXPECT_EQ(fd_lookup(12), nullptr);
  EXPECT_EQ(live_open_files(), 0);
  of_free(of);
  EXPECT_EQ(fd_remove(12).of, nullptr);  // double close: nothing
}

TEST_F(FdTable, InstallOverStaleSlotReleasesTheOldFile) {
  OpenFile* a = of_alloc(1, 1, 1);
  OpenFile* b = of_alloc(2, 1, 2);
  Released d;
  fd_install(20, a, &d);
  fd_install(20, b, &d);  // the kernel reused 20: a was closed behind our back
  EXPECT_EQ(d.of, a);
  EXPECT_TRUE(d.last);
  of_free(a);
  EXPECT_EQ(fd_lookup(20), b);
  fd_install(20, b, &d);  // same object again: no extra reference
  EXPECT_EQ(b->refs, 1);
  EXPECT_EQ(live_open_files(), 1);
}

TEST_F(FdTable, RangeRemovalIsBoundedByTheHighWaterMark) {
  OpenFile* of = of_alloc(3, 9, 9);
  Released d;
  for (int fd = 30; fd < 40; ++fd) fd_install(fd, of, &d);
  OpenFile* other = of_alloc(4, 9, 10);
  fd_install(3, other, &d);
  int released = 0, last = 0;
  fd_remove_range(31, ~0u, [&](const Released& r) {  // close_range(31, UINT_MAX)
    ++released;
    if (r.last) {
      ++last;
      of_free(r.of);
    }
  });
  EXPECT_EQ(released, 9);
  EXPECT_EQ(last, 0);
  EXPECT_EQ(fd_lookup(30), of);
  EXPECT_EQ(of->refs, 1);
  EXPECT_EQ(of->remembered_fd, 30);
  EXPECT_EQ(fd_lookup(3), other);
}

TEST_F(FdTable, FreedObjectsAreReused) {
  OpenFile* a = of_alloc(1, 0, 0);
  of_free(a);
  OpenFile* b = of_alloc(2, 0, 0);
  EXPECT_EQ(a, b);  // type-stable memory: a racing reader never touches freed memory
  EXPECT_EQ(b->handle, 2);
  of_free(b);
}

TEST_F(FdTable, ConcurrentInstallRemoveKeepsCounts) {
  OpenFile* of = of_alloc(5, 5, 5);
  Released d;
  fd_install(100, of, &d);  // keeps it alive throughout
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([t, of] {
      for (int i = 0; i < 2000; ++i) {
        Released dd;
        int fd = 200 + t * 10 + (i % 10);
        fd_install(fd, of, &dd);
        EXPECT_EQ(fd_lookup(fd), of);
        Released r = fd_remove(fd);
        EXPECT_FALSE(r.last);
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(of->refs, 1);
  EXPECT_EQ(live_open_files(), 1);
}

}  // namespace
}  // namespace zvfs::client
