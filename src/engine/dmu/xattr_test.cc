// xattr_test.cc — xattr block encoding round trip and refusal of malformed blocks.
#include "engine/dmu/xattr.h"

#include <gtest/gtest.h>

#include <random>

namespace zvfs::dmu {
namespace {

TEST(Xattr, RoundTrip) {
  XattrMap m;
  m["user.a"] = {1, 2, 3};
  m["user.empty"] = {};
  m[std::string(255, 'n')] = std::vector<uint8_t>(kXattrValueMax, 0x5a);
  auto enc = encode_xattrs(m);
  EXPECT_EQ(enc.size(), encoded_size(m));
  auto dec = decode_xattrs(enc.data(), enc.size());
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(*dec, m);
}

TEST(Xattr, RefusesMalformed) {
  XattrMap m;
  m["user.k"] = {9, 9};
  auto enc = encode_xattrs(m);
  EXPECT_FALSE(decode_xattrs(enc.data(), enc.size() - 1).ok());
  EXPECT_FALSE(decode_xattrs(enc.data(), 3).ok());
  auto bad = enc;
  bad[16] = 0;  // name length 0
  bad[17] = 0;
  EXPECT_FALSE(decode_xattrs(bad.data(), bad.size()).ok());
  std::mt19937 rng(1);
  for (int i = 0; i < 2000; i++) {  // random corruption never crashes
    auto c = enc;
    c[rng() % c.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    (void)decode_xattrs(c.data(), c.size());
  }
}

}  // namespace
}  // namespace zvfs::dmu
