// side_fsync_test.cc — SideFsync: each fsync's own result, on a ring reused by its thread
// (a completion left behind would answer the next caller), from several threads at once.
#include "daemon/side_fsync.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

namespace zvfs::daemon {
namespace {

class SideFsyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zvfs-sidefsync-XXXXXX";
    fd_ = mkstemp(tmpl);
    ASSERT_GE(fd_, 0);
    path_ = tmpl;
    ASSERT_EQ(write(fd_, "data", 4), 4);
    // A descriptor number that names nothing: fsync of it fails with EBADF.
    bad_ = dup(fd_);
    ASSERT_GE(bad_, 0);
    ASSERT_EQ(close(bad_), 0);
    opath_ = open(path_.c_str(), O_PATH | O_CLOEXEC);
    ASSERT_GE(opath_, 0);
  }
  void TearDown() override {
    close(opath_);
    close(fd_);
    unlink(path_.c_str());
  }
  int fd_ = -1, bad_ = -1, opath_ = -1;
  std::string path_;
};

TEST_F(SideFsyncTest, ReturnsEachFsyncsOwnResult) {
  for (int i = 0; i < 50; ++i) {
    SideFsync ok(fd_);
    EXPECT_EQ(ok.wait(), 0) << i;
    SideFsync bad(bad_);
    EXPECT_EQ(bad.wait(), -EBADF) << i;
    SideFsync opath(opath_);  // an O_PATH descriptor cannot be synced
    EXPECT_EQ(opath.wait(), -EBADF) << i;
  }
}

TEST_F(SideFsyncTest, WaitTwiceGivesTheSameResult) {
  SideFsync bad(bad_);
  EXPECT_EQ(bad.wait(), -EBADF);
  EXPECT_EQ(bad.wait(), -EBADF);
  SideFsync ok(fd_);
  EXPECT_EQ(ok.wait(), 0);
}

TEST_F(SideFsyncTest, ADestroyedOneLeavesNoCompletionBehind) {
  for (int i = 0; i < 20; ++i) {
    { SideFsync forgotten(bad_); }  // the destructor reaps its completion
    SideFsync ok(fd_);
    EXPECT_EQ(ok.wait(), 0) << i;
    { SideFsync forgotten(fd_); }
    SideFsync bad(bad_);
    EXPECT_EQ(bad.wait(), -EBADF) << i;
  }
}

TEST_F(SideFsyncTest, WorkRunsWhileItIsInFlight) {
  SideFsync s(fd_);
  // The caller's own work meanwhile: a write and a sync of the same file.
  ASSERT_EQ(pwrite(fd_, "more", 4, 4), 4);
  ASSERT_EQ(fdatasync(fd_), 0);
  EXPECT_EQ(s.wait(), 0);
  char buf[8];
  ASSERT_EQ(pread(fd_, buf, 8, 0), 8);
  EXPECT_EQ(std::string(buf, 8), "datamore");
}

TEST_F(SideFsyncTest, ThreadsUseTheirOwnRings) {
  std::vector<std::thread> ts;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const bool good = (i + t) % 2 == 0;
        SideFsync s(good ? fd_ : bad_);
        if (s.wait() != (good ? 0 : -EBADF)) ++failures[t];
      }
    });
  }
  for (auto& th : ts) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace zvfs::daemon
