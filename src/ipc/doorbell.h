// doorbell.h — futex-based wake-ups between a client thread and a daemon worker.
//
// Owns the primitives of the data path's doorbell: futex wait/wake on words in the shared
// region, a monotonic clock, and a CPU pause for spin loops.
//
// Policy (what both sides do, see docs/PROTOCOL.md "Doorbell"):
//   - Waking a sleeping thread on the other CPU costs 50-60 us, a spinning waiter answers in
//     well under 1 us. So the waiting side spins first, for a bounded time, and only then
//     sleeps on a futex after announcing it (a counter or flag in shared memory).
//   - The side that publishes only calls FUTEX_WAKE when the other side announced that it
//     sleeps; a publish into a spinning peer costs no system call.
//   - Announce-then-recheck (both with sequentially consistent atomics) closes the lost-wake-up
//     window: either the sleeper's recheck sees the publication, or the publisher sees the
//     announcement and wakes it; futex_wait itself also returns at once if the word moved.
//   - Every sleep has a timeout, so a peer that died is noticed (the caller checks liveness).
#pragma once

#include <atomic>
#include <cstdint>

namespace zvfs::ipc {

// Sleeps while *word == expected, at most timeout_ns (< 0: no limit). Shared (cross-process)
// futex. Returns 0 when woken or the value differed, -ETIMEDOUT, or -EINTR.
int futex_wait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns);
// Wakes up to n sleepers on word.
void futex_wake(std::atomic<uint32_t>* word, int n);

uint64_t now_ns();

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Gives the CPU to another thread that is ready to run on it, if any (sched_yield).
void yield_cpu();

// Spins until pred() is true or spin_ns elapse. Returns pred()'s last value. Reads the clock
// only every 64 iterations, and yields the CPU every 512 (about every 15 us): the thread this
// spin waits for may have been woken onto this very CPU and be waiting for it (a daemon worker
// woken by a client's doorbell often preempts that client), and without the yield it would
// wait out the whole spin (up to --poll-us, 1 ms by default) before it could answer.
template <class Pred>
bool spin_until(Pred pred, uint64_t spin_ns) {
  if (pred()) return true;
  if (spin_ns == 0) return false;
  uint64_t deadline = 0;
  for (uint32_t i = 1;; ++i) {
    cpu_relax();
    if (pred()) return true;
    if ((i & 511) == 0) {
      yield_cpu();
      if (pred()) return true;
    }
    if ((i & 63) == 0) {
      uint64_t now = now_ns();
      if (deadline == 0)
        deadline = now + spin_ns;
      else if (now >= deadline)
        return false;
    }
  }
}

}  // namespace zvfs::ipc
