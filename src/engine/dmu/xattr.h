// xattr.h — a blob's extended attributes and their on-disk encoding.
//
// All of a blob's xattrs live in one block (type kXattr) named by the dnode's xattr BlockPtr,
// rewritten copy-on-write when they change. Encoding (little-endian):
//   header: u32 magic "ZXAT", u16 version (1), u16 reserved, u32 count, u32 total bytes
//   then `count` entries, sorted by name: u16 name_len, u32 value_len, name, value
// The block's checksum lives in its BlockPtr. Limits: name 1..255 bytes, value <= 64 KiB,
// encoded total <= 1 MiB (ENOSPC beyond, like a full xattr area).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "zvfs/status.h"

namespace zvfs::dmu {

inline constexpr size_t kXattrNameMax = 255;
inline constexpr size_t kXattrValueMax = 64 * 1024;
inline constexpr size_t kXattrTotalMax = 1 << 20;

using XattrMap = std::map<std::string, std::vector<uint8_t>, std::less<>>;

std::vector<uint8_t> encode_xattrs(const XattrMap& m);
// EIO on any malformed input (never trusts lengths).
Result<XattrMap> decode_xattrs(const void* data, size_t len);
size_t encoded_size(const XattrMap& m);

}  // namespace zvfs::dmu
