// block_pool.cc — see block_pool.h.
#include "common/block_pool.h"

#include <sys/mman.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "common/thread_name.h"

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
  bool refill_queued = false;  // the refiller has this class on its list (mu)
};

// Never destroyed: buffers freed by static or thread-local destructors at exit still have a list.
SizeClass* classes() {
  static SizeClass* const c = new SizeClass[kClasses];
  return c;
}
std::atomic<uint64_t> g_mapped{0};

// The refiller: a background thread that carves a pre-faulted chunk (MAP_POPULATE) for a class
// whose free list ran low, so that the buffers the write path takes are neither mapped nor
// faulted there. A fresh 4 KiB page costs a fault on its first touch: four in each fresh 16 KiB
// block, which made a 16 KiB engine write 16-20 us instead of 4 (dirty buffers are fresh memory
// until the cache has grown to its limit). The kernel populates a whole chunk far faster than
// it takes 512 separate faults. Transparent huge pages were tried instead: one fault per 2 MiB,
// but that fault compacts memory synchronously and stalled 1 write in 1000 for 9 ms.
// Populating is not always enough: under a hypervisor that shadows the guest's page tables, a
// page the kernel populated (and zeroed through its own mapping) still costs an exit on its
// first touch through the process's mapping, about 5 us per 4 KiB page on such a machine (a
// first 16 KiB copy into a populated chunk 19-21 us, a later one 0.7-0.9 us; the engine's
// 16 KiB write 21-23 us). So the refiller also reads one byte of every page of the chunk
// (touch_pages): the exits are taken here, off the write path; elsewhere the reads cost
// nanoseconds.
// A process that forks keeps no refiller in the child: the child carves on demand, as without.
struct Refiller {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<size_t> queue;  // class indexes; capacity kClasses, reserved before the thread
  bool started = false;
  bool busy = false;  // carving a chunk now
  std::condition_variable idle_cv;
};
Refiller* refiller() {
  static Refiller* const r = new Refiller;  // never destroyed: the thread may outlive statics
  return r;
}

// The bytes of one chunk of buffers of `rounded` bytes (a whole number of them).
size_t chunk_bytes(size_t rounded) {
  return kCarveBytes / rounded * rounded;
}

// Maps one chunk for buffers of `rounded` bytes, its pages populated. nullptr if the kernel has
// no memory. Called without any class lock (populating takes a while).
void* map_chunk(size_t rounded) {
  void* region = mmap(nullptr, chunk_bytes(rounded), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return region == MAP_FAILED ? nullptr : region;
}

// Adds the buffers of a chunk from map_chunk() to class c. Caller holds c.mu.
bool add_chunk(SizeClass& c, void* region, size_t rounded) {
  const size_t n = kCarveBytes / rounded;
  try {
    c.free.reserve(c.chunks + n);
  } catch (const std::bad_alloc&) {  // errors are values here: no memory is no buffer
    munmap(region, chunk_bytes(rounded));
    return false;
  }
  c.chunks += n;
  for (size_t i = n; i-- > 0;) c.free.push_back(static_cast<std::byte*>(region) + i * rounded);
  g_mapped.fetch_add(chunk_bytes(rounded), std::memory_order_relaxed);
  return true;
}

// Reads one byte of each page of a populated chunk through this process's mapping (see above).
void touch_pages(const void* region, size_t bytes) {
  const auto* p = static_cast<const volatile std::byte*>(region);
  for (size_t off = 0; off < bytes; off += kUnit) (void)p[off];
}

void refill_loop(Refiller* r) {
  name_this_thread("zvfs-refill");
  std::unique_lock g(r->mu);
  for (;;) {
    r->cv.wait(g, [r] { return !r->queue.empty(); });
    size_t k = r->queue.back();
    r->queue.pop_back();
    r->busy = true;
    g.unlock();
    SizeClass& c = classes()[k];
    const size_t rounded = (k + 1) * kUnit;
    void* region = map_chunk(rounded);
    if (region != nullptr) touch_pages(region, chunk_bytes(rounded));
    {
      std::lock_guard cg(c.mu);
      if (region != nullptr) (void)add_chunk(c, region, rounded);
      c.refill_queued = false;
    }
    g.lock();
    r->busy = false;
    if (r->queue.empty()) r->idle_cv.notify_all();
  }
}

// Called with c.mu held after a take: queues class k for the refiller once its free list is
// below half a chunk. Best effort: without a refiller thread, take() carves on demand.
void maybe_refill(SizeClass& c, size_t k, size_t rounded) {
  if (c.refill_queued || c.free.size() >= kCarveBytes / rounded / 2) return;
  Refiller* r = refiller();
  std::lock_guard g(r->mu);
  if (!r->started) {
    try {
      r->queue.reserve(kClasses);
      std::thread(refill_loop, r).detach();
    } catch (...) {  // no thread: carve on demand
      return;
    }
    r->started = true;
  }
  c.refill_queued = true;
  r->queue.push_back(k);
  r->cv.notify_one();
}

bool pooled(size_t rounded) {
  return kPooling && rounded != 0 && rounded <= kMaxPooled && rounded % kUnit == 0;
}

}  // namespace

void* take(size_t rounded) {
  if (!pooled(rounded)) return std::aligned_alloc(kUnit, rounded);
  const size_t k = rounded / kUnit - 1;
  SizeClass& c = classes()[k];
  std::unique_lock g(c.mu);
  // Empty although the refiller was asked (or it is not keeping up, as under a stream of large
  // writes while the cache grows): carve here, populated but not touched, outside the lock.
  // Populating 2 MiB costs this caller a few hundred microseconds at once, but each buffer's
  // first touch then costs no fault of the guest's own: 1 MiB writes of a 4 GiB bulk load in
  // 16 KiB blocks kept their 910-1110 MB/s (945-1054 with this; 788-877 carving unpopulated,
  // with the refiller slowed by touch_pages).
  if (c.free.empty()) {  // (others may carve meanwhile: one extra chunk per thread at most)
    g.unlock();
    void* region = map_chunk(rounded);
    g.lock();
    if (region == nullptr || !add_chunk(c, region, rounded)) return nullptr;
  }
  void* p = c.free.back();
  c.free.pop_back();
  maybe_refill(c, k, rounded);
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

void settle() {
  Refiller* r = refiller();
  std::unique_lock g(r->mu);
  r->idle_cv.wait(g, [r] { return r->queue.empty() && !r->busy; });
}

bool pooling() {
  return kPooling;
}

Stats stats() {
  return Stats{g_mapped.load(std::memory_order_relaxed)};
}

}  // namespace zvfs::block_pool
