// aligned_buf.h — a buffer aligned for O_DIRECT (4096 bytes), movable, not copyable.
//
// Block contents travel through the engine in AlignedBuf so the file vdev can hand them to the
// kernel without a bounce copy. Memory comes from the block pool (block_pool.h: recycled, no
// per-buffer overhead). Allocation failure yields an empty buffer (data() == nullptr), never an
// exception: callers check and return ENOMEM.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "common/block_pool.h"

namespace zvfs {

class AlignedBuf {
 public:
  static constexpr size_t kAlign = 4096;

  AlignedBuf() = default;
  explicit AlignedBuf(size_t size) { reset(size); }
  AlignedBuf(AlignedBuf&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  AlignedBuf& operator=(AlignedBuf&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  ~AlignedBuf() { release(); }

  // Reallocates to `size` bytes (rounded up to kAlign), zero-filled unless `zero` is false (for
  // a caller that overwrites every byte before anyone reads it). Returns false on ENOMEM.
  bool reset(size_t size, bool zero = true) {
    release();
    if (size == 0) return true;
    size_t rounded = rounded_size(size);
    void* p = block_pool::take(rounded);
    if (!p) return false;
    if (zero) std::memset(p, 0, rounded);
    p_ = static_cast<std::byte*>(p);
    n_ = size;
    return true;
  }

  std::byte* data() { return p_; }
  const std::byte* data() const { return p_; }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }

 private:
  static size_t rounded_size(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
  void release() {
    if (p_ != nullptr) block_pool::give(p_, rounded_size(n_));
    p_ = nullptr;
    n_ = 0;
  }

  std::byte* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace zvfs
