// Tests of copy_bytes(): byte-exact for every source/destination distance around the 4 KiB
// aliasing window, every tail length, and without touching a byte outside the destination.
#include "common/copy.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace zvfs {
namespace {

TEST(CopyBytes, ExactForEveryDistanceAndLength) {
  std::vector<unsigned char> src(3 * 4096), dst(3 * 4096);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i * 131 + 7);
  // Align the source to a page so the distance is controlled exactly.
  auto page = [](unsigned char* p) {
    return reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(p) + 4095) &
                                            ~uintptr_t{4095});
  };
  unsigned char* s = page(src.data());
  unsigned char* d0 = page(dst.data());
  for (size_t dist : {0, 1, 15, 16, 17, 32, 63, 64, 65, 100, 4032, 4095}) {
    for (size_t n : {0, 1, 63, 64, 65, 511, 512, 513, 4096, 4096 + 37}) {
      std::fill(dst.begin(), dst.end(), 0xEE);
      unsigned char* d = d0 + dist;
      copy_bytes(d, s, n);
      for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(d[i], s[i]) << "distance " << dist << " length " << n << " byte " << i;
      for (unsigned char* p = dst.data(); p < d; ++p) ASSERT_EQ(*p, 0xEE) << "wrote before";
      for (unsigned char* p = d + n; p < dst.data() + dst.size(); ++p)
        ASSERT_EQ(*p, 0xEE) << "wrote after, distance " << dist << " length " << n;
    }
  }
}

TEST(CopyBytes, VectorCopyMatchesMemcpyForAllTails) {
  std::vector<unsigned char> src(1000), dst(1000);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i ^ 0x5A);
  for (size_t n = 0; n <= 300; ++n) {
    std::fill(dst.begin(), dst.end(), 0);
    copy_bytes_vector(dst.data() + 3, src.data() + 1, n);
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(dst[3 + i], src[1 + i]) << "length " << n;
    ASSERT_EQ(dst[3 + n], 0) << "length " << n;
  }
}

}  // namespace
}  // namespace zvfs
