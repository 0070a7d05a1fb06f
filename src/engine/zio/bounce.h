// bounce.h — per-thread scratch for the I/O pipeline: request arrays and bounce memory.
//
// O_DIRECT needs 4096-aligned buffers and lengths; callers of zio may pass any buffer and any
// length. Blocks that do not fit go through bounce memory carved from a per-thread arena, so
// the hot path does no heap allocation once a thread's arena has grown to its working size.
// The arena is trimmed back after an unusually large batch so idle threads hold little memory.
// The scratch belongs to the calling thread for the duration of one pipeline call only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/aligned_buf.h"
#include "engine/vdev/vdev.h"
#include "engine/zio/blkptr.h"

namespace zvfs::zio {

inline constexpr size_t kArenaKeepBytesMax = 8u << 20;

inline uint64_t round_up_sector(uint64_t n) {
  return (n + vdev::kSectorSize - 1) / vdev::kSectorSize * vdev::kSectorSize;
}

inline bool needs_bounce(const void* buf, uint64_t len) {
  return reinterpret_cast<uintptr_t>(buf) % vdev::kSectorSize != 0 || len % vdev::kSectorSize != 0;
}

struct Scratch {
  std::vector<vdev::IoReq> reqs;
  std::vector<uint32_t> index;  // reqs[i] serves op index[i]
  std::vector<Checksum> sums;
  std::vector<iovec> iov;  // segments of coalesced (vectored) write requests
  AlignedBuf arena;

  // Makes room for `bytes` of bounce memory; false on ENOMEM.
  bool reserve_arena(size_t bytes) {
    if (arena.size() >= bytes) return true;
    size_t want = arena.size() ? arena.size() : 64 * 1024;
    while (want < bytes) want *= 2;
    return arena.reset(want);
  }
  // Called when a call is over: keeps the arena only if it is of a modest size.
  void trim() {
    if (arena.size() > kArenaKeepBytesMax) arena.reset(0);
  }
};

inline Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace zvfs::zio
