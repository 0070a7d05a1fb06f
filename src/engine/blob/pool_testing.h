// pool_testing.h — hooks for the engine's own crash tests. Not for production callers.
#pragma once

#include "zvfs/blob.h"

namespace zvfs::engine::testing {

// Stops the pool as a power cut would: no commit, no export; the Pool is unusable afterwards
// and the device keeps exactly what was written to it.
void abandon(Pool& pool);

}  // namespace zvfs::engine::testing
