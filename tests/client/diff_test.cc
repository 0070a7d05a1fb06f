// diff_test.cc — the differential test: zvfs_difftest runs once in a plain directory without
// the library and once under a ZVFS prefix with it; every line (call, result, errno, hash of the
// bytes read, sizes) must be the same. Also: the same comparison with the library loaded but the
// directory outside the prefixes (pure pass-through, needs no daemon), and the placeholders left
// behind are holes (st_blocks 0) whose st_size mirrors the logical size.
#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <sstream>

#include "harness.h"

namespace zvfs::test {
namespace {

// First differing line, with context, or "" if equal.
std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  long line = 0;
  while (true) {
    bool ga = static_cast<bool>(std::getline(sa, la));
    bool gb = static_cast<bool>(std::getline(sb, lb));
    if (!ga && !gb) return "";
    if (la != lb || ga != gb) {
      std::ostringstream o;
      o << "line " << line << ":\n  plain: " << (ga ? la : "<end>")
        << "\n  zvfs:  " << (gb ? lb : "<end>");
      return o.str();
    }
    ++line;
  }
}

long count_lines(const std::string& s) {
  long n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

class DiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = make_temp_dir("diff");
    ASSERT_FALSE(base_.empty());
    plain_ = base_ + "/plain";
    root_ = base_ + "/zroot";
    ASSERT_EQ(mkdir(plain_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/work").c_str(), 0755), 0);
  }
  void TearDown() override { remove_tree(base_); }

  // Runs the exerciser in both places and compares.
  void compare(const std::vector<std::string>& args, const std::vector<std::string>& zenv,
               const std::string& zdir) {
    std::vector<std::string> argv = {kDiffProg};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult a = run(argv, {}, plain_, 600);
    ASSERT_EQ(a.status, 0) << a.err;
    RunResult b = run(argv, zenv, zdir, 600);
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_GT(count_lines(a.out), 100);
    std::string d = first_difference(a.out, b.out);
    EXPECT_EQ(d, "") << "arguments:" << [&] {
      std::string s;
      for (auto& x : args) s += " " + x;
      return s;
    }();
    std::printf("[ diff ] %s %s %s: %ld calls compared\n", args[0].c_str(), args[1].c_str(),
                args[2].c_str(), count_lines(a.out));
  }

  std::string base_, plain_, root_;
};

TEST_F(DiffTest, PassThroughOutsideThePrefixIsInvisible) {
  // No daemon: nothing under the prefix is touched, so the library must never need one.
  auto env = preload_env(root_, base_ + "/no-daemon.sock");
  std::string other = base_ + "/other";
  ASSERT_EQ(mkdir(other.c_str(), 0755), 0);
  compare({"script", "1", "0"}, env, other);
  remove_tree(other);
  ASSERT_EQ(mkdir(other.c_str(), 0755), 0);
  remove_tree(plain_);
  ASSERT_EQ(mkdir(plain_.c_str(), 0755), 0);
  compare({"random", "7", "3000"}, env, other);
}

class DiffZvfsTest : public DiffTest {
 protected:
  void SetUp() override {
    DiffTest::SetUp();
    std::string why;
    // The random runs also with write-behind (off by default): each write answered before it
    // is applied must still read back, size and sync exactly as on the plain file system.
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    if (name == "RandomSeeds") daemon_.set_extra_args({"--write-behind", "yes"});
    ASSERT_TRUE(daemon_.start(&why)) << why;
  }
  void TearDown() override {
    EXPECT_EQ(daemon_.stop(), 0) << "zvfsd did not stop cleanly; log in " << daemon_.dir();
    remove_tree(daemon_.dir());
    DiffTest::TearDown();
  }
  // Every regular file left in the prefix is a hole whose size mirrors the logical size.
  void expect_placeholders(const std::string& dir) {
    DIR* d = opendir(dir.c_str());
    ASSERT_NE(d, nullptr);
    int files = 0;
    while (struct dirent* e = readdir(d)) {
      std::string p = dir + "/" + e->d_name;
      struct stat st;
      if (lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      ++files;
      EXPECT_EQ(st.st_blocks, 0) << p << " holds data blocks: the data is not in the pool";
    }
    closedir(d);
    EXPECT_GT(files, 0);
  }
  Zvfsd daemon_;
};

TEST_F(DiffZvfsTest, Scripted) {
  compare({"script", "1", "0"}, preload_env(root_, daemon_.socket()), root_ + "/work");
  expect_placeholders(root_ + "/work");
}

TEST_F(DiffZvfsTest, RandomSeeds) {
  const char* seed_env = getenv("ZVFS_DIFF_SEED");
  unsigned long long seed = seed_env != nullptr ? strtoull(seed_env, nullptr, 10)
                                                : static_cast<unsigned long long>(time(nullptr));
  std::printf("[ diff ] random seed %llu (set ZVFS_DIFF_SEED to replay)\n", seed);
  for (int round = 0; round < 2; ++round) {
    std::string s = std::to_string(seed + static_cast<unsigned long long>(round));
    compare({"random", s, "12000"}, preload_env(root_, daemon_.socket()), root_ + "/work");
    if (HasFailure()) return;
    remove_tree(plain_);
    ASSERT_EQ(mkdir(plain_.c_str(), 0755), 0);
    remove_tree(root_ + "/work");
    ASSERT_EQ(mkdir((root_ + "/work").c_str(), 0755), 0);
  }
}

// A symlink from outside into the prefix (a PostgreSQL tablespace) reaches ZVFS files.
TEST_F(DiffZvfsTest, ThroughASymlinkIntoThePrefix) {
  std::string link = base_ + "/tablespace";
  ASSERT_EQ(symlink((root_ + "/work").c_str(), link.c_str()), 0);
  compare({"script", "3", "0"}, preload_env(root_, daemon_.socket()), link);
  expect_placeholders(root_ + "/work");
}

}  // namespace
}  // namespace zvfs::test
