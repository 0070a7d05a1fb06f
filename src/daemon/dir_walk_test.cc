// dir_walk_test.cc — the guard's directory walk: every directory once, no symbolic link
// followed below the root, bounded, stoppable, and a missing root reported.
#include "daemon/dir_walk.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

namespace zvfs::daemon {
namespace {

class DirWalk : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zvfs-dirwalk-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    char other[] = "/tmp/zvfs-dirwalk-out-XXXXXX";
    ASSERT_NE(mkdtemp(other), nullptr);
    outside_ = other;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + root_ + "' '" + outside_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  void mk(const std::string& rel) { ASSERT_EQ(mkdir((root_ + "/" + rel).c_str(), 0755), 0) << rel; }
  uint64_t ino(const std::string& path) {
    struct stat st;
    EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
    return st.st_ino;
  }
  // The inodes a walk visits.
  std::multiset<uint64_t> walk(const std::string& root, uint64_t max, WalkResult* res) {
    std::multiset<uint64_t> got;
    auto r = walk_directories(root, max, [&](int fd, const DirKey& k) {
      struct stat st;
      EXPECT_EQ(fstat(fd, &st), 0);
      EXPECT_TRUE(S_ISDIR(st.st_mode));
      EXPECT_EQ(st.st_ino, k.ino);
      got.insert(k.ino);
      return true;
    });
    EXPECT_TRUE(r.ok());
    if (r.ok()) *res = *r;
    return got;
  }
  std::string root_, outside_;
};

TEST_F(DirWalk, VisitsEveryDirectoryOnceAndNoSymlink) {
  mk("a");
  mk("a/b");
  mk("a/b/c");
  mk("d");
  ASSERT_EQ(mkdir((outside_ + "/x").c_str(), 0755), 0);
  int f = open((root_ + "/a/file").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  ASSERT_GE(f, 0);
  close(f);
  ASSERT_EQ(symlink(outside_.c_str(), (root_ + "/a/link-out").c_str()), 0);
  ASSERT_EQ(symlink("b", (root_ + "/a/link-in").c_str()), 0);
  WalkResult res;
  auto got = walk(root_, 1000, &res);
  std::multiset<uint64_t> want{ino(root_), ino(root_ + "/a"), ino(root_ + "/a/b"),
                               ino(root_ + "/a/b/c"), ino(root_ + "/d")};
  EXPECT_EQ(got, want);
  EXPECT_EQ(res.dirs, 5u);
  EXPECT_EQ(res.skipped, 0u);
  EXPECT_FALSE(res.truncated);
}

TEST_F(DirWalk, RootThroughASymlinkIsFollowed) {
  mk("a");
  std::string link = outside_ + "/root-link";
  ASSERT_EQ(symlink(root_.c_str(), link.c_str()), 0);
  WalkResult res;
  auto got = walk(link, 1000, &res);
  EXPECT_EQ(got, (std::multiset<uint64_t>{ino(root_), ino(root_ + "/a")}));
}

TEST_F(DirWalk, StopsAtTheLimit) {
  for (int i = 0; i < 10; ++i) mk(std::string("d").append(std::to_string(i)));
  WalkResult res;
  auto got = walk(root_, 4, &res);
  EXPECT_EQ(got.size(), 4u);
  EXPECT_EQ(res.dirs, 4u);
  EXPECT_TRUE(res.truncated);
}

TEST_F(DirWalk, VisitCanStopIt) {
  mk("a");
  mk("b");
  int calls = 0;
  auto r = walk_directories(root_, 1000, [&](int, const DirKey&) { return ++calls < 2; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(r->truncated);
}

TEST_F(DirWalk, MissingRootOrFileIsAnError) {
  auto r = walk_directories(root_ + "/missing", 10, [](int, const DirKey&) { return true; });
  EXPECT_EQ(r.code(), ENOENT);
  int f = open((root_ + "/file").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  ASSERT_GE(f, 0);
  close(f);
  r = walk_directories(root_ + "/file", 10, [](int, const DirKey&) { return true; });
  EXPECT_EQ(r.code(), ENOTDIR);
}

TEST_F(DirWalk, KeyTellsDirectoriesApart) {
  mk("a");
  mk("b");
  DirKey a, b, a2;
  ASSERT_EQ(dir_key(AT_FDCWD, (root_ + "/a").c_str(), &a), 0);
  ASSERT_EQ(dir_key(AT_FDCWD, (root_ + "/b").c_str(), &b), 0);
  int fd = open((root_ + "/a").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(dir_key(fd, "", &a2), 0);
  close(fd);
  EXPECT_EQ(a, a2);
  EXPECT_FALSE(a == b);
  EXPECT_EQ(DirKeyHash()(a), DirKeyHash()(a2));
  int f = open((root_ + "/file").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  ASSERT_GE(f, 0);
  close(f);
  EXPECT_EQ(dir_key(AT_FDCWD, (root_ + "/file").c_str(), &a2), -ENOTDIR);
}

}  // namespace
}  // namespace zvfs::daemon
