// alloc_test_util.h — helpers shared by the allocator and space-map tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <vector>

#include "engine/alloc/allocator.h"

namespace zvfs::alloc::testing {

// Ranges of a model (off -> len), adjacent ones merged, as allocated_ranges() reports them.
inline std::vector<Range> merged(const std::map<uint64_t, uint64_t>& m) {
  std::vector<Range> v;
  for (auto [o, l] : m) {
    if (!v.empty() && v.back().off + v.back().len == o)
      v.back().len += l;
    else
      v.push_back({o, l});
  }
  return v;
}

inline ::testing::AssertionResult same(const std::vector<Range>& a, const std::vector<Range>& b) {
  if (a.size() != b.size())
    return ::testing::AssertionFailure() << a.size() << " ranges vs " << b.size();
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].off != b[i].off || a[i].len != b[i].len)
      return ::testing::AssertionFailure() << "range " << i << " differs: " << a[i].off << "+"
                                           << a[i].len << " vs " << b[i].off << "+" << b[i].len;
  return ::testing::AssertionSuccess();
}

}  // namespace zvfs::alloc::testing
