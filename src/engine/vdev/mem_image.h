// mem_image.h — a zero-filled byte array for in-memory vdevs, backed by anonymous memory.
//
// The memory vdev and the fault-injecting vdev both keep the whole device in one of these.
// Pages are mapped lazily by the kernel (MAP_NORESERVE), so a 1 GiB test pool costs only what is
// written. A failed mapping leaves the image empty (data() == nullptr); callers check.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace zvfs::vdev {

class MemImage {
 public:
  MemImage() = default;
  explicit MemImage(uint64_t size) {
    if (size == 0) return;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return;
    p_ = static_cast<std::byte*>(p);
    n_ = size;
  }
  MemImage(MemImage&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  MemImage& operator=(MemImage&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  MemImage(const MemImage&) = delete;
  MemImage& operator=(const MemImage&) = delete;
  ~MemImage() { release(); }

  std::byte* data() { return p_; }
  const std::byte* data() const { return p_; }
  uint64_t size() const { return n_; }

 private:
  void release() {
    if (p_) ::munmap(p_, n_);
    p_ = nullptr;
    n_ = 0;
  }
  std::byte* p_ = nullptr;
  uint64_t n_ = 0;
};

}  // namespace zvfs::vdev
