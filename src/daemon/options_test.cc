// options_test.cc — zvfsd's mount prefixes: --root, its default from ZVFS_ROOT, and what is
// refused.
#include "daemon/options.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

namespace zvfs::daemon {
namespace {

int parse(std::vector<std::string> args, Options* o) {
  args.insert(args.begin(), {"zvfsd", "--pool", "/p"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parse_options(static_cast<int>(args.size()), argv.data(), o);
}

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

}  // namespace
}  // namespace zvfs::daemon
