// context.h — what every session of the daemon shares: the pool, the open-blob table, the
// request statistics, the options, the spin budget of the workers, and the placeholder guard.
#pragma once

#include <atomic>
#include <cstdint>

#include "daemon/blob_table.h"
#include "daemon/op_stats.h"
#include "daemon/options.h"
#include "daemon/write_behind.h"
#include "zvfs/blob.h"

namespace zvfs::daemon {

class PlaceholderGuard;

struct Context {
  engine::Pool* pool = nullptr;
  BlobTable* blobs = nullptr;
  OpStatsTable stats;
  const Options* opts = nullptr;
  const char* binding_xattr = nullptr;
  uint64_t pool_guid = 0;  // written into bindings; a binding of another pool is never touched
  uint64_t start_ns = 0;
  // Workers that may busy-wait at once across all sessions (cores - 1, at least 1): with few
  // CPUs, more spinners would steal the time the clients and the engine need.
  int spinners_max = 1;
  std::atomic<int> spinners{0};
  // Whether busy-waiting may use idle CPUs now (LoadMonitor's verdict; true until it runs).
  std::atomic<bool> spin_ok{true};
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> sessions_total{0};
  // The clients' write-behinds, applied in order before any other request (write_behind.h).
  WriteBehind behind;
  std::atomic<uint64_t> behind_writes{0};  // write-behinds applied
  std::atomic<uint64_t> behind_syncs{0};   // fsyncs that joined one (sync_after)
  // Refuses placeholder accesses that bypass the library; null when unavailable or disabled.
  PlaceholderGuard* guard = nullptr;
};

}  // namespace zvfs::daemon
