// config_test.cc — the configuration file's syntax, its limits, which file is read, and the
// order between the environment and the file.
#include "common/config.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "common/roots.h"
#include "common/test_files.h"

namespace zvfs {
namespace {

int parse(Config& c, const std::string& text) {
  return c.parse(text.data(), text.size());
}

TEST(Config, NamesValuesCommentsAndBlankLines) {
  Config c;
  ASSERT_EQ(parse(c,
                  "# a comment\n"
                  "\n"
                  "  pool = /var/lib/zvfs/my pool  \n"
                  "cache=1G\r\n"
                  "\troot =\t/a:/b\n"
                  "plain-suffixes =\n"
                  "cache = 2G\n"
                  "   # an indented comment"),
            0);
  EXPECT_STREQ(c.get("pool"), "/var/lib/zvfs/my pool");  // inner spaces kept, outer trimmed
  EXPECT_STREQ(c.get("cache"), "2G");                    // the last line wins
  EXPECT_STREQ(c.get("root"), "/a:/b");
  EXPECT_STREQ(c.get("plain-suffixes"), "");  // present and empty
  EXPECT_EQ(c.get("socket"), nullptr);
  ASSERT_EQ(c.size(), 5);
  EXPECT_EQ(c.entry(0).line, 3);
  EXPECT_EQ(c.entry(4).line, 7);
}

TEST(Config, MalformedLinesReportTheirNumberAndLeaveItEmpty) {
  Config c;
  EXPECT_EQ(parse(c, "cache = 1G\njust words\n"), 2);
  EXPECT_EQ(c.size(), 0);
  EXPECT_EQ(c.get("cache"), nullptr);
  EXPECT_EQ(parse(c, "# x\n = value\n"), 2);   // no name
  EXPECT_EQ(parse(c, "pool file = /p\n"), 1);  // a name is one word
  EXPECT_EQ(parse(c, "a = 1\n\n\nb\n"), 4);
  EXPECT_EQ(parse(c, "url = a=b\n"), 0);  // the first '=' separates
  EXPECT_STREQ(c.get("url"), "a=b");
}

TEST(Config, LimitsOfSizeAndCount) {
  Config c;
  std::string big(Config::kMaxBytes + 1, '#');
  EXPECT_EQ(parse(c, big), -EFBIG);
  std::string many;
  for (int i = 0; i <= Config::kMaxEntries; ++i)
    many.append("n").append(std::to_string(i)).append(" = v\n");
  EXPECT_EQ(parse(c, many), -E2BIG);
  EXPECT_EQ(c.size(), 0);
  std::string full(Config::kMaxBytes - 6, '#');
  EXPECT_EQ(parse(c, full + "\na = b"), 0);  // exactly kMaxBytes
  EXPECT_STREQ(c.get("a"), "b");
}

TEST(Config, KnownSettingsAndTheirUsers) {
  EXPECT_EQ(config_users("cache"), static_cast<unsigned>(kForDaemon));
  EXPECT_NE(config_users("socket") & kForLibrary, 0u);
  EXPECT_NE(config_users("root") & kForDaemon, 0u);
  EXPECT_EQ(config_users("timeout-ms"), static_cast<unsigned>(kForLibrary));
  EXPECT_NE(config_users("pool") & kForCli, 0u);
  EXPECT_EQ(config_users("foreground"), 0u);  // zvfs up needs a daemon that detaches
  EXPECT_EQ(config_users("cahce"), 0u);
}

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    unsetenv("ZVFS_ROOT");
    unsetenv("ZVFS_CONFIG");
  }
  void TearDown() override {
    unsetenv("ZVFS_ROOT");
    unsetenv("ZVFS_CONFIG");
    process_config().clear();
  }
  void write(const std::string& text) { ASSERT_TRUE(testing::write_file(path_, text)); }
  bool load(const char* path, std::string* msg) {
    char buf[512] = "";
    bool ok = load_process_config(path, buf, sizeof buf);
    *msg = buf;
    return ok;
  }
  testing::TempDir dir_{"config"};
  std::string path_ = dir_.file("zvfs.conf");
};

TEST_F(ConfigFile, WhichFileIsRead) {
  bool named = true;
  EXPECT_STREQ(config_path(&named), kDefaultConfigPath);
  EXPECT_FALSE(named);
  setenv("ZVFS_CONFIG", "/x/y.conf", 1);
  EXPECT_STREQ(config_path(&named), "/x/y.conf");
  EXPECT_TRUE(named);
  setenv("ZVFS_CONFIG", "", 1);  // empty: no file at all
  EXPECT_EQ(config_path(&named), nullptr);
}

TEST_F(ConfigFile, EnvironmentWinsOverTheFileWhichWinsOverTheDefault) {
  write("root = /from/file\nsocket = /file.sock\n");
  std::string msg;
  ASSERT_TRUE(load(path_.c_str(), &msg)) << msg;
  EXPECT_STREQ(root_list(nullptr), "/from/file");
  EXPECT_STREQ(env_or_config("ZVFS_SOCKET_TEST_UNSET", "socket"), "/file.sock");
  setenv("ZVFS_ROOT", "/from/env", 1);
  EXPECT_STREQ(root_list(nullptr), "/from/env");
  setenv("ZVFS_ROOT", "", 1);  // empty counts as unset
  EXPECT_STREQ(root_list(nullptr), "/from/file");
  process_config().clear();
  EXPECT_STREQ(root_list(nullptr), kDefaultRoots);
}

TEST_F(ConfigFile, MissingDefaultIsFineMissingNamedFileIsAnError) {
  std::string msg;
  setenv("ZVFS_CONFIG", dir_.file("absent.conf").c_str(), 1);
  EXPECT_FALSE(load(nullptr, &msg));
  EXPECT_NE(msg.find("absent.conf: No such file or directory"), std::string::npos) << msg;
  EXPECT_FALSE(load(dir_.file("absent.conf").c_str(), &msg));
  setenv("ZVFS_CONFIG", "", 1);
  EXPECT_TRUE(load(nullptr, &msg));
  EXPECT_EQ(process_config().size(), 0);
}

TEST_F(ConfigFile, UnknownSettingsAndBadLinesAreReportedWithTheirLine) {
  write("cache = 1G\ncahce = 2G\n");
  std::string msg;
  EXPECT_FALSE(load(path_.c_str(), &msg));
  EXPECT_EQ(msg, path_ + ":2: unknown setting 'cahce'");
  EXPECT_EQ(process_config().size(), 0);  // nothing of a file that is wrong is used
  write("cache 1G\n");
  EXPECT_FALSE(load(path_.c_str(), &msg));
  EXPECT_EQ(msg, path_ + ":1: expected 'name = value' or a # comment");
  // Paths must be absolute: each program would read a relative one from its own directory.
  write("socket = run/zvfs.sock\n");
  EXPECT_FALSE(load(path_.c_str(), &msg));
  EXPECT_EQ(msg, path_ + ":1: socket: 'run/zvfs.sock' is not an absolute path");
  write("pool = /p\nroot = /a::b/c:/d\n");
  EXPECT_FALSE(load(path_.c_str(), &msg));
  EXPECT_EQ(msg, path_ + ":2: root: 'b/c' is not an absolute path");
  write("pool = /var/lib/a:b.pool\nroot = /a::/b:\nlog =\ncache = 1G\n");  // ':' in a path
  EXPECT_TRUE(load(path_.c_str(), &msg)) << msg;
  write(std::string(Config::kMaxBytes + 10, '#'));
  EXPECT_FALSE(load(path_.c_str(), &msg));
  EXPECT_NE(msg.find("File too large"), std::string::npos) << msg;
}

}  // namespace
}  // namespace zvfs
