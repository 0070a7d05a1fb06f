// doorbell.cc — futex system calls and the clock (see doorbell.h).
#include "ipc/doorbell.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "common/ticks.h"

namespace zvfs::ipc {

int futex_wait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns) {
  struct timespec ts;
  struct timespec* tsp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = timeout_ns / 1000000000;
    ts.tv_nsec = timeout_ns % 1000000000;
    tsp = &ts;
  }
  long r =
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, tsp, nullptr, 0);
  if (r == 0) return 0;
  if (errno == EAGAIN) return 0;
  return -errno;
}

void futex_wake(std::atomic<uint32_t>* word, int n) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, n, nullptr, nullptr, 0);
}

// A raw system call: the preload library must not call into libc functions it may interpose.
void yield_cpu() {
  syscall(SYS_sched_yield);
}

uint64_t now_ns() {
  return monotonic_ns();
}

}  // namespace zvfs::ipc
