// vdev_check.h — validation of I/O requests shared by every vdev implementation.
//
// Every vdev refuses a request that breaks the contract of vdev.h (unaligned offset, length or
// buffer, zero length, or a range past the end of the device) with -EINVAL instead of passing it
// to the device: a bad request from above is an error value, never undefined behaviour below.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "engine/vdev/vdev.h"

namespace zvfs::vdev {

inline bool is_sector_aligned(uint64_t v) {
  return v % kSectorSize == 0;
}

// 0 if `r` is a well-formed request for a device of `dev_size` bytes, else -EINVAL.
inline int check_req(const IoReq& r, uint64_t dev_size) {
  if (r.len == 0 || !is_sector_aligned(r.off) || !is_sector_aligned(r.len)) return -EINVAL;
  if (r.iovcnt > 0) {
    if (r.iov == nullptr || r.iovcnt > kMaxIov) return -EINVAL;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < r.iovcnt; ++i) {
      const iovec& v = r.iov[i];
      if (v.iov_base == nullptr || v.iov_len == 0 || !is_sector_aligned(v.iov_len) ||
          !is_sector_aligned(reinterpret_cast<uintptr_t>(v.iov_base)))
        return -EINVAL;
      sum += v.iov_len;
    }
    if (sum != r.len) return -EINVAL;
  } else {
    if (r.buf == nullptr || !is_sector_aligned(reinterpret_cast<uintptr_t>(r.buf))) return -EINVAL;
  }
  if (r.off > dev_size || r.len > dev_size - r.off) return -EINVAL;
  return 0;
}

// Calls fn(std::byte* mem, uint32_t len, uint64_t device_off) for each memory segment of a
// checked request, in device order (one call for a plain request).
template <class Fn>
void for_each_segment(const IoReq& r, Fn&& fn) {
  if (r.iovcnt == 0) {
    fn(static_cast<std::byte*>(r.buf), r.len, r.off);
    return;
  }
  uint64_t off = r.off;
  for (uint32_t i = 0; i < r.iovcnt; ++i) {
    fn(static_cast<std::byte*>(r.iov[i].iov_base), static_cast<uint32_t>(r.iov[i].iov_len), off);
    off += r.iov[i].iov_len;
  }
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
