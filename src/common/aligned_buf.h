// aligned_buf.h — a heap buffer aligned for O_DIRECT (4096 bytes), movable, not copyable.
//
// Block contents travel through the engine in AlignedBuf so the file vdev can hand them to the
// kernel without a bounce copy. Allocation failure yields an empty buffer (data() == nullptr),
// never an exception: callers check and return ENOMEM.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

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
      std::free(p_);
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  ~AlignedBuf() { std::free(p_); }

  // Reallocates to `size` bytes (rounded up to kAlign), zero-filled unless `zero` is false (for
  // a caller that overwrites every byte before anyone reads it). Returns false on ENOMEM.
  bool reset(size_t size, bool zero = true) {
    std::free(p_);
    p_ = nullptr;
    n_ = 0;
    if (size == 0) return true;
    size_t rounded = (size + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, rounded);
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
  std::byte* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace zvfs
