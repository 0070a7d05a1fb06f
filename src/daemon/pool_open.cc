// pool_open.cc — import or create the daemon's pool; wait (bounded) for a lock still held by a
// daemon that has just been killed. See pool_open.h.
#include "daemon/pool_open.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "common/log.h"

namespace zvfs::daemon {
namespace {

int64_t mono_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// True if nobody holds an exclusive lock on `path` right now (or it cannot be probed).
bool lock_free(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
  if (free) flock(fd, LOCK_UN);
  close(fd);
  return free;
}

void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace

Result<PoolOpen> open_pool(const std::string& path, const engine::PoolConfig& cfg, int lock_wait_ms,
                           std::string* what) {
  const int64_t deadline = mono_ms() + lock_wait_ms;
  bool logged = false;
  for (;;) {
    struct stat st;
    bool exists = stat(path.c_str(), &st) == 0 && (S_ISBLK(st.st_mode) || st.st_size > 0);
    auto pool = exists ? engine::Pool::import(path, cfg) : engine::Pool::create(path, cfg);
    if (pool.ok()) {
      if (logged) LOG_INFO("daemon", "the pool %s was released; opened it", path.c_str());
      // --size (default 8 GiB, also passed by `zvfs up`) only sizes a new pool: one line when
      // it differs upwards from an existing pool file's size, which it does not change.
      if (exists && S_ISREG(st.st_mode) && cfg.create_size > static_cast<uint64_t>(st.st_size))
        LOG_INFO("daemon",
                 "the pool %s is %lld bytes; --size %llu applies only to a new pool (`zvfs grow` "
                 "makes an existing one larger while no daemon serves it)",
                 path.c_str(), static_cast<long long>(st.st_size),
                 static_cast<unsigned long long>(cfg.create_size));
      return PoolOpen{std::move(*pool), !exists};
    }
    if (pool.code() != EBUSY || mono_ms() >= deadline) {
      if (pool.code() == EBUSY) {
        char secs[32];
        snprintf(secs, sizeof secs, "%.1f", lock_wait_ms / 1000.0);
        *what = "the pool " + path +
                " is in use by another process (another zvfsd, or zvfs fsck): still locked after " +
                secs + " s";
      } else {
        *what = std::string(exists ? "cannot import the pool " : "cannot create the pool ") + path +
                ": " + pool.error().msg + " (" + strerror(pool.code()) + ")";
      }
      return pool.error();
    }
    if (!logged) {
      LOG_WARN("daemon",
               "the pool %s is locked by another process (a daemon that just died releases it "
               "once the kernel has torn down its I/O rings); waiting up to %d ms",
               path.c_str(), lock_wait_ms);
      logged = true;
    }
    // Poll the lock itself so that the engine (which logs each refusal) is retried only once
    // the lock looks free.
    while (!lock_free(path) && mono_ms() < deadline) sleep_ms(20);
  }
}

}  // namespace zvfs::daemon
