// vdev_check.h — validation of I/O requests shared by every vdev implementation.
//
// Every vdev refuses a request that breaks the contract of vdev.h (unaligned offset, length or
// buffer, zero length, or a range past the end of the device) with -EINVAL instead of passing it
// to the device: a bad request from above is an error value, never undefined behaviour below.
#pragma once

#include <cerrno>
#include <cstdint>

#include "engine/vdev/vdev.h"

namespace zvfs::vdev {

inline bool is_sector_aligned(uint64_t v) {
  return v % kSectorSize == 0;
}

// 0 if `r` is a well-formed request for a device of `dev_size` bytes, else -EINVAL.
inline int check_req(const IoReq& r, uint64_t dev_size) {
  if (r.buf == nullptr || r.len == 0) return -EINVAL;
  if (!is_sector_aligned(r.off) || !is_sector_aligned(r.len)) return -EINVAL;
  if (!is_sector_aligned(reinterpret_cast<uintptr_t>(r.buf))) return -EINVAL;
  if (r.off > dev_size || r.len > dev_size - r.off) return -EINVAL;
  return 0;
}

// The value submit() returns for a completed batch: 0, or the first request's -errno
// (a short transfer counts as -EIO).
inline int batch_result(const IoReq* reqs, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (reqs[i].result < 0) return static_cast<int>(reqs[i].result);
    if (reqs[i].result != static_cast<int64_t>(reqs[i].len)) return -EIO;
  }
  return 0;
}

}  // namespace zvfs::vdev
