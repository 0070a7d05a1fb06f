// path_search_test.cc — the PATH search shared by the library's exec hooks and `zvfs run`.
#include "common/path_search.h"

#include <gtest/gtest.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "common/test_files.h"

namespace zvfs {
namespace {

class PathSearch : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    const char* p = getenv("PATH");
    saved_ = p != nullptr ? p : "";
    had_ = p != nullptr;
    for (const char* d : {"a", "b", "c"}) ASSERT_EQ(mkdir(dir_.file(d).c_str(), 0755), 0);
  }
  void TearDown() override {
    if (had_) {
      setenv("PATH", saved_.c_str(), 1);
    } else {
      unsetenv("PATH");
    }
  }
  void put(const std::string& path, mode_t mode) {
    ASSERT_TRUE(testing::write_file(path, "#!/bin/sh\n"));
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
  }
  testing::TempDir dir_{"pathsearch"};
  std::string saved_;
  bool had_ = false;
};

// The first entry with an executable regular file wins; missing directories, directories named
// like the program and files without execute permission are passed over, as execvp does.
TEST_F(PathSearch, FirstExecutableRegularFileInPathOrder) {
  ASSERT_EQ(mkdir(dir_.file("a/prog").c_str(), 0755), 0);  // a directory: passed over
  put(dir_.file("b/prog"), 0644);                           // not executable: passed over
  put(dir_.file("c/prog"), 0755);
  std::string path = "/nonexistent:" + dir_.file("a") + ":" + dir_.file("b") + ":" +
                     dir_.file("c");
  setenv("PATH", path.c_str(), 1);
  char out[PATH_MAX];
  ASSERT_TRUE(search_path("prog", out, sizeof out));
  EXPECT_EQ(std::string(out), dir_.file("c/prog"));
  put(dir_.file("b/prog"), 0755);
  ASSERT_TRUE(search_path("prog", out, sizeof out));
  EXPECT_EQ(std::string(out), dir_.file("b/prog"));
  EXPECT_FALSE(search_path("absent", out, sizeof out));
  EXPECT_FALSE(search_path("a/prog", out, sizeof out));  // a path is not searched
  EXPECT_FALSE(search_path("", out, sizeof out));
  EXPECT_FALSE(search_path("prog", out, 8));  // no candidate fits
}

// An empty entry is the working directory.
TEST_F(PathSearch, EmptyEntryIsTheWorkingDirectory) {
  put(dir_.file("a/here"), 0755);
  char cwd[PATH_MAX];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(chdir(dir_.file("a").c_str()), 0);
  setenv("PATH", ("/nonexistent::" + dir_.file("b")).c_str(), 1);
  char out[PATH_MAX];
  bool found = search_path("here", out, sizeof out);
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_TRUE(found);
  EXPECT_EQ(std::string(out), "here");
}

}  // namespace
}  // namespace zvfs
