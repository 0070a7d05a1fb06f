// dirty_delay.h — the soft part of the write throttle: how long a large change waits before it
// adds to dirty data.
//
// The hard part (PoolCore::admit) stops a writer while dirty data is at its limit, until a
// commit has made room: with 1 MiB writes streaming through the daemon that was 14-50 ms for 1
// write in 200, the rest taking 0.2-0.5 ms. As OpenZFS does (its dirty-data delay), a large
// change is therefore delayed once dirty data passes kDelayStartPct of the limit, by an amount
// that grows as the limit comes near: kDelayScaleNs per MiB halfway between the start and the
// limit, times (dirty - start) / (limit - dirty), at most kDelayMaxNs; at the limit the hard
// part takes over. A bulk writer then settles at the pace the commits drain, with dirty data
// somewhere in that range, instead of filling it up and stalling for a whole commit. Small changes
// (a database's log write + fsync) are never delayed: they have their own reserve under the limit
// (which a stream of small writes to one object does not get: txg_sync.cc, kStreamShareDiv).
//
// Pure function; thread-safe.
#pragma once

#include <cstdint>

namespace zvfs::engine {

inline constexpr uint64_t kDelayStartPct = 75;
inline constexpr uint64_t kDelayScaleNs = 250'000;  // per MiB, halfway to the limit
inline constexpr uint64_t kDelayMaxNs = 10'000'000;

// Nanoseconds a change of `bytes` waits when `dirty` bytes are dirty and `limit` is the most
// that this change may bring dirty data to.
inline uint64_t dirty_delay_ns(uint64_t dirty, uint64_t limit, uint64_t bytes) {
  const uint64_t start = limit / 100 * kDelayStartPct;
  if (dirty <= start || bytes == 0) return 0;
  if (dirty >= limit) return 0;  // the hard throttle waits for room instead
  const double f = static_cast<double>(dirty - start) / static_cast<double>(limit - dirty);
  const double ns = static_cast<double>(kDelayScaleNs) * f *
                    (static_cast<double>(bytes) / static_cast<double>(1u << 20));
  return ns >= static_cast<double>(kDelayMaxNs) ? kDelayMaxNs : static_cast<uint64_t>(ns);
}

}  // namespace zvfs::engine
