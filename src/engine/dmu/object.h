// object.h — one object (blob) in memory: its committed dnode and its changes per txg.
//
// State of an object = committed tree (as of the last synced txg, named by `committed`)
//                    + the syncing txg's delta (immutable while it is written)
//                    + the open txg's delta (where every new change goes).
// A block's current contents are found by looking, in order, at: the open delta's blocks; the
// open delta's freed ranges (zeros); the syncing delta's blocks; its freed ranges; the committed
// tree. Within one delta a block in `blocks` always supersedes `freed` (a write after a
// truncate or punch re-adds the block; a truncate or punch after a write erases it).
//
// Invariants:
//   - Every byte past `size` reads as zero in every layer (truncate zeroes the tail of the last
//     block and frees the rest), so growing never exposes old data.
//   - A delta's buffers are mutated only while it is the open delta, under `mu`; once the txg
//     closes they are immutable until the txg is durable and the delta is dropped.
//   - `committed` changes only in txg_done (under `mu`), after the uberblock naming it is durable.
//   - `ops` records the delta's changes in order, for the intent log. Ops before `sealed`
//     are being (or have been) logged and are never merged with later ones; ops before
//     `logged` are durable in the intent log. Once logged they are dropped (mark_logged), so
//     `ops` holds what the next sync must log, and kMaxOpsPerDelta bounds that.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/aligned_buf.h"
#include "engine/dmu/dnode.h"
#include "engine/dmu/range_set.h"
#include "engine/dmu/xattr.h"

namespace zvfs::dmu {

inline constexpr uint64_t kMaxBlobBytes = 1ull << 50;  // 1 PiB: keeps tree heights small
inline constexpr size_t kMaxOpsPerDelta = 8192;        // beyond: sync() commits the txg instead

enum class OpKind : uint8_t {
  kCreate = 1,
  kWrite = 2,
  kTruncate = 3,
  kPunch = 4,
  kXattrSet = 5,
  kXattrRemove = 6,
  kDelete = 7,  // logged with the next sync of any blob
};

struct LogOp {
  OpKind kind = OpKind::kWrite;
  uint64_t off = 0, len = 0;  // write/punch range; truncate: off = new size
  std::string name;           // xattrs
  std::vector<uint8_t> value;
};

// A piece of a write record's bytes held by reference: bytes [off, off+len) of a dirty block
// buffer, or `len` zeros when `buf` is null. While a reference is held the buffer is not
// changed: a writer that finds a delta's buffer shared copies it first (writable_block).
struct DataRef {
  std::shared_ptr<const AlignedBuf> buf;
  uint32_t off = 0, len = 0;
};

// One change as the intent log stores and replays it.
struct ChangeRecord {
  uint64_t txg = 0;
  uint64_t blob = 0;
  OpKind kind = OpKind::kWrite;
  uint64_t off = 0, len = 0;
  uint64_t size_after = 0;  // the blob's size when the record was made (informational)
  std::string name;
  // write: len bytes; xattr set: the value. A write gathered from memory leaves `data` empty
  // and names its bytes in `refs` instead (no copy until the log block is encoded).
  std::vector<uint8_t> data;
  std::vector<DataRef> refs;

  // The length of the record's payload (without the name), wherever it is held: refs cover
  // exactly the write's range.
  uint64_t payload_bytes() const { return refs.empty() ? data.size() : len; }
  // Copies the payload to dst (payload_bytes() bytes).
  void copy_payload(uint8_t* dst) const;
};

struct TxgDelta {
  uint64_t txg = 0;
  std::map<uint64_t, std::shared_ptr<AlignedBuf>> blocks;  // block id -> full block contents
  RangeSet freed;                                          // block ranges freed in this txg
  // Blocks a write filled (in part or whole) with zeros: stored whole at the commit, never as
  // holes, so space a program claimed by writing zeros stays allocated, as on ext4.
  RangeSet zeros_written;
  uint64_t size = 0;  // the object's size when the txg closed
  bool created = false, deleted = false, xattrs_dirty = false;
  std::shared_ptr<const XattrMap> xattrs;  // snapshot at close (if xattrs_dirty)
  std::vector<LogOp> ops;
  size_t sealed = 0, logged = 0;
  bool ops_overflow = false;
  uint64_t dirty_bytes = 0;  // memory held by `blocks`
};

struct Object : std::enable_shared_from_this<Object> {
  Object(uint64_t id_, uint32_t block_size_) : id(id_), block_size(block_size_) {}

  const uint64_t id;
  const uint32_t block_size;
  mutable std::mutex mu;

  DnodePhys committed{};  // as of the last synced txg (type kFree if never committed)
  uint64_t size = 0;
  bool deleted = false;
  uint64_t create_txg = 0, modify_txg = 0;
  std::shared_ptr<const XattrMap> xattrs;  // null until loaded
  std::shared_ptr<TxgDelta> open, syncing;
  // open->dirty_bytes and syncing->dirty_bytes, readable without mu: the write throttle tells
  // a stream of small writes (much dirty data in this object, in either txg) from a database's
  // occasional log write (little).
  std::atomic<uint64_t> open_dirty_bytes{0};
  std::atomic<uint64_t> syncing_dirty_bytes{0};
  // Intent-log commits of this object, one at a time (keeps its records in order), grouped
  // (guarded by mu): every change counts one (change_seq), and a log commit that made the
  // changes up to logged_seq durable records it. A sync waits while another one is logging
  // (log_busy), and returns as soon as logged_seq reaches the count it saw when it was called:
  // that commit covered its writes. It need not take a turn of its own, which with many
  // threads on one object could take long (a thread that has just finished comes back first).
  uint64_t change_seq = 0, logged_seq = 0;
  bool log_busy = false;
  std::condition_variable log_cv;
};

}  // namespace zvfs::dmu
