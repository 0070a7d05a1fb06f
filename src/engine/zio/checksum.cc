// checksum.cc — the block checksum: XXH3-128 (xxHash 0.8) from libxxhash.
//
// One algorithm for every block pointer and every self-checksummed root (labels, uberblocks,
// log blocks). XXH3-128 runs at memory speed, so verifying every read costs little next to the
// I/O; 128 bits make an undetected corruption practically impossible. Where libxxhash has its
// x86 dispatcher (ZVFS_HAVE_XXH_DISPATCH, found by CMake), the vectorised variant for this CPU
// is used: the same hash, computed 2-3x faster than the SSE2 entry point.
#include <xxhash.h>
#if ZVFS_HAVE_XXH_DISPATCH
#include <xxh_x86dispatch.h>
#endif

#include <bit>
#include <cstddef>

#include "engine/zio/blkptr.h"
#include "engine/zio/zio.h"

namespace zvfs::zio {

// BlockPtr is stored by copying its bytes: pin its layout to docs/FORMAT.md "Block pointer".
static_assert(std::endian::native == std::endian::little, "on-disk structures are little-endian");
static_assert(offsetof(BlockPtr, offset) == 0 && offsetof(BlockPtr, vdev) == 8);
static_assert(offsetof(BlockPtr, asize) == 12 && offsetof(BlockPtr, lsize) == 16);
static_assert(offsetof(BlockPtr, psize) == 20 && offsetof(BlockPtr, type) == 24);
static_assert(offsetof(BlockPtr, level) == 25 && offsetof(BlockPtr, comp) == 26);
static_assert(offsetof(BlockPtr, cksum) == 27 && offsetof(BlockPtr, fill) == 28);
static_assert(offsetof(BlockPtr, birth_txg) == 32 && offsetof(BlockPtr, checksum) == 40);
static_assert(offsetof(BlockPtr, reserved) == 56);

Checksum checksum(const void* data, size_t len) {
#if ZVFS_HAVE_XXH_DISPATCH
  XXH128_hash_t h = XXH3_128bits_dispatch(data, len);
#else
  XXH128_hash_t h = XXH3_128bits(data, len);
#endif
  return Checksum{h.low64, h.high64};
}

}  // namespace zvfs::zio
