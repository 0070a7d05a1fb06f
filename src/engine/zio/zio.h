// zio.h — the I/O pipeline: checksummed block I/O over a vdev.
//
// The pipeline turns "write these blocks at these (already allocated) places" into vdev batches,
// computing each block's checksum and filling its BlockPtr, and turns "read the block this
// BlockPtr names" into a vdev read followed by verification. It owns no space: allocation is the
// allocator's job, above. It is the single place where checksums are computed and verified, so
// no layer above ever sees unverified bytes.
//
// Contract:
//   - read()/read_block() never return data whose checksum does not match the BlockPtr: such a
//     block yields EIO, a log line ("checksum mismatch ... offset ...") and +1 checksum_errors.
//   - write() fills every op's BlockPtr (offset, asize, lsize, psize, type, level, fill,
//     birth_txg, cksum, checksum) only if the batch succeeded; on error nothing is filled and
//     the error is returned (and counted).
//   - Buffers need not be aligned; the pipeline bounces unaligned or short (non-4096-multiple)
//     blocks through aligned memory. Aligned buffers whose length is a multiple of 4096 go
//     straight to the vdev.
//   - Raw I/O (labels, uberblocks, intent-log blocks) is for self-checksummed structures that
//     no BlockPtr names; the caller verifies those itself with zio::checksum().
//   - All methods are thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/vdev/vdev.h"
#include "engine/zio/blkptr.h"
#include "zvfs/status.h"

namespace zvfs::zio {

// XXH3-128 of the bytes.
Checksum checksum(const void* data, size_t len);

struct WriteOp {
  const void* data = nullptr;  // lsize bytes
  uint32_t lsize = 0;
  BlockType type = BlockType::kData;
  uint8_t level = 0;
  uint32_t fill = 1;
  uint64_t offset = 0;      // allocated by the caller, multiple of 4096
  uint32_t asize = 0;       // allocated bytes (>= lsize rounded up to 4096)
  BlockPtr* out = nullptr;  // filled on success
};

struct ReadOp {
  const BlockPtr* bp = nullptr;
  void* buf = nullptr;  // at least bp->lsize bytes
  int result = 0;       // out: 0 or -errno (EIO on checksum mismatch)
};

struct ZioStats {
  uint64_t blocks_read = 0, blocks_written = 0;
  uint64_t bytes_read = 0, bytes_written = 0;
  uint64_t checksum_errors = 0, io_errors = 0;
};

class Pipeline {
 public:
  explicit Pipeline(vdev::Vdev& vdev);
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  Status write(std::span<WriteOp> ops, uint64_t txg);
  // Reads and verifies each op; returns the first error (each op's result says which failed).
  Status read(std::span<ReadOp> ops);
  Status read_block(const BlockPtr& bp, void* buf);

  Status write_raw(uint64_t off, const void* buf, uint32_t len);  // len multiple of 4096
  // write_raw() and flush() in one device round trip (the intent log's synchronous write).
  Status write_raw_durable(uint64_t off, const void* buf, uint32_t len);
  Status read_raw(uint64_t off, void* buf, uint32_t len);
  Status flush();

  vdev::Vdev& vdev() { return vdev_; }
  // The device saw synchronous writes lately (intent-log write + flush pairs): bulk writers
  // should keep less queued ahead of them.
  bool syncs_active() const { return vdev_.syncs_active(); }
  ZioStats stats() const;
  void count_checksum_error();  // for raw structures verified by callers

 private:
  Status write_raw_impl(uint64_t off, const void* buf, uint32_t len, bool flush);

  vdev::Vdev& vdev_;
  std::atomic<uint64_t> blocks_read_{0}, blocks_written_{0}, bytes_read_{0}, bytes_written_{0};
  std::atomic<uint64_t> checksum_errors_{0}, io_errors_{0};
};

}  // namespace zvfs::zio
