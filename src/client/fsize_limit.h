// fsize_limit.h — the writer's file size limit (RLIMIT_FSIZE) on ZVFS files.
//
// The daemon writes a ZVFS file's data, so the kernel's check of the writing process's
// RLIMIT_FSIZE (`ulimit -f`) never sees those writes. The library applies it where the kernel
// would (generic_write_check_limits, inode_newsize_ok): a write that starts at or past the
// limit fails with EFBIG and sends SIGXFSZ to the calling thread; one that crosses it is cut
// short at it; a fallocate that would grow the file past it fails the same way. Truncates go
// to the placeholder first, where the kernel checks them itself.
//
// The limit is cached: read at start-up and after each setrlimit/prlimit of RLIMIT_FSIZE this
// process makes through libc (hook_rlimit.cc, and syscall()). Unlimited (the usual case) costs
// one relaxed load per write. A limit another process sets with prlimit(pid) is not seen.
#pragma once

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>

namespace zvfs::client {

extern std::atomic<uint64_t> g_fsize_limit;  // RLIM_INFINITY until read

inline bool fsize_limited() {
  return g_fsize_limit.load(std::memory_order_relaxed) != RLIM_INFINITY;
}

// Reads RLIMIT_FSIZE again (start-up; after this process changed it).
void fsize_limit_refresh();

// Whether a successful setrlimit/prlimit call on `pid` (0: the caller) of `resource` that
// gave a new limit changed this process's RLIMIT_FSIZE. Internal linkage: hook_rlimit.cc
// runs uninstrumented in sanitizer builds and must keep its own copy.
static inline bool fsize_limit_set_here(long pid, long resource) {
  return resource == RLIMIT_FSIZE && (pid == 0 || pid == getpid());
}

// For a write of n > 0 bytes at pos: n, or what fits below the limit, or -EFBIG (SIGXFSZ sent
// to the calling thread) when pos is at or past it.
ssize_t fsize_limit_write(uint64_t pos, size_t n);

// For a call that makes the file `size` bytes long (growing it): 0, or -EFBIG (SIGXFSZ sent)
// past the limit.
int fsize_limit_size(uint64_t size);

}  // namespace zvfs::client
