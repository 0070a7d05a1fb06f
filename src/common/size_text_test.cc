// size_text_test.cc — the size grammar shared by the daemon, the CLI and the benchmarks.
#include "common/size_text.h"

#include <gtest/gtest.h>

namespace zvfs {
namespace {

TEST(SizeText, DigitsAndBinarySuffixes) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_size("4096", &v));
  EXPECT_EQ(v, 4096u);
  EXPECT_TRUE(parse_size("4k", &v));
  EXPECT_EQ(v, 4096u);
  EXPECT_TRUE(parse_size("256M", &v));
  EXPECT_EQ(v, 256ull << 20);
  EXPECT_TRUE(parse_size("8G", &v));
  EXPECT_EQ(v, 8ull << 30);
  EXPECT_TRUE(parse_size("2GiB", &v));
  EXPECT_EQ(v, 2ull << 30);
  EXPECT_TRUE(parse_size("4kb", &v));
  EXPECT_EQ(v, 4096u);
  EXPECT_TRUE(parse_size("3T", &v));
  EXPECT_EQ(v, 3ull << 40);
}

TEST(SizeText, GarbageAndOverflowAreRefused) {
  uint64_t v = 7;
  EXPECT_FALSE(parse_size(nullptr, &v));
  EXPECT_FALSE(parse_size("", &v));
  EXPECT_FALSE(parse_size("G", &v));
  EXPECT_FALSE(parse_size("-4k", &v));
  EXPECT_FALSE(parse_size("12X", &v));
  EXPECT_FALSE(parse_size("4kx", &v));
  EXPECT_FALSE(parse_size("4 k", &v));
  EXPECT_FALSE(parse_size("99999999999999999999", &v));
  EXPECT_FALSE(parse_size("99999999999T", &v));
  EXPECT_EQ(v, 7u);
}

}  // namespace
}  // namespace zvfs
