// block_pool.h — recycled, 4 KiB-aligned memory for block buffers (AlignedBuf).
//
// Block buffers come and go by the hundred thousand: a dirty block is allocated on the first
// write to it, handed to the cache at commit and freed when the cache evicts it. From malloc
// (aligned_alloc) each such buffer cost a header and alignment slack that no byte count saw
// (peak memory ran 3% over cache + dirty limit), and, as the heap's free memory was handed back
// to the kernel and taken again, a page fault per 4 KiB on first touch (5 faults per 16 KiB
// O_SYNC write; zeroing fresh pages was 9% of the CPU of sequential writes).
//
// So buffers of the sizes blocks have (multiples of 4 KiB up to kMaxPooled) come from per-size
// free lists, refilled by carving 2 MiB anonymous mappings; a freed buffer goes back to its
// list and is never returned to the kernel. Memory held is therefore the peak of what was in
// use at once, which the engine bounds (cache + dirty limit), plus at most one chunk per size
// in use (and one per thread that carved at the same moment). Larger buffers use aligned_alloc. A
// background thread carves the next chunk of a size, with its pages populated and touched, when its
// list runs below half a chunk: taking a buffer then neither maps nor faults (block_pool.cc,
// Refiller).
//
// Under AddressSanitizer every buffer comes from aligned_alloc, so overflows stay detectable.
// Thread-safe (a mutex per size class, held only to push or pop a pointer).
#pragma once

#include <cstddef>
#include <cstdint>

namespace zvfs::block_pool {

inline constexpr size_t kUnit = 4096;
inline constexpr size_t kMaxPooled = 128 * 1024;

// `rounded` is a positive multiple of kUnit. Returns kUnit-aligned memory, or nullptr.
void* take(size_t rounded);
// Returns memory from take(rounded) (same `rounded`).
void give(void* p, size_t rounded);

// Waits until the background refill has nothing queued or in progress (for tests).
void settle();

// False in AddressSanitizer builds (every buffer is aligned_alloc'd).
bool pooling();

struct Stats {
  uint64_t mapped_bytes = 0;  // carved from the kernel for pooled sizes, ever
};
Stats stats();

}  // namespace zvfs::block_pool
