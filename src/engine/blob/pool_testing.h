// pool_testing.h — hooks for the engine's own crash tests. Not for production callers.
#pragma once

#include "zvfs/blob.h"

namespace zvfs::engine::testing {

// Stops the pool as a power cut would: no commit, no export; the Pool is unusable afterwards
// and the device keeps exactly what was written to it.
void abandon(Pool& pool);

// How the last committed dnode of a blob stores it (tests of the on-disk format).
struct StoredShape {
  uint32_t data_root_lsize = 0;   // stored bytes of the data tree's root (0: a hole)
  int data_root_level = 0;        // 0: the root is the only data block
  bool xattrs_in_dnode = false;   // the xattr stream is inline
  uint32_t xattr_root_lsize = 0;  // stored bytes of the xattr tree's root (0: none)
  uint64_t xattr_bytes = 0;       // length of the xattr stream
};
Result<StoredShape> stored_shape(Pool& pool, BlobId id);

}  // namespace zvfs::engine::testing
