// fault_vdev.h — an in-memory vdev that fails the way real devices fail, for crash tests.
//
// It models a device with a volatile write cache: a completed write is visible to reads at
// once, but survives a power cut only if a flush() completed after it. FaultVdev remembers
// every write since the last successful flush (its old and new contents). When the power is
// cut — on demand, or armed to happen at the N-th write — each of those writes independently
// survives whole, vanishes, or is torn (a random subset of its 512-byte sectors reaches the
// medium), chosen by a seeded RNG so a failing case replays exactly. The write in flight when
// an armed cut fires is one of them (and fails with EIO). From then on every I/O fails with
// EIO; reboot() moves what survived into a fresh FaultVdev, as a machine restarting would.
//
// Also: inject EIO on the N-th write, on writes or reads overlapping a range, or on the next
// flush; flip bits at rest (bit rot); peek at the medium. A failed write changes nothing on
// the medium; a failed flush makes nothing durable (the unflushed writes stay at risk).
//
// Thread-safe (one mutex; every operation is a memory copy). Counters in FaultStats.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "engine/vdev/mem_image.h"
#include "engine/vdev/vdev.h"
#include "engine/vdev/vdev_counters.h"

namespace zvfs::vdev {

inline constexpr uint32_t kTearSectorSize = 512;

// What happens to the unflushed writes at a power cut.
enum class CutFate : uint8_t {
  kRandom,  // each one kept, dropped or torn, equally likely (the default)
  kKeepAll,
  kDropAll,
  kTearAll,  // each one torn: a random subset of its 512-byte sectors reaches the medium
};

struct FaultStats {
  uint64_t writes = 0;            // write requests seen (including failed ones)
  uint64_t flushes = 0;           // flush calls seen
  uint64_t unflushed_writes = 0;  // writes at risk right now
  uint64_t injected_errors = 0;   // requests and flushes failed on purpose
  bool power_cut = false;
  uint64_t cut_kept = 0, cut_dropped = 0, cut_torn = 0;  // fate of the writes at the cut
};

class FaultVdev final : public Vdev {
 public:
  // A zero-filled device of `size` bytes (rounded down to whole sectors).
  explicit FaultVdev(uint64_t size, uint64_t seed = 1);
  // A device holding a copy of `size` bytes at `data` (for example an image saved earlier).
  static std::unique_ptr<FaultVdev> from_image(const void* data, uint64_t size, uint64_t seed);
  ~FaultVdev() override;

  uint64_t size() const override { return size_; }
  int submit(std::span<IoReq> reqs) override;
  int flush() override;
  VdevStats stats() const override { return counters_.snapshot(); }
  std::string describe() const override;

  // Power. Writes are numbered from 1 in the order they reach the device.
  void arm_power_cut_at_write(uint64_t n);  // write number n is in flight when power fails
  void cut_power();                         // now (no-op if already cut)
  void set_cut_fate(CutFate f);             // for the next cut
  bool power_is_cut() const;
  // The surviving medium as a new, powered device (cuts power first if it is still on). This
  // device keeps failing every I/O afterwards.
  std::unique_ptr<FaultVdev> reboot(uint64_t seed);
  // A copy of the surviving medium (cuts power first if it is still on).
  std::vector<std::byte> surviving_image();

  // Errors.
  void fail_write_number(uint64_t n);                     // that write fails with EIO
  void fail_writes_in_range(uint64_t off, uint64_t len);  // every write overlapping it fails
  void fail_reads_in_range(uint64_t off, uint64_t len);   // every read overlapping it fails
  void clear_range_failures();
  void fail_next_flush();
  // A sparse file on a file system with `bytes` left: the first write to each 4 KiB block
  // takes 4 KiB of it, and a write that needs more than is left fails with ENOSPC (changing
  // nothing). Blocks written since the device was made (reboot() makes a new one) count as
  // allocated. host_free_bytes() reports what is left; unlimited_host_space() lifts the limit.
  void limit_host_space(uint64_t bytes);
  void unlimited_host_space();
  int64_t host_free_bytes() const override;
  // Medium.
  void flip_bits(uint64_t off, uint8_t mask);              // XOR one byte at rest
  bool peek(uint64_t off, void* out, uint64_t len) const;  // read the medium, power or not
  uint64_t write_count() const;                            // writes seen so far
  FaultStats fault_stats() const;

 private:
  struct Unflushed {
    uint64_t off = 0;
    std::vector<std::byte> old_data, new_data;
  };
  struct Range {
    uint64_t off = 0, len = 0;
  };
  FaultVdev(MemImage img, uint64_t seed);
  static bool overlaps(const std::vector<Range>& rs, uint64_t off, uint64_t len);
  int do_write(IoReq& r);  // mu_ held
  void cut_locked();       // mu_ held

  const uint64_t size_;
  mutable std::mutex mu_;
  MemImage img_;
  std::mt19937_64 rng_;
  std::vector<Unflushed> unflushed_;
  std::vector<Range> bad_write_ranges_, bad_read_ranges_;
  std::vector<uint64_t> bad_write_numbers_;
  uint64_t cut_at_write_ = 0;  // 0 = not armed
  CutFate fate_ = CutFate::kRandom;
  bool fail_next_flush_ = false;
  FaultStats fs_;
  std::vector<bool> backed_;  // 4 KiB blocks written since this device was made
  int64_t host_left_ = -1;    // -1: no limit
  VdevCounters counters_;
};

}  // namespace zvfs::vdev
