// vdev_test_util.h — helpers shared by the vdev tests: aligned patterned buffers, temp paths.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/aligned_buf.h"

namespace zvfs::vdev::testing {

// Fills `buf` with a pattern derived from `seed` (every 8 bytes differ).
inline void fill_pattern(void* buf, size_t len, uint64_t seed) {
  auto* p = static_cast<unsigned char*>(buf);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < len; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(p + i, &x, len - i < 8 ? len - i : 8);
  }
}

inline AlignedBuf pattern_buf(size_t len, uint64_t seed) {
  AlignedBuf b(len);
  fill_pattern(b.data(), len, seed);
  return b;
}

// A unique path in the current directory (the build tree: a real disk file system that accepts
// O_DIRECT, unlike some tmpfs mounts). Removed by the destructor.
class TempPath {
 public:
  TempPath() {
    char tmpl[] = "./zvfs-vdev-test-XXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd >= 0) ::close(fd);
    path_ = tmpl;
    ::unlink(path_.c_str());
  }
  ~TempPath() { ::unlink(path_.c_str()); }
  const std::string& str() const { return path_; }

 private:
  std::string path_;
};

}  // namespace zvfs::vdev::testing
