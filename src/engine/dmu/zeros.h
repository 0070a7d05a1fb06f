// zeros.h — whether a byte range is all zero.
//
// The commit stores an all-zero block as a hole unless a write put those zeros there
// (TxgDelta::zeros_written); the write path asks the same question of each piece it copies.
// Data is rarely zero, so the first byte usually decides: the full compare is paid by zeros.
#pragma once

#include <cstddef>
#include <cstring>

namespace zvfs::dmu {

inline bool all_zero(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  if (n == 0) return true;
  if (p[0] != 0) return false;
  return std::memcmp(p, p + 1, n - 1) == 0;
}

}  // namespace zvfs::dmu
