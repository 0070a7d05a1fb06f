// copy.h — the data-path copy: memcpy, except where memcpy is pathologically slow.
//
// Every byte a client reads or writes is copied between its buffer, the shared-memory slot and
// the engine's block buffers. glibc copies large blocks with `rep movsb`, which on some CPUs
// (AMD Zen 3 among them, with or without a hypervisor) runs about 15x slower when the
// destination lies 1 to 32 bytes past the source modulo 4 KiB: a page-aligned slot copied into a
// malloc'd buffer (page + 16) is exactly that. copy_bytes() spots that distance and copies with
// vector loads and stores instead; every other copy is plain memcpy.
//
// Invariant: same contract as memcpy (no overlap); never allocates, async-signal-safe, usable
// in the preload library before it is initialised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace zvfs {

// Copies n bytes with explicit vector moves (no string instructions).
void copy_bytes_vector(void* dst, const void* src, size_t n);

inline void copy_bytes(void* dst, const void* src, size_t n) {
  uintptr_t dist = (reinterpret_cast<uintptr_t>(dst) - reinterpret_cast<uintptr_t>(src)) & 4095;
  if (n >= 512 && dist != 0 && dist <= 64) {
    copy_bytes_vector(dst, src, n);
    return;
  }
  std::memcpy(dst, src, n);
}

}  // namespace zvfs
