// pool_open.h — zvfsd's import (or creation) of its pool, waiting out a lock left by a daemon
// that has just died.
//
// The engine holds an exclusive flock on the pool file while a pool is open, and a second open
// fails with EBUSY. After a `kill -9` the kernel releases that lock only once it has torn down
// the dead process's io_uring instances (asynchronously, after the process is already reaped),
// so a daemon restarted at once can find the pool still locked for a moment. open_pool() then
// waits, polling the lock, for up to `lock_wait_ms` (one log line), before it gives up.
#pragma once

#include <memory>
#include <string>

#include "zvfs/blob.h"
#include "zvfs/status.h"

namespace zvfs::daemon {

struct PoolOpen {
  std::unique_ptr<engine::Pool> pool;
  bool created = false;  // the pool did not exist and was created
};

// Imports the pool at `path`, or creates it (cfg.create_size) when the path does not exist or is
// an empty regular file. On EBUSY, retries until the lock is free or `lock_wait_ms` has passed;
// the error then says the pool is in use. `what` receives a message for any failure.
Result<PoolOpen> open_pool(const std::string& path, const engine::PoolConfig& cfg, int lock_wait_ms,
                           std::string* what);

}  // namespace zvfs::daemon
