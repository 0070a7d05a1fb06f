// objset.h — the object set: every blob, its changes, and the transaction groups they form.
//
// Owns the meta-object (the object directory: dnodes in a block-pointer tree indexed by blob
// id), the table of objects held in memory (open handles or unsynced changes), the open txg
// number, and the dirty-data count. It turns reads and writes into lookups and changes of the
// per-txg deltas (object.h) and, in sync_txg(), turns a closed txg's deltas into new blocks,
// new trees, new dnodes and a new meta-object root.
//
// Txg states: open (takes changes) -> syncing (closed by close_txg(); written by sync_txg())
// -> done (txg_done(): the uberblock naming it is durable; deltas dropped). One txg syncs at a
// time; the caller (the pool's sync thread) drives the states in that order.
//
// Locking, in acquisition order:
//   txg_mu_ (shared by every change, exclusive in close_txg so a txg closes between changes)
//   -> Object::mu -> reuse_mu_ (shared while reading trees; exclusive by the pool when it
//   lets the allocator reuse deferred frees, so a reader never follows a pointer into reused
//   space) ; table_mu_ is a leaf lock.
// Scale: lookups cost O(tree height); only held or dirty objects live in memory.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string_view>
#include <vector>

#include "common/task_pool.h"
#include "engine/alloc/allocator.h"
#include "engine/arc/arc.h"
#include "engine/dmu/object.h"
#include "engine/dmu/tree.h"
#include "engine/zio/zio.h"
#include "zvfs/status.h"

namespace zvfs::dmu {

// Blob ids are never reused, not even across a crash: ids handed out after the last durable
// commit may already be named by bindings that outlived the crash (a Linux file's xattr is made
// durable by its own file system, not by us). So a commit records as next_id a high-water mark
// kIdReserve past the ids handed out so far, and import starts there. A crash thus skips at most
// kIdReserve ids; more than kIdReserve creations within one txg could still repeat an id, which
// the daemon's owner-inode check then refuses rather than sharing a blob.
inline constexpr uint64_t kIdReserve = 1ull << 20;

struct ObjsetRoot {
  zio::BlockPtr meta_root{};
  uint64_t next_id = 1;  // on disk: every id below it may be in use (see kIdReserve)
  uint64_t blob_count = 0;
};

struct ObjStat {
  uint64_t id = 0, size = 0, allocated_bytes = 0, create_txg = 0, modify_txg = 0;
};

// What one sync() must append to the intent log for one object.
struct LogBatch {
  std::vector<ChangeRecord> records;
  std::vector<std::pair<std::shared_ptr<TxgDelta>, size_t>> marks;  // delta, ops now logged
  uint64_t bytes = 0;                                               // payload bytes
  uint64_t wait_txg = 0;    // nonzero: too much to log; commit this txg instead
  uint64_t change_seq = 0;  // the object's change count when gathered (Object::change_seq)
};

class ObjectSet {
 public:
  // short_tails: store data and xattr blocks without their zero tail (format version 2);
  // false writes every such block whole, as format version 1 requires.
  ObjectSet(zio::Pipeline& zio, arc::Arc& arc, alloc::Allocator& alloc, uint32_t block_size,
            const ObjsetRoot& root, uint64_t open_txg, bool short_tails = true);
  ObjectSet(const ObjectSet&) = delete;
  ObjectSet& operator=(const ObjectSet&) = delete;

  uint32_t block_size() const { return block_size_; }

  // --- objects ---
  Result<uint64_t> create();
  Status create_with_id(uint64_t id);  // replay: recreate an id the log says was created
  Result<std::shared_ptr<Object>> hold(uint64_t id);  // ENOENT if absent or deleted
  Status remove(Object& o);
  Status for_each(const std::function<bool(const ObjStat&)>& fn);

  // --- data (object_io.cc) ---
  Result<size_t> read(Object& o, uint64_t off, void* buf, size_t len);
  Result<size_t> write(Object& o, uint64_t off, const void* buf, size_t len);
  Result<uint64_t> append(Object& o, const void* buf, size_t len);
  // Whether every block of [off, off+len) within the object's size already holds data
  // (committed, or dirty in either txg): a write there replaces blocks instead of adding any,
  // and the commit after it frees about as much as it takes (kDeferTxgs later). The admission
  // of writes on a nearly full pool asks; it costs a block-pointer lookup per block.
  Result<bool> replaces_blocks(Object& o, uint64_t off, uint64_t len);
  Status truncate(Object& o, uint64_t size);
  Status punch(Object& o, uint64_t off, uint64_t len);
  Result<ObjStat> stat(Object& o);
  // Bytes that `blocks` data blocks of a blob of `size` bytes take on disk, at most: whole
  // blocks, but never more than the size rounded up to the unit a block's stored part ends on
  // (4 KiB on format-2 pools, whose blocks end at their last non-zero sector; a block
  // otherwise). Exact for a file written densely; st_blocks and per-blob accounting use it.
  uint64_t allocated_bytes(uint64_t blocks, uint64_t size) const;
  uint64_t size(const Object& o) const;
  Result<uint64_t> seek(Object& o, uint64_t off, bool want_data);
  // The blocks of [b0, b1) that hold no data now (in no txg's changes, nor on disk).
  Result<RangeSet> hole_blocks(Object& o, uint64_t b0, uint64_t b1);

  // --- xattrs (object_xattr.cc) ---
  Result<std::vector<uint8_t>> get_xattr(Object& o, std::string_view name);
  Status set_xattr(Object& o, std::string_view name, const void* value, size_t len);
  Status remove_xattr(Object& o, std::string_view name);
  Result<std::vector<std::string>> list_xattrs(Object& o);

  // --- intent log support (objset_log.cc) ---
  // A sync of o starts with begin_log(), which notes o's change count, waits while another
  // sync of o is logging, and returns false once a commit has made every change up to that
  // count durable (nothing left to do), or true when this sync is the one to log: it gathers
  // with gather_unlogged(), commits, calls mark_logged() on success, and end_log() in any
  // case. Deletes of any blob ride along with the next sync, so begin_log() returns true
  // while one is pending.
  bool begin_log(Object& o);
  void end_log(Object& o);
  Result<LogBatch> gather_unlogged(Object& o, uint64_t max_bytes);
  void mark_logged(Object& o, const LogBatch& b);
  // Deletes not yet in the log nor in a durable txg: the next sync() of any blob logs them,
  // so a delete followed by any sync survives a crash (as an unlink followed by an fsync of
  // another file does in a journaling file system).
  std::vector<ChangeRecord> take_pending_deletes();
  bool has_pending_deletes() const;
  void restore_pending_deletes(std::vector<ChangeRecord> recs);
  // Replay: applies one record (records of blobs that no longer exist are skipped).
  Status apply(const ChangeRecord& r);

  // --- txgs (objset_sync.cc) ---
  uint64_t open_txg() const;
  uint64_t dirty_bytes() const { return dirty_bytes_.load(std::memory_order_relaxed); }
  // Of the open txg: bytes of the blocks it dirtied, and bytes of block changes that landed in
  // blocks it had already dirtied (overwrites absorbed in memory). Zero when a txg opens.
  uint64_t open_new_bytes() const { return open_new_bytes_.load(std::memory_order_relaxed); }
  uint64_t open_absorbed_bytes() const {
    return open_absorbed_bytes_.load(std::memory_order_relaxed);
  }
  bool has_changes() const;
  uint64_t close_txg();  // returns the closed txg; the next one opens
  // Writes txg's changes; returns the new root (not yet installed).
  Result<ObjsetRoot> sync_txg(uint64_t txg, SyncCtx& ctx);
  // The uberblock of txg is durable: install the synced state, drop its deltas, evict.
  // The synced deltas are moved to *retired rather than freed here: freeing 100 MiB of
  // 16 KiB blocks' maps and buffer references takes about a millisecond, which the caller
  // spends beside the next commit instead of before it (and never under an object's mutex).
  void txg_done(uint64_t txg, std::vector<std::shared_ptr<TxgDelta>>* retired);
  std::shared_mutex& reuse_mutex() { return reuse_mu_; }
  ObjsetRoot root() const;  // the installed root

 private:
  // Data blocks are written in batches of this many bytes, several at once: large enough that
  // the pipeline coalesces them into a few large device writes, small enough that an intent-log
  // write queued behind them waits milliseconds, not tens of them (with 32 MiB queued the p99 of
  // write + sync during bulk commits was 12-22 ms, with 8 MiB ~10 ms, at equal bulk MB/s). So
  // while syncs happen, two batches of 4 MiB (8 MiB queued); without them, four keep the device
  // busier (1 MiB O_DIRECT writes through the daemon, alternating, 3 rounds: 974-1185 MB/s with
  // two, 1139-1245 MB/s with four; the commit alone in zvfs_bulk_bench 1.1-1.2 -> 1.4-1.5 GB/s).
  static constexpr uint64_t kWriteBatchBytes = 4ull << 20;
  static constexpr size_t kBatchesInFlight = 4;
  static constexpr size_t kBatchesInFlightWithSyncs = 2;

  // All with o.mu held.
  TxgDelta& open_delta(Object& o, uint64_t txg);
  // What a block new to the delta starts with: its old contents, zeros, or nothing (only for a
  // caller that overwrites all of it at once, under o.mu).
  enum class Fill { kOld, kZero, kOverwritten };
  Result<std::shared_ptr<AlignedBuf>> writable_block(Object& o, TxgDelta& d, uint64_t blk,
                                                     Fill fill);
  Status fill_old(Object& o, uint64_t blk, AlignedBuf& out);
  Result<bool> block_is_hole(Object& o, uint64_t blk);
  Status zero_within(Object& o, TxgDelta& d, uint64_t blk, uint32_t from, uint32_t to);
  Status read_locked(Object& o, uint64_t off, void* buf, size_t len);
  // References to the current contents of [off, off+len) if all of it is in memory (delta
  // buffers or freed ranges); false, with `out` empty, if some of it is only in the tree.
  bool ref_from_memory(const Object& o, uint64_t off, uint64_t len, std::vector<DataRef>* out);
  Status write_locked(Object& o, uint64_t off, const void* buf, size_t len);  // + txg hold
  Result<uint64_t> next_data_block(Object& o, uint64_t blk);
  Result<uint64_t> next_hole_block(Object& o, uint64_t blk, uint64_t nblocks);
  Status load_xattrs(Object& o);
  void add_op(Object& o, TxgDelta& d, LogOp op);                           // o.mu held
  void drop_blocks(Object& o, TxgDelta& d, uint64_t first, uint64_t end);  // d: o's open delta
  Result<std::shared_ptr<Object>> load_object(uint64_t id);                // table_mu_ held
  std::shared_ptr<Object> new_object(uint64_t id);                         // table_mu_ held
  void record_create(Object& o);                                           // txg hold
  Result<DnodePhys> sync_object(Object& o, TxgDelta& d,
                                const std::vector<std::pair<uint64_t, zio::BlockPtr>>& leaves,
                                SyncCtx& ctx, uint64_t txg);
  Status write_xattrs(const XattrMap* m, SyncCtx& ctx, DnodePhys* dn);
  Result<zio::BlockPtr> sync_meta(const std::map<uint64_t, DnodePhys>& dnodes, SyncCtx& ctx);

  zio::Pipeline& zio_;
  arc::Arc& arc_;
  alloc::Allocator& alloc_;
  const uint32_t block_size_;
  const uint32_t meta_bytes_;  // metadata block size (indirect, dnode, xattr blocks)
  const bool short_tails_;     // see the constructor
  const uint32_t ind_shift_;   // pointers per indirect block = 1 << ind_shift_
  const uint32_t dnodes_per_block_;

  mutable std::shared_mutex txg_mu_;
  uint64_t open_txg_;

  mutable std::mutex table_mu_;
  std::map<uint64_t, std::shared_ptr<Object>> objects_;     // held or dirty objects
  std::map<uint64_t, std::shared_ptr<Object>> open_dirty_;  // objects changed in the open txg
  zio::BlockPtr meta_root_{};
  uint64_t root_gen_ = 0;  // bumped whenever meta_root_ changes (and objects get evicted)
  uint64_t next_id_ = 1;
  uint64_t live_count_ = 0;
  std::vector<ChangeRecord> pending_deletes_;

  // The txg being synced (sync thread only).
  std::vector<std::shared_ptr<Object>> syncing_objs_;
  ObjsetRoot syncing_root_{};
  std::map<uint64_t, DnodePhys> synced_dnodes_;
  bool sync_ready_ = false;

  std::shared_mutex reuse_mu_;
  std::atomic<uint64_t> dirty_bytes_{0};
  std::atomic<uint64_t> open_new_bytes_{0};
  std::atomic<uint64_t> open_absorbed_bytes_{0};

  // Writes the data batches of a commit (sync_txg). Last, so that its threads stop first.
  TaskPool commit_io_{"zvfs-txg-io", kBatchesInFlight};
};

}  // namespace zvfs::dmu
