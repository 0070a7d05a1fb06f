// options_test.cc — zvfsd's mount prefixes (--root, its default from ZVFS_ROOT, and what is
// refused) and its configuration file under the environment and the flags.
#include "daemon/options.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "common/config.h"
#include "common/test_files.h"

namespace zvfs::daemon {
namespace {

int parse_raw(std::vector<std::string> args, Options* o) {
  args.insert(args.begin(), "zvfsd");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parse_options(static_cast<int>(args.size()), argv.data(), o);
}

int parse(std::vector<std::string> args, Options* o) {
  args.insert(args.begin(), {"--pool", "/p"});
  return parse_raw(args, o);
}

// No configuration file of the machine's may leak into these tests.
class NoMachineConfig : public ::testing::Environment {
  void SetUp() override { setenv("ZVFS_CONFIG", "", 1); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new NoMachineConfig);

using Roots = std::vector<std::string>;

TEST(Options, RootsDefaultToZvfsRootThenSlashZvfs) {
  Options o;
  ASSERT_EQ(setenv("ZVFS_ROOT", "/a::/b/c:relative", 1), 0);
  ASSERT_EQ(parse({}, &o), 0);
  EXPECT_EQ(o.roots, (Roots{"/a", "/b/c"}));  // a relative entry is skipped, as the library does
  ASSERT_EQ(unsetenv("ZVFS_ROOT"), 0);
  ASSERT_EQ(parse({}, &o), 0);
  EXPECT_EQ(o.roots, (Roots{"/zvfs"}));
}

TEST(Options, RootReplacesTheDefaultAndAccumulates) {
  Options o;
  ASSERT_EQ(setenv("ZVFS_ROOT", "/env", 1), 0);
  ASSERT_EQ(parse({"--root", "/x:/y", "--root", "/z"}, &o), 0);
  EXPECT_EQ(o.roots, (Roots{"/x", "/y", "/z"}));
  ASSERT_EQ(parse({"--root", ""}, &o), 0);
  EXPECT_TRUE(o.roots.empty());
  ASSERT_EQ(unsetenv("ZVFS_ROOT"), 0);
}

TEST(Options, RelativeOrMissingRootIsRefused) {
  Options o;
  EXPECT_EQ(parse({"--root", "/x:rel"}, &o), 1);
  EXPECT_EQ(parse({"--root"}, &o), 1);
}

TEST(Options, PollMicrosecondsDefaultRangeAndNever) {
  Options o;
  ASSERT_EQ(parse({}, &o), 0);
  EXPECT_EQ(o.poll_us, 1000u);
  ASSERT_EQ(parse({"--poll-us", "0"}, &o), 0);
  EXPECT_EQ(o.poll_us, 0u);
  ASSERT_EQ(parse({"--poll-us", "1000000"}, &o), 0);
  EXPECT_EQ(o.poll_us, 1000000u);
  Options bad;
  EXPECT_EQ(parse({"--poll-us", "1000001"}, &bad), 1);
  EXPECT_EQ(parse({"--poll-us", "-1"}, &bad), 1);
  EXPECT_EQ(parse({"--poll-us", "5ms"}, &bad), 1);
}

TEST(Options, BlockSizeIsAPowerOfTwoFrom4KTo1M) {
  Options o;
  ASSERT_EQ(parse({}, &o), 0);
  EXPECT_EQ(o.block_size, 0u);  // the engine's default
  ASSERT_EQ(parse({"--block-size", "8K"}, &o), 0);
  EXPECT_EQ(o.block_size, 8192u);
  ASSERT_EQ(parse({"--block-size", "1M"}, &o), 0);
  EXPECT_EQ(o.block_size, 1u << 20);
  for (const char* bad : {"2K", "12K", "2M", "0", "big"}) {
    Options b;
    EXPECT_EQ(parse({"--block-size", bad}, &b), 1) << bad;
  }
}

class OptionsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    unsetenv("ZVFS_ROOT");
    unsetenv("ZVFS_SOCKET");
    unsetenv("ZVFS_SOCKET_PATH");
  }
  void TearDown() override {
    setenv("ZVFS_CONFIG", "", 1);
    unsetenv("ZVFS_ROOT");
    unsetenv("ZVFS_SOCKET");
  }
  void write(const std::string& text) { ASSERT_TRUE(testing::write_file(path_, text)); }
  testing::TempDir dir_{"options"};
  std::string path_ = dir_.file("zvfs.conf");
};

TEST_F(OptionsFile, TheFileSetsEveryKindOfOption) {
  write(
      "pool = /var/lib/zvfs/a.pool\n"
      "size = 2G\n"
      "socket = /run/a.sock\n"
      "root = /r1:/r2\n"
      "cache = 64M\n"
      "socket-mode = 0660\n"
      "binding = user\n"
      "session-workers = 2\n"
      "poll-us = 0\n"
      "slot-size = 256K\n"
      "buffered = yes\n"
      "guard = no\n"
      "write-behind = yes\n"
      "lock-wait = 0\n"
      "timeout-ms = 500\n"  // the library's: accepted, not zvfsd's
      "log-level = debug\n");
  Options o;
  ASSERT_EQ(parse_raw({"--config", path_}, &o), 0);
  EXPECT_EQ(o.pool, "/var/lib/zvfs/a.pool");
  EXPECT_EQ(o.size, 2ull << 30);
  EXPECT_EQ(o.socket, "/run/a.sock");
  EXPECT_EQ(o.roots, (Roots{"/r1", "/r2"}));
  EXPECT_EQ(o.cache, 64ull << 20);
  EXPECT_EQ(o.socket_mode, 0660u);
  EXPECT_EQ(o.binding, "user");
  EXPECT_EQ(o.session_workers, 2u);
  EXPECT_EQ(o.poll_us, 0u);
  EXPECT_EQ(o.slot_bytes, 256u << 10);
  EXPECT_TRUE(o.buffered);
  EXPECT_FALSE(o.guard);
  EXPECT_TRUE(o.write_behind);
  EXPECT_EQ(o.lock_wait_ms, 0u);
  EXPECT_EQ(o.log_level, "debug");
  // $ZVFS_CONFIG names the same file.
  setenv("ZVFS_CONFIG", path_.c_str(), 1);
  Options o2;
  ASSERT_EQ(parse_raw({}, &o2), 0);
  EXPECT_EQ(o2.pool, "/var/lib/zvfs/a.pool");
  // Off unless asked for; the flag turns it on or off.
  setenv("ZVFS_CONFIG", "", 1);  // no file, as for every other test here
  Options d;
  EXPECT_FALSE(d.write_behind);
  ASSERT_EQ(parse({"--write-behind", "yes"}, &d), 0);
  EXPECT_TRUE(d.write_behind);
  EXPECT_EQ(parse({"--write-behind", "maybe"}, &d), 1);
}

TEST_F(OptionsFile, EnvironmentOverTheFileAndFlagsOverBoth) {
  write("pool = /file.pool\nsocket = /file.sock\nroot = /file\ncache = 64M\nguard = no\n");
  setenv("ZVFS_CONFIG", path_.c_str(), 1);
  setenv("ZVFS_SOCKET", "/env.sock", 1);
  setenv("ZVFS_ROOT", "/env", 1);
  Options o;
  ASSERT_EQ(parse_raw({}, &o), 0);
  EXPECT_EQ(o.socket, "/env.sock");
  EXPECT_EQ(o.roots, (Roots{"/env"}));
  EXPECT_EQ(o.cache, 64ull << 20);
  Options f;
  ASSERT_EQ(parse_raw({"--pool", "/flag.pool", "--socket", "/flag.sock", "--root", "/flag",
                       "--cache", "1G"},
                      &f),
            0);
  EXPECT_EQ(f.pool, "/flag.pool");
  EXPECT_EQ(f.socket, "/flag.sock");
  EXPECT_EQ(f.roots, (Roots{"/flag"}));
  EXPECT_EQ(f.cache, 1ull << 30);
  EXPECT_FALSE(f.guard);  // from the file: no flag turns it back on
}

TEST_F(OptionsFile, BadSettingsAreRefusedWithFileAndLine) {
  Options o;
  write("pool = /p\ncache = lots\n");
  EXPECT_EQ(parse_raw({"--config", path_}, &o), 1);
  write("pool = /p\nroot = relative\n");
  EXPECT_EQ(parse_raw({"--config", path_}, &o), 1);
  write("pool = /p\nforeground = yes\n");  // not a setting of the file
  EXPECT_EQ(parse_raw({"--config", path_}, &o), 1);
  write("pool = /p\nbuffered = maybe\n");
  EXPECT_EQ(parse_raw({"--config", path_}, &o), 1);
  write("pool = /p\nlog-level = verbose\n");
  EXPECT_EQ(parse_raw({"--config", path_}, &o), 1);
  EXPECT_EQ(parse({"--log-level", "loud"}, &o), 1);
  EXPECT_EQ(parse_raw({"--config", dir_.file("absent.conf")}, &o), 1);
  EXPECT_EQ(parse_raw({"--config"}, &o), 1);
  // A flag that is only the library's is not zvfsd's.
  EXPECT_EQ(parse({"--timeout-ms", "5"}, &o), 1);
  EXPECT_EQ(parse({"--guard", "yes"}, &o), 1);
}

TEST_F(OptionsFile, PoolFromNowhereIsAnError) {
  write("cache = 64M\n");
  Options o;
  EXPECT_EQ(parse_raw({"--config", path_}, &o), 1);
  EXPECT_EQ(parse_raw({}, &o), 1);
}

}  // namespace
}  // namespace zvfs::daemon
