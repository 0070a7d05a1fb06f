// zvfs/blob.h — the storage engine's public API: pools and blobs.
//
// This is the seam between the engine and whoever uses it (the daemon, the command line's
// offline tools, tests). Nothing here knows about daemons, sockets or Linux files.
//
// A Pool lives on one vdev (a file or block device; a memory vdev in tests). It holds blobs:
// byte arrays with a logical size, sparse, addressed by a 64-bit id that is never reused.
//
// Guarantees:
//   - Thread-safe: any number of threads may call any method on any blobs, including the same
//     blob, at once. Writes are visible to every reader as soon as write() returns.
//   - Durability: Blob::sync() makes that blob's acknowledged writes, truncates, punches, size and
//     xattrs durable (intent log: one log append plus one flush). Pool::sync_all() commits a txg.
//     Other changes become durable when their transaction group commits (every txg_interval_ms,
//     when dirty data passes its threshold, or on demand).
//   - Crash consistency: after a crash at any instant, import yields a consistent pool in which
//     every synced byte is exact and every other block reads as its old or its new contents.
//   - Integrity: every block is checksummed; a read that meets a bad block fails with EIO (and the
//     error is logged and counted); bad data is never returned.
//   - Errors: ENOSPC when full (deletes and commits still work: a reserve is kept); a failed
//     write or flush makes the next sync() of each affected blob fail with EIO — a later sync()
//     never reports success for data that was lost. ENOENT for a blob that does not exist
//     (or was deleted while a handle was open).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "zvfs/status.h"

namespace zvfs::vdev {
class Vdev;
}

namespace zvfs::engine {

using BlobId = uint64_t;

// The on-disk format version this build creates pools with (docs/FORMAT.md, "Versions").
inline constexpr uint32_t kPoolFormatVersion = 2;

// Whether a pool can have data blocks of `bytes`: a power of two from 4 KiB to 1 MiB (what
// zvfsd --block-size and zvfs create --block-size accept).
inline constexpr bool valid_block_size(uint64_t bytes) {
  return bytes >= 4096 && bytes <= (1u << 20) && (bytes & (bytes - 1)) == 0;
}

struct PoolConfig {
  uint64_t create_size = 0;             // bytes, when creating a pool file
  uint32_t block_size = 16 * 1024;      // data block size, power of two 4 KiB..1 MiB (at create)
  uint64_t cache_bytes = 256ull << 20;  // ARC bound
  uint64_t dirty_max_bytes = 256ull << 20;  // writers are throttled above this
  uint32_t txg_interval_ms = 5000;          // background commit interval
  uint64_t log_bytes = 0;                   // intent log size at create; 0 = automatic
  bool direct_io = true;                    // O_DIRECT on the file vdev
  // At create: write the data region once with zeros too, so that a pool file is dense and
  // no commit ever allocates file system blocks (see pool_open.cc, format()).
  bool preallocate = false;
};

struct BlobStat {
  BlobId id = 0;
  uint64_t size = 0;             // logical size
  uint64_t allocated_bytes = 0;  // bytes of data blocks allocated (for st_blocks)
  uint64_t create_txg = 0;
  uint64_t modify_txg = 0;
};

struct PoolStats {
  std::string path;
  uint64_t pool_guid = 0;
  // free_bytes: what can still be written, also bounded by the file system holding a sparse
  // pool file (its free space less 64 MiB, plus free space the file already has).
  uint64_t size_bytes = 0, allocated_bytes = 0, free_bytes = 0;
  uint64_t blob_count = 0;
  uint64_t txg = 0, synced_txg = 0;
  uint64_t dirty_bytes = 0, dirty_max_bytes = 0;
  uint64_t cache_bytes = 0, cache_max_bytes = 0, cache_hits = 0, cache_misses = 0;
  uint64_t checksum_errors = 0, io_errors = 0;
  uint64_t log_records = 0, log_syncs = 0, log_bytes_written = 0;
  uint64_t throttle_waits = 0;     // writers stopped at the dirty-data limit
  uint64_t throttle_delay_ns = 0;  // time large changes were delayed before it (dirty_delay.h)
  uint32_t format_version = 0;     // of the pool's label
  uint32_t block_size = 0;
  int64_t host_free_bytes = -1;   // free space of the file system holding a pool file (-1: n/a)
  bool host_limited = false;      // free_bytes is smaller than the pool's own free space
  uint64_t reserve_bytes = 0;     // kept back for deletes and commits: writers get ENOSPC first
  uint64_t fallocated_bytes = 0;  // set aside by allocate() for holes of open blobs
};

struct ScrubProgress {
  uint64_t bytes_done = 0, bytes_total = 0;
};

struct ScrubReport {
  uint64_t blocks_checked = 0, bytes_checked = 0;
  uint64_t errors = 0;
  struct Damage {
    BlobId blob = 0;      // 0 for pool metadata
    uint64_t offset = 0;  // logical offset within the blob (data blocks)
    uint64_t disk_offset = 0;
    std::string what;  // "data block", "indirect block", "space map", ...
  };
  std::vector<Damage> damaged;
};

struct CheckReport {
  bool consistent = true;
  std::vector<std::string> problems;  // human-readable, one per finding
  uint64_t blobs = 0, blocks = 0, leaked_bytes = 0;
};

class Blob;

class Pool {
 public:
  // A new pool on a file (created sparse if missing) or block device. Fails with EEXIST if
  // the device already holds a ZVFS pool label.
  static Result<std::unique_ptr<Pool>> create(const std::string& path, const PoolConfig& cfg);
  // Import an existing pool: picks the newest uberblock that verifies, replays the intent log.
  // Refuses (EINVAL/EIO with a clear message in the log) a device that is not a ZVFS pool, is of
  // an unknown format version, or is damaged beyond import.
  static Result<std::unique_ptr<Pool>> import(const std::string& path, const PoolConfig& cfg);
  // Same, on a given vdev (tests: memory and fault-injecting vdevs).
  static Result<std::unique_ptr<Pool>> create(std::unique_ptr<vdev::Vdev> vdev,
                                              const PoolConfig& cfg);
  static Result<std::unique_ptr<Pool>> import(std::unique_ptr<vdev::Vdev> vdev,
                                              const PoolConfig& cfg);

  virtual ~Pool() = default;

  // Commit everything and mark the pool cleanly exported. The Pool is unusable afterwards.
  virtual Status export_pool() = 0;

  virtual Result<BlobId> create_blob() = 0;
  virtual Result<std::shared_ptr<Blob>> open_blob(BlobId id) = 0;
  // Frees the blob's space (in the current txg). Open handles then fail with ENOENT.
  virtual Status delete_blob(BlobId id) = 0;
  // Calls fn for every blob in id order until it returns false.
  virtual Status for_each_blob(const std::function<bool(const BlobStat&)>& fn) = 0;

  // Commit the open txg and wait until it is durable.
  virtual Status sync_all() = 0;
  virtual PoolStats stats() const = 0;

  // Read and verify every reachable block. progress may be empty.
  virtual Result<ScrubReport> scrub(const std::function<void(const ScrubProgress&)>& progress) = 0;
  // Full consistency check: every reachable block verifies, no block is referenced twice, the
  // space map agrees with the references (leaks and double allocations are reported).
  virtual Result<CheckReport> check() = 0;
  // Rewrites the labels with this build's format version, so that the next import writes the
  // newer form (blocks already written stay as they are, and stay readable). Returns the
  // version the pool had; a pool already current is left untouched. The running pool keeps
  // the form it was imported with.
  virtual Result<uint32_t> upgrade_format() = 0;
  // Extends the pool to the whole of its device, once the device (or pool file) has been made
  // larger: the labels are rewritten (the copy at the new end first) and the data region grows,
  // effective from the next import. Returns the data region's size from then on (the current
  // one if the device is not larger). The running pool keeps its size.
  virtual Result<uint64_t> grow() = 0;
};

class Blob {
 public:
  virtual ~Blob() = default;
  virtual BlobId id() const = 0;

  // Reads up to len bytes at off; short only at end of blob; holes read as zeros.
  virtual Result<size_t> read(uint64_t off, void* buf, size_t len) = 0;
  // Writes len bytes at off, extending the size if needed. Returns len.
  virtual Result<size_t> write(uint64_t off, const void* buf, size_t len) = 0;
  // Atomically writes at the current end; returns the offset written at.
  virtual Result<uint64_t> append(const void* buf, size_t len) = 0;
  // Sets the logical size; growing is sparse, shrinking frees whole blocks past the end.
  virtual Status truncate(uint64_t size) = 0;
  // Zeroes [off, off+len) (clipped to the size), freeing whole blocks. Size unchanged.
  virtual Status punch_hole(uint64_t off, uint64_t len) = 0;
  // fallocate(2) mode 0 (or FALLOC_FL_KEEP_SIZE with keep_size): sets aside pool space for
  // the blocks of [off, off+len) that hold no data (ENOSPC, and nothing changed, unless the
  // pool has room for them now); then, unless keep_size, extends the size to off+len (the
  // blocks stay holes). Writes through this handle into blocks set aside take their space and
  // are not refused for lack of it; truncating or punching them, or dropping the handle, gives
  // the rest back. The set-aside lives in memory only: an export or a crash ends it. Blocks
  // that hold data need no space set aside: rewriting them may use half of the pool's reserve.
  virtual Status allocate(uint64_t off, uint64_t len, bool keep_size) = 0;
  // Makes this blob's acknowledged changes durable (intent log).
  virtual Status sync() = 0;

  virtual uint64_t size() const = 0;
  virtual Result<BlobStat> stat() = 0;
  // SEEK_DATA / SEEK_HOLE: the first data (hole) offset >= off; ENXIO past the end.
  virtual Result<uint64_t> seek_data(uint64_t off) = 0;
  virtual Result<uint64_t> seek_hole(uint64_t off) = 0;

  // Extended attributes: names up to 255 bytes, values up to 64 KiB.
  virtual Result<std::vector<uint8_t>> get_xattr(std::string_view name) = 0;  // ENODATA if absent
  virtual Status set_xattr(std::string_view name, const void* value, size_t len) = 0;
  virtual Status remove_xattr(std::string_view name) = 0;  // ENODATA if absent
  virtual Result<std::vector<std::string>> list_xattrs() = 0;
};

}  // namespace zvfs::engine
