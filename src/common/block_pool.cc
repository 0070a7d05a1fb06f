// block_pool.cc — see block_pool.h.
#include "common/block_pool.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace zvfs::block_pool {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPooling = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kPooling = false;
#else
constexpr bool kPooling = true;
#endif
#else
constexpr bool kPooling = true;
#endif

constexpr size_t kClasses = kMaxPooled / kUnit;
constexpr size_t kCarveBytes = 2u << 20;

struct SizeClass {
  std::mutex mu;
  std::vector<void*> free;  // capacity: every chunk of the class, so push_back never allocates
  size_t chunks = 0;
};

// Never destroyed: buffers freed by static or thread-local destructors at exit still have a list.
SizeClass* classes() {
  static SizeClass* const c = new SizeClass[kClasses];
  return c;
}
std::atomic<uint64_t> g_mapped{0};

bool pooled(size_t rounded) {
  return kPooling && rounded != 0 && rounded <= kMaxPooled && rounded % kUnit == 0;
}

}  // namespace

void* take(size_t rounded) {
  if (!pooled(rounded)) return std::aligned_alloc(kUnit, rounded);
  SizeClass& c = classes()[rounded / kUnit - 1];
  std::lock_guard g(c.mu);
  if (c.free.empty()) {
    const size_t n = kCarveBytes / rounded;
    void* region =
        mmap(nullptr, n * rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return nullptr;
    try {
      c.free.reserve(c.chunks + n);
    } catch (const std::bad_alloc&) {  // errors are values here: no memory is no buffer
      munmap(region, n * rounded);
      return nullptr;
    }
    c.chunks += n;
    for (size_t i = n; i-- > 0;) c.free.push_back(static_cast<std::byte*>(region) + i * rounded);
    g_mapped.fetch_add(n * rounded, std::memory_order_relaxed);
  }
  void* p = c.free.back();
  c.free.pop_back();
  return p;
}

void give(void* p, size_t rounded) {
  if (p == nullptr) return;
  if (!pooled(rounded)) {
    std::free(p);
    return;
  }
  SizeClass& c = classes()[rounded / kUnit - 1];
  std::lock_guard g(c.mu);
  c.free.push_back(p);  // within the capacity reserved when its region was carved
}

bool pooling() {
  return kPooling;
}

Stats stats() {
  return Stats{g_mapped.load(std::memory_order_relaxed)};
}

}  // namespace zvfs::block_pool
