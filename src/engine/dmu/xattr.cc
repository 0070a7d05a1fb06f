// xattr.cc — encoding and bounds-checked decoding of the xattr block (see xattr.h).
#include "engine/dmu/xattr.h"

#include <cstring>

namespace zvfs::dmu {
namespace {

constexpr uint32_t kMagic = 0x5441585a;  // "ZXAT"
constexpr uint16_t kVersion = 1;
constexpr size_t kHeader = 16;
constexpr size_t kEntryHeader = 6;

template <class T>
void put(std::vector<uint8_t>& out, T v) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.insert(out.end(), b, b + sizeof(T));
}

template <class T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

size_t encoded_size(const XattrMap& m) {
  size_t n = kHeader;
  for (const auto& [k, v] : m) n += kEntryHeader + k.size() + v.size();
  return n;
}

std::vector<uint8_t> encode_xattrs(const XattrMap& m) {
  std::vector<uint8_t> out;
  out.reserve(encoded_size(m));
  put<uint32_t>(out, kMagic);
  put<uint16_t>(out, kVersion);
  put<uint16_t>(out, 0);
  put<uint32_t>(out, static_cast<uint32_t>(m.size()));
  put<uint32_t>(out, static_cast<uint32_t>(encoded_size(m)));
  for (const auto& [k, v] : m) {
    put<uint16_t>(out, static_cast<uint16_t>(k.size()));
    put<uint32_t>(out, static_cast<uint32_t>(v.size()));
    out.insert(out.end(), k.begin(), k.end());
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

Result<XattrMap> decode_xattrs(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (len < kHeader || get<uint32_t>(p) != kMagic || get<uint16_t>(p + 4) != kVersion) {
    return make_error(EIO, "bad xattr block");
  }
  const uint32_t count = get<uint32_t>(p + 8);
  const uint32_t total = get<uint32_t>(p + 12);
  if (total > len || total > kXattrTotalMax) return make_error(EIO, "bad xattr block length");
  XattrMap m;
  size_t pos = kHeader;
  for (uint32_t i = 0; i < count; i++) {
    if (total - pos < kEntryHeader) return make_error(EIO, "truncated xattr entry");
    const uint16_t nl = get<uint16_t>(p + pos);
    const uint32_t vl = get<uint32_t>(p + pos + 2);
    pos += kEntryHeader;
    if (nl == 0 || nl > kXattrNameMax || vl > kXattrValueMax || total - pos < size_t{nl} + vl) {
      return make_error(EIO, "bad xattr entry");
    }
    std::string name(reinterpret_cast<const char*>(p + pos), nl);
    pos += nl;
    m[std::move(name)] = std::vector<uint8_t>(p + pos, p + pos + vl);
    pos += vl;
  }
  if (pos != total) return make_error(EIO, "xattr block length mismatch");
  return m;
}

}  // namespace zvfs::dmu
