// prefix_test.cc — path classification: lexical normalisation, prefix boundaries, and the
// kernel-resolved checks on real descriptors (symlinks into and out of a prefix, openat, "..").
#include "client/prefix.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/config.h"

namespace zvfs::client {
namespace {

std::string norm(const char* in) {
  char out[256];
  if (!normalize_path(in, out, sizeof out)) return "<fail>";
  return out;
}

TEST(Prefix, NormalizeCollapsesDotsAndSlashes) {
  EXPECT_EQ(norm("/"), "/");
  EXPECT_EQ(norm("/zvfs/"), "/zvfs");
  EXPECT_EQ(norm("//zvfs///a//b/"), "/zvfs/a/b");
  EXPECT_EQ(norm("/zvfs/./a/."), "/zvfs/a");
  EXPECT_EQ(norm("/zvfs/a/../b"), "/zvfs/b");
  EXPECT_EQ(norm("/../.."), "/");
  EXPECT_EQ(norm("/a/b/c/../../.."), "/");
  EXPECT_EQ(norm("relative/path"), "<fail>");
  char tiny[4];
  EXPECT_FALSE(normalize_path("/abcdef", tiny, sizeof tiny));
}

TEST(Prefix, BoundaryIsAComponent) {
  EXPECT_TRUE(path_under("/zvfs", "/zvfs"));
  EXPECT_TRUE(path_under("/zvfs/a/b", "/zvfs"));
  EXPECT_FALSE(path_under("/zvfs2", "/zvfs"));
  EXPECT_FALSE(path_under("/zvfs2/a", "/zvfs"));
  EXPECT_FALSE(path_under("/zv", "/zvfs"));
  EXPECT_FALSE(path_under("/other", "/zvfs"));
  EXPECT_TRUE(path_under("/anything", "/"));
}

TEST(Prefix, ColonListSkipsEmptyEntries) {
  std::vector<std::string> got;
  int n = split_colon_list("::/a:/b/c::/d:",
                           [&](const char* s, size_t len) { got.emplace_back(s, len); });
  EXPECT_EQ(n, 3);
  EXPECT_EQ(got, (std::vector<std::string>{"/a", "/b/c", "/d"}));
  EXPECT_EQ(split_colon_list("", [](const char*, size_t) {}), 0);
}

TEST(PlainSuffixes, DefaultKeepsSqliteShmPlain) {
  plain_suffixes_init(kDefaultPlainSuffixes);
  EXPECT_TRUE(name_stays_plain("/zvfs/db/t.db-shm"));
  EXPECT_TRUE(name_stays_plain("t.db-shm"));
  EXPECT_TRUE(name_stays_plain("/zvfs/x-shm/"));
  EXPECT_FALSE(name_stays_plain("/zvfs/db/t.db"));
  EXPECT_FALSE(name_stays_plain("/zvfs/db/t.db-wal"));
  EXPECT_FALSE(name_stays_plain("/zvfs/db/-shm"));     // the suffix alone is not a name with it
  EXPECT_FALSE(name_stays_plain("/zvfs/a-shm/file"));  // a directory's name does not count
  EXPECT_FALSE(name_stays_plain(nullptr));
}

TEST(PlainSuffixes, ListFromSpecAndEmptyMeansNone) {
  plain_suffixes_init(":.mmap::-shm:");
  EXPECT_TRUE(name_stays_plain("/zvfs/seg.mmap"));
  EXPECT_TRUE(name_stays_plain("/zvfs/t-shm"));
  EXPECT_FALSE(name_stays_plain("/zvfs/seg.mmap.old"));
  plain_suffixes_init("");
  EXPECT_FALSE(name_stays_plain("/zvfs/t.db-shm"));
  plain_suffixes_init(kDefaultPlainSuffixes);
}

TEST(PlainSuffixes, EnvironmentThenConfigurationFileThenDefault) {
  const char text[] = "plain-suffixes = .seg:-shm\n";
  ASSERT_EQ(process_config().parse(text, sizeof text - 1), 0);
  unsetenv("ZVFS_PLAIN_SUFFIXES");
  plain_suffixes_init(nullptr);
  EXPECT_TRUE(name_stays_plain("/zvfs/a.seg"));
  setenv("ZVFS_PLAIN_SUFFIXES", "", 1);  // set but empty: none, over the file
  plain_suffixes_init(nullptr);
  EXPECT_FALSE(name_stays_plain("/zvfs/a.seg"));
  EXPECT_FALSE(name_stays_plain("/zvfs/t-shm"));
  unsetenv("ZVFS_PLAIN_SUFFIXES");
  process_config().clear();
  plain_suffixes_init(nullptr);
  EXPECT_FALSE(name_stays_plain("/zvfs/a.seg"));
  EXPECT_TRUE(name_stays_plain("/zvfs/t-shm"));
}

class PrefixFs : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zvfs-prefix-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    root_ = base_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/sub").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((base_ + "/root2").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((base_ + "/out").c_str(), 0755), 0);
    touch(root_ + "/sub/in");
    touch(base_ + "/root2/f");
    touch(base_ + "/out/f");
    // A tablespace-style link from outside into the prefix, and one from inside out of it.
    ASSERT_EQ(symlink((root_ + "/sub").c_str(), (base_ + "/link-in").c_str()), 0);
    ASSERT_EQ(symlink((base_ + "/out").c_str(), (root_ + "/link-out").c_str()), 0);
    // The prefix itself spelled through a symlink.
    ASSERT_EQ(symlink(root_.c_str(), (base_ + "/alias").c_str()), 0);
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + base_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  static void touch(const std::string& p) {
    int fd = ::open(p.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  bool under(const std::string& p) {
    int fd = ::open(p.c_str(), O_RDONLY);
    EXPECT_GE(fd, 0) << p;
    bool r = fd_under_prefix(fd);
    ::close(fd);
    return r;
  }
  std::string base_, root_;
};

TEST_F(PrefixFs, DescriptorsAreClassifiedByTheKernelsName) {
  std::string spec = base_ + "/alias";  // the prefix given through a symlink
  prefix_init(spec.c_str());
  EXPECT_EQ(prefix_count(), 1);
  EXPECT_TRUE(under(root_ + "/sub/in"));
  EXPECT_TRUE(under(base_ + "/link-in/in"));  // symlink into the prefix
  EXPECT_TRUE(under(root_ + "/sub/../sub/./in"));
  EXPECT_FALSE(under(root_ + "/link-out/f"));  // symlink out of it
  EXPECT_FALSE(under(base_ + "/root2/f"));     // "/root2" is not under "/root"
  EXPECT_FALSE(under(base_ + "/out/f"));
  // openat relative to a directory descriptor inside the prefix.
  int dfd = ::open((root_ + "/sub").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dfd, 0);
  int fd = ::openat(dfd, "in", O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(fd_under_prefix(fd));
  ::close(fd);
  // /proc/self/fd/N reopen keeps the classification.
  fd = ::open(("/proc/self/fd/" + std::to_string(dfd) + "/in").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(fd_under_prefix(fd));
  ::close(fd);
  ::close(dfd);
  struct stat st;
  ASSERT_EQ(::stat(root_.c_str(), &st), 0);
  EXPECT_TRUE(dev_may_hold_prefix(st.st_dev));
}

// Files found outside every prefix are remembered by inode and ctime: a rename (which changes
// the ctime) into the prefix, a second name, or a file under the prefix is never answered from
// memory.
TEST_F(PrefixFs, FilesOutsideAreRememberedUntilTheyChange) {
  prefix_init(root_.c_str());
  auto check = [](const std::string& p, bool* under_out) {
    int fd = ::open(p.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0) << p;
    struct stat st;
    ASSERT_EQ(::fstat(fd, &st), 0);
    *under_out = fd_under_prefix(fd, st);
    ::close(fd);
  };
  auto stat_of = [](const std::string& p) {
    struct stat st;
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st;
  };
  bool under_prefix = true;
  const std::string out = base_ + "/out/f";
  EXPECT_FALSE(known_outside_prefix(stat_of(out)));
  check(out, &under_prefix);
  EXPECT_FALSE(under_prefix);
  EXPECT_TRUE(known_outside_prefix(stat_of(out)));
  // Moved into the prefix: the rename changed its ctime, so it is classified afresh.
  usleep(20000);  // a ctime the file system can tell from the old one
  const std::string moved = root_ + "/sub/moved";
  ASSERT_EQ(::rename(out.c_str(), moved.c_str()), 0);
  EXPECT_FALSE(known_outside_prefix(stat_of(moved)));
  check(moved, &under_prefix);
  EXPECT_TRUE(under_prefix);
  EXPECT_FALSE(known_outside_prefix(stat_of(moved)));
  // A file with a second name is never remembered: the other name may be under the prefix.
  const std::string twice = base_ + "/root2/f";
  ASSERT_EQ(::link(twice.c_str(), (base_ + "/out/f2").c_str()), 0);
  check(twice, &under_prefix);
  EXPECT_FALSE(under_prefix);
  EXPECT_FALSE(known_outside_prefix(stat_of(twice)));
}

TEST_F(PrefixFs, NamesAreClassifiedThroughTheirParent) {
  std::string spec = "/nonexistent-prefix-zz:" + root_;
  prefix_init(spec.c_str());
  EXPECT_EQ(prefix_count(), 2);
  EXPECT_EQ(name_under_prefix(AT_FDCWD, (root_ + "/sub/new-name").c_str()), 1);
  EXPECT_EQ(name_under_prefix(AT_FDCWD, (base_ + "/link-in/new").c_str()), 1);
  EXPECT_EQ(name_under_prefix(AT_FDCWD, (root_ + "/link-out/new").c_str()), 0);
  // The last component is not followed: the link itself lives in the prefix.
  EXPECT_EQ(name_under_prefix(AT_FDCWD, (root_ + "/link-out").c_str()), 1);
  EXPECT_EQ(name_under_prefix(AT_FDCWD, (base_ + "/out/x").c_str()), 0);
  EXPECT_EQ(name_under_prefix(AT_FDCWD, (root_ + "/missing-dir/x").c_str()), -ENOENT);
  int dfd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dfd, 0);
  EXPECT_EQ(name_under_prefix(dfd, "sub/x"), 1);
  EXPECT_EQ(name_under_prefix(dfd, "../out/x"), 0);
  EXPECT_EQ(name_under_prefix(dfd, "x"), 1);
  ::close(dfd);
}

// The hint before an open (preconnect.h): names compared as written, against the prefix as
// configured and as canonicalised; no link followed.
TEST_F(PrefixFs, NamesAreComparedLexicallyAsConfiguredAndCanonical) {
  std::string spec = base_ + "/alias";  // the prefix spelled through a symlink
  prefix_init(spec.c_str());
  EXPECT_TRUE(path_lexically_under_prefix((base_ + "/alias/sub/x").c_str()));
  EXPECT_TRUE(path_lexically_under_prefix((root_ + "/sub/x").c_str()));  // canonical
  EXPECT_TRUE(path_lexically_under_prefix((base_ + "/out/../root//./x").c_str()));
  EXPECT_TRUE(path_lexically_under_prefix(root_.c_str()));
  EXPECT_FALSE(path_lexically_under_prefix((base_ + "/root2/f").c_str()));
  EXPECT_FALSE(path_lexically_under_prefix((root_ + "/../out/f").c_str()));
  EXPECT_FALSE(path_lexically_under_prefix((base_ + "/link-in/x").c_str()));  // not followed
  EXPECT_FALSE(path_lexically_under_prefix("relative/x"));
  EXPECT_TRUE(prefix_lexically_below(base_.c_str()));
  EXPECT_TRUE(prefix_lexically_below("/"));
  EXPECT_TRUE(prefix_lexically_below(root_.c_str()));  // the prefix itself
  EXPECT_FALSE(prefix_lexically_below((root_ + "/sub").c_str()));
  EXPECT_FALSE(prefix_lexically_below((base_ + "/out").c_str()));
}

TEST(PrefixDefault, DefaultIsSlashZvfs) {
  unsetenv("ZVFS_ROOT");
  prefix_init(nullptr);
  EXPECT_EQ(prefix_count(), 1);
  EXPECT_TRUE(canonical_path_under_prefix("/zvfs/x"));
  EXPECT_FALSE(canonical_path_under_prefix("/zvfs2/x"));
  prefix_init("relative:also/relative");
  EXPECT_EQ(prefix_count(), 0);
}

}  // namespace
}  // namespace zvfs::client
