// pipeline.cc — checksummed block I/O over a vdev (see zio.h for the contract).
//
// Write: validate every op, compute each block's checksum over its lsize bytes, send the blocks
// to the vdev in one batch (aligned blocks straight from the caller's memory, others through
// per-thread bounce memory with the tail of the last sector zeroed), and fill the BlockPtrs
// only when the whole batch succeeded. A partial failure fills nothing: the caller's tree never
// names a block whose write did not complete. Blocks that follow one another on the device (the
// allocator hands out consecutive space to a batch) go out as one vectored request of up to
// kRunBytesMax: one device I/O for many small blocks. Each block keeps its own BlockPtr and
// checksum; only the I/O is shared.
//
// Read: validate each BlockPtr (an impossible pointer is corruption: EIO), read
// round_up(lsize) bytes, verify the checksum over lsize bytes. A mismatch zeroes the caller's
// buffer, logs the block, counts it and yields EIO, so unverified bytes never leave this file.
//
// Nothing is cached or buffered here: a crash loses nothing that the vdev had not already lost.
#include <cstring>

#include "common/copy.h"
#include "common/log.h"
#include "engine/zio/bounce.h"
#include "engine/zio/zio.h"

namespace zvfs::zio {
namespace {

// Largest coalesced write: big enough that per-request costs vanish, small enough that a batch
// still spreads over many requests in flight.
constexpr uint64_t kRunBytesMax = 2u << 20;

const char* type_name(BlockType t) {
  switch (t) {
    case BlockType::kData:
      return "data";
    case BlockType::kIndirect:
      return "indirect";
    case BlockType::kDnode:
      return "dnode";
    case BlockType::kObjDir:
      return "objdir";
    case BlockType::kSpaceMap:
      return "spacemap";
    case BlockType::kXattr:
      return "xattr";
    case BlockType::kZilBlock:
      return "zil";
    default:
      return "other";
  }
}

// 0 if `op` can be written on a device of `dev_size` bytes, else a static reason.
const char* check_write(const WriteOp& op, uint64_t dev_size) {
  if (op.data == nullptr || op.lsize == 0) return "zio: write of an empty block";
  if (op.offset % vdev::kSectorSize || op.asize % vdev::kSectorSize)
    return "zio: unaligned block placement";
  if (op.asize < round_up_sector(op.lsize)) return "zio: block larger than its allocation";
  if (op.offset > dev_size || op.asize > dev_size - op.offset)
    return "zio: block placed past the end of the device";
  return nullptr;
}

// 0 if `bp` is a pointer this pipeline can follow, else a static reason.
const char* check_bp(const BlockPtr& bp, uint64_t dev_size) {
  if (bp.is_hole()) return "zio: read of a hole";
  if (bp.offset % vdev::kSectorSize || bp.asize % vdev::kSectorSize)
    return "zio: block pointer not aligned";
  if (bp.lsize == 0 || bp.psize != bp.lsize || round_up_sector(bp.lsize) > bp.asize)
    return "zio: block pointer sizes inconsistent";
  if (bp.comp != 0) return "zio: unknown compression";
  if (bp.cksum != ChecksumAlg::kXxh3_128) return "zio: unknown checksum algorithm";
  if (bp.vdev != 0) return "zio: unknown vdev";
  if (bp.offset > dev_size || bp.asize > dev_size - bp.offset)
    return "zio: block pointer past the end of the device";
  return nullptr;
}

}  // namespace

Pipeline::Pipeline(vdev::Vdev& vdev) : vdev_(vdev) {}

Status Pipeline::write(std::span<WriteOp> ops, uint64_t txg) {
  if (ops.empty()) return ok_status();
  if (txg == 0) return make_error(EINVAL, "zio: write with birth txg 0");
  const uint64_t dev_size = vdev_.size();
  size_t bounce_bytes = 0;
  for (const WriteOp& op : ops) {
    if (const char* why = check_write(op, dev_size)) {
      LOG_ERROR("zio", "%s (offset %#llx lsize %u asize %u)", why,
                static_cast<unsigned long long>(op.offset), op.lsize, op.asize);
      return make_error(EINVAL, why);
    }
    if (needs_bounce(op.data, op.lsize)) bounce_bytes += round_up_sector(op.lsize);
  }
  Scratch& s = thread_scratch();
  if (!s.reserve_arena(bounce_bytes)) return make_error(ENOMEM, "zio: no memory for bounce");
  s.sums.resize(ops.size());
  s.iov.resize(ops.size());
  std::byte* arena = s.arena.data();
  for (size_t i = 0; i < ops.size(); ++i) {
    const WriteOp& op = ops[i];
    uint32_t len = static_cast<uint32_t>(round_up_sector(op.lsize));
    void* buf = const_cast<void*>(op.data);
    if (needs_bounce(op.data, op.lsize)) {
      copy_bytes(arena, op.data, op.lsize);
      std::memset(arena + op.lsize, 0, len - op.lsize);
      buf = arena;
      arena += len;
    }
    s.sums[i] = checksum(buf, op.lsize);
    s.iov[i] = iovec{buf, len};
  }
  // Runs of device-contiguous blocks become one request each (s.iov no longer grows here).
  s.reqs.clear();
  for (size_t i = 0; i < ops.size();) {
    const uint64_t start = ops[i].offset;
    uint64_t end = start + s.iov[i].iov_len;
    size_t j = i + 1;
    while (j < ops.size() && j - i < vdev::kMaxIov && ops[j].offset == end &&
           end - start + s.iov[j].iov_len <= kRunBytesMax) {
      end += s.iov[j].iov_len;
      ++j;
    }
    vdev::IoReq r{vdev::IoReq::Op::kWrite, s.iov[i].iov_base, static_cast<uint32_t>(end - start),
                  start, 0};
    if (j - i > 1) {
      r.buf = nullptr;
      r.iov = &s.iov[i];
      r.iovcnt = static_cast<uint32_t>(j - i);
    }
    s.reqs.push_back(r);
    i = j;
  }
  int rc = vdev_.submit(s.reqs);
  s.trim();
  if (rc != 0) {
    uint64_t failed = 0;
    for (const vdev::IoReq& r : s.reqs)
      if (r.result != static_cast<int64_t>(r.len)) failed += r.iovcnt > 0 ? r.iovcnt : 1;
    io_errors_.fetch_add(failed, std::memory_order_relaxed);
    LOG_ERROR("zio", "write batch of %zu blocks failed: %d (%llu blocks)", ops.size(), rc,
              static_cast<unsigned long long>(failed));
    return make_error(-rc, "zio: block write failed");
  }
  uint64_t bytes = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    const WriteOp& op = ops[i];
    bytes += op.lsize;
    if (op.out == nullptr) continue;
    BlockPtr bp;
    bp.offset = op.offset;
    bp.asize = op.asize;
    bp.lsize = op.lsize;
    bp.psize = op.lsize;
    bp.type = op.type;
    bp.level = op.level;
    bp.cksum = ChecksumAlg::kXxh3_128;
    bp.fill = op.fill;
    bp.birth_txg = txg;
    bp.checksum = s.sums[i];
    *op.out = bp;
  }
  blocks_written_.fetch_add(ops.size(), std::memory_order_relaxed);
  bytes_written_.fetch_add(bytes, std::memory_order_relaxed);
  return ok_status();
}

Status Pipeline::read(std::span<ReadOp> ops) {
  if (ops.empty()) return ok_status();
  const uint64_t dev_size = vdev_.size();
  Scratch& s = thread_scratch();
  s.reqs.clear();
  s.index.clear();
  size_t bounce_bytes = 0;
  for (ReadOp& op : ops) {
    op.result = 0;
    if (op.bp == nullptr || op.buf == nullptr) {
      op.result = -EINVAL;
      continue;
    }
    if (const char* why = check_bp(*op.bp, dev_size)) {
      LOG_ERROR("zio", "%s (offset %#llx lsize %u asize %u birth %llu)", why,
                static_cast<unsigned long long>(op.bp->offset), op.bp->lsize, op.bp->asize,
                static_cast<unsigned long long>(op.bp->birth_txg));
      op.result = op.bp->is_hole() ? -EINVAL : -EIO;
      continue;
    }
    if (needs_bounce(op.buf, op.bp->lsize)) bounce_bytes += round_up_sector(op.bp->lsize);
  }
  if (!s.reserve_arena(bounce_bytes)) return make_error(ENOMEM, "zio: no memory for bounce");
  std::byte* arena = s.arena.data();
  for (size_t i = 0; i < ops.size(); ++i) {
    ReadOp& op = ops[i];
    if (op.result != 0) continue;
    uint32_t len = static_cast<uint32_t>(round_up_sector(op.bp->lsize));
    void* buf = op.buf;
    if (needs_bounce(op.buf, op.bp->lsize)) {
      buf = arena;
      arena += len;
    }
    s.reqs.push_back(vdev::IoReq{vdev::IoReq::Op::kRead, buf, len, op.bp->offset, 0});
    s.index.push_back(static_cast<uint32_t>(i));
  }
  if (!s.reqs.empty()) vdev_.submit(s.reqs);
  uint64_t blocks = 0, bytes = 0;
  for (size_t k = 0; k < s.reqs.size(); ++k) {
    const vdev::IoReq& r = s.reqs[k];
    ReadOp& op = ops[s.index[k]];
    const BlockPtr& bp = *op.bp;
    if (r.result != static_cast<int64_t>(r.len)) {
      op.result = r.result < 0 ? static_cast<int>(r.result) : -EIO;
      io_errors_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (checksum(r.buf, bp.lsize) != bp.checksum) {
      op.result = -EIO;
      checksum_errors_.fetch_add(1, std::memory_order_relaxed);
      std::memset(op.buf, 0, bp.lsize);
      LOG_ERROR("zio", "checksum mismatch: %s block at offset %#llx (lsize %u, birth txg %llu)",
                type_name(bp.type), static_cast<unsigned long long>(bp.offset), bp.lsize,
                static_cast<unsigned long long>(bp.birth_txg));
      continue;
    }
    if (r.buf != op.buf) copy_bytes(op.buf, r.buf, bp.lsize);
    ++blocks;
    bytes += bp.lsize;
  }
  s.trim();
  blocks_read_.fetch_add(blocks, std::memory_order_relaxed);
  bytes_read_.fetch_add(bytes, std::memory_order_relaxed);
  for (const ReadOp& op : ops) {
    if (op.result != 0) {
      return make_error(-op.result, op.result == -EIO ? "zio: block read failed or corrupt"
                                                      : "zio: invalid block read");
    }
  }
  return ok_status();
}

Status Pipeline::read_block(const BlockPtr& bp, void* buf) {
  ReadOp op{&bp, buf, 0};
  return read(std::span<ReadOp>(&op, 1));
}

Status Pipeline::write_raw(uint64_t off, const void* buf, uint32_t len) {
  return write_raw_impl(off, buf, len, false);
}

Status Pipeline::write_raw_durable(uint64_t off, const void* buf, uint32_t len) {
  return write_raw_impl(off, buf, len, true);
}

Status Pipeline::write_raw_impl(uint64_t off, const void* buf, uint32_t len, bool flush) {
  if (buf == nullptr || len == 0 || len % vdev::kSectorSize || off % vdev::kSectorSize)
    return make_error(EINVAL, "zio: raw write not sector-aligned");
  Scratch& s = thread_scratch();
  void* p = const_cast<void*>(buf);
  if (needs_bounce(buf, len)) {
    if (!s.reserve_arena(len)) return make_error(ENOMEM, "zio: no memory for bounce");
    copy_bytes(s.arena.data(), buf, len);
    p = s.arena.data();
  }
  vdev::IoReq r{vdev::IoReq::Op::kWrite, p, len, off, 0};
  int rc = flush ? vdev_.submit_then_flush({&r, 1}) : vdev_.submit({&r, 1});
  s.trim();
  if (rc != 0) {
    io_errors_.fetch_add(1, std::memory_order_relaxed);
    bool write_failed = r.result != static_cast<int64_t>(len);
    return make_error(-rc, write_failed ? "zio: raw write failed" : "zio: flush failed");
  }
  bytes_written_.fetch_add(len, std::memory_order_relaxed);
  return ok_status();
}

Status Pipeline::read_raw(uint64_t off, void* buf, uint32_t len) {
  if (buf == nullptr || len == 0 || len % vdev::kSectorSize || off % vdev::kSectorSize)
    return make_error(EINVAL, "zio: raw read not sector-aligned");
  Scratch& s = thread_scratch();
  void* p = buf;
  if (needs_bounce(buf, len)) {
    if (!s.reserve_arena(len)) return make_error(ENOMEM, "zio: no memory for bounce");
    p = s.arena.data();
  }
  vdev::IoReq r{vdev::IoReq::Op::kRead, p, len, off, 0};
  int rc = vdev_.submit({&r, 1});
  if (rc == 0 && p != buf) copy_bytes(buf, p, len);
  s.trim();
  if (rc != 0) {
    io_errors_.fetch_add(1, std::memory_order_relaxed);
    return make_error(-rc, "zio: raw read failed");
  }
  bytes_read_.fetch_add(len, std::memory_order_relaxed);
  return ok_status();
}

Status Pipeline::flush() {
  int rc = vdev_.flush();
  if (rc != 0) {
    io_errors_.fetch_add(1, std::memory_order_relaxed);
    return make_error(-rc, "zio: flush failed");
  }
  return ok_status();
}

ZioStats Pipeline::stats() const {
  ZioStats s;
  s.blocks_read = blocks_read_.load(std::memory_order_relaxed);
  s.blocks_written = blocks_written_.load(std::memory_order_relaxed);
  s.bytes_read = bytes_read_.load(std::memory_order_relaxed);
  s.bytes_written = bytes_written_.load(std::memory_order_relaxed);
  s.checksum_errors = checksum_errors_.load(std::memory_order_relaxed);
  s.io_errors = io_errors_.load(std::memory_order_relaxed);
  return s;
}

void Pipeline::count_checksum_error() {
  checksum_errors_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace zvfs::zio
