// max_offset.h — the largest file offset a file system allows, found with lseek.
//
// lseek(SEEK_SET) refuses (EINVAL) an offset beyond the super block's s_maxbytes, the largest
// file that file system can hold (16 TiB on ext4 with 4 KiB blocks). Bisection over
// [0, INT64_MAX] finds it in 63 calls. It moves the descriptor's offset: use one of your own.
#pragma once

#include <unistd.h>

#include <cstdint>

namespace zvfs {

inline uint64_t probe_max_offset(int fd) {
  uint64_t lo = 0, hi = static_cast<uint64_t>(INT64_MAX);  // lo is accepted
  if (lseek(fd, 0, SEEK_SET) != 0) return hi;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo + 1) / 2;
    if (lseek(fd, static_cast<off_t>(mid), SEEK_SET) >= 0) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

}  // namespace zvfs
