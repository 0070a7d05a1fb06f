// binding_xattr_test.cc — the binding xattr names are recognised and filtered out of xattr
// lists in place, wherever they stand, and nothing else is touched.
#include "client/binding_xattr.h"

#include <gtest/gtest.h>

#include <string>

#include "ipc/protocol.h"

namespace zvfs::client {
namespace {

// Filters `list` (names joined with NULs, as listxattr returns them) and returns the result.
std::string filtered(std::string list) {
  ssize_t n = hide_binding_xattrs(list.data(), static_cast<ssize_t>(list.size()));
  EXPECT_GE(n, 0);
  return list.substr(0, static_cast<size_t>(n));
}

std::string names(std::initializer_list<const char*> l) {
  std::string s;
  for (const char* n : l) s.append(n).push_back('\0');
  return s;
}

TEST(BindingXattr, RecognisesBothNamesOnly) {
  EXPECT_TRUE(is_binding_xattr("trusted.zvfs.blob"));
  EXPECT_TRUE(is_binding_xattr("user.zvfs.blob_id"));
  EXPECT_TRUE(is_binding_xattr(ipc::kTrustedBindingXattr));
  EXPECT_TRUE(is_binding_xattr(ipc::kUserBindingXattr));
  EXPECT_FALSE(is_binding_xattr(nullptr));
  EXPECT_FALSE(is_binding_xattr(""));
  EXPECT_FALSE(is_binding_xattr("trusted.zvfs.blob2"));
  EXPECT_FALSE(is_binding_xattr("trusted.zvfs.blo"));
  EXPECT_FALSE(is_binding_xattr("user.zvfs.blob"));
  EXPECT_FALSE(is_binding_xattr("security.selinux"));
}

TEST(BindingXattr, LeavesTheBindingOutWhereverItStands) {
  EXPECT_EQ(filtered(names({"trusted.zvfs.blob"})), "");
  EXPECT_EQ(filtered(names({"trusted.zvfs.blob", "user.a"})), names({"user.a"}));
  EXPECT_EQ(filtered(names({"user.a", "trusted.zvfs.blob"})), names({"user.a"}));
  EXPECT_EQ(filtered(names({"user.a", "trusted.zvfs.blob", "system.posix_acl_access"})),
            names({"user.a", "system.posix_acl_access"}));
  EXPECT_EQ(filtered(names({"user.zvfs.blob_id", "user.b", "trusted.zvfs.blob", "user.c"})),
            names({"user.b", "user.c"}));
}

TEST(BindingXattr, KeepsOtherListsAsTheyAre) {
  const std::string l = names({"user.a", "trusted.zvfs.blob2", "user.zvfs.blob"});
  EXPECT_EQ(filtered(l), l);
  // Bytes after the last NUL are not a name the kernel returned: kept, never matched.
  const std::string tail = names({"user.a"}) + "trusted.zvfs.blob";
  EXPECT_EQ(filtered(tail), tail);
}

TEST(BindingXattr, PassesErrorsAndSizeQueriesThrough) {
  char buf[8] = {};
  EXPECT_EQ(hide_binding_xattrs(buf, -1), -1);
  EXPECT_EQ(hide_binding_xattrs(buf, 0), 0);
  EXPECT_EQ(hide_binding_xattrs(nullptr, 42), 42);  // listxattr(path, NULL, 0): the size
}

}  // namespace
}  // namespace zvfs::client
