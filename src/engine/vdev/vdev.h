// vdev.h — the virtual device interface: the only way the engine touches storage.
//
// A Vdev is a flat array of bytes [0, size()) that supports batched reads and writes at
// sector-aligned offsets and a flush (a durability barrier). Everything above talks to this
// interface, so tests can substitute a memory vdev or a fault-injecting vdev that cuts power,
// tears writes, returns errors or flips bits.
//
// Contract:
//   - Offsets, lengths and buffer addresses passed to submit() are multiples of
//     kSectorSize (4096) — this is what O_DIRECT demands on the file vdev.
//   - A request may be vectored (iovcnt > 0): it moves the device range [off, off + len) to or
//     from up to kMaxIov memory segments in order (pwritev/preadv); each segment's address and
//     length are sector multiples and the lengths add up to len. One vectored request is one
//     device I/O: the pipeline uses it to write contiguous blocks in one go.
//   - submit() is thread-safe and blocks until every request in the batch has completed.
//     Concurrent callers do not serialize on one another for the duration of their I/O.
//   - Each IoReq::result is set to the number of bytes transferred or to -errno.
//     submit() returns 0 when every request transferred its full length, else the first -errno
//     (a short transfer counts as -EIO).
//   - A write that has completed is visible to later reads, but it is durable only once a
//     flush() issued after its completion has returned 0. Until then a power cut may lose it or
//     tear it (at 512-byte granularity).
//   - flush() returns 0 or -errno. After a failed flush, nothing written before it may be
//     assumed durable. submit_then_flush() is submit() then flush() with the same guarantees;
//     the file vdev issues both in one io_uring submission.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "zvfs/status.h"

namespace zvfs::vdev {

inline constexpr uint32_t kSectorSize = 4096;
inline constexpr uint32_t kMaxIov = 1024;  // segments per vectored request (IOV_MAX)

struct IoReq {
  enum class Op : uint8_t { kRead, kWrite };
  Op op = Op::kRead;
  void* buf = nullptr;         // kSectorSize-aligned
  uint32_t len = 0;            // multiple of kSectorSize
  uint64_t off = 0;            // multiple of kSectorSize
  int64_t result = 0;          // out: bytes transferred or -errno
  const iovec* iov = nullptr;  // vectored request: iovcnt segments instead of buf
  uint32_t iovcnt = 0;
};

struct VdevStats {
  uint64_t reads = 0, writes = 0, flushes = 0;
  uint64_t read_bytes = 0, write_bytes = 0;
  uint64_t read_errors = 0, write_errors = 0, flush_errors = 0;
};

class Vdev {
 public:
  virtual ~Vdev() = default;
  virtual uint64_t size() const = 0;
  virtual int submit(std::span<IoReq> reqs) = 0;
  virtual int flush() = 0;
  // submit(reqs) followed by flush(), as one round trip where the device allows it. Returns the
  // batch's first -errno, else the flush's result. The flush covers every request of the batch.
  virtual int submit_then_flush(std::span<IoReq> reqs) {
    int rc = submit(reqs);
    return rc != 0 ? rc : flush();
  }
  virtual VdevStats stats() const = 0;
  virtual std::string describe() const = 0;  // for logs: "file:/path" etc.
  // Whether synchronous writes (submit_then_flush) happened lately, so that bulk writers keep
  // less queued ahead of the next one (the file vdev: sync_priority.h).
  virtual bool syncs_active() const { return false; }
  // Bytes the file system holding a (sparse) pool file can still give it; -1 when nothing
  // outside the device limits it (a block device, memory). A write to a never-written part of
  // a sparse file fails with ENOSPC (or short) once this reaches 0, however empty the pool.
  virtual int64_t host_free_bytes() const { return -1; }
};

struct FileVdevOptions {
  bool create = false;        // create the file if missing (sparse, of `size` bytes)
  uint64_t size = 0;          // size for creation; 0 = use the existing file/device size
  bool direct = true;         // O_DIRECT (falls back with a clear error if the fs refuses it)
  unsigned queue_depth = 64;  // io_uring entries per ring
};

// A regular file or block device driven by io_uring, opened O_DIRECT.
Result<std::unique_ptr<Vdev>> open_file_vdev(const std::string& path, const FileVdevOptions& opt);

// A vdev in memory (tests, and the engine's own unit tests).
std::unique_ptr<Vdev> make_memory_vdev(uint64_t size);

}  // namespace zvfs::vdev
