// objset_sync.cc — closing a txg and writing it: data blocks, trees, dnodes, meta-object.
//
// sync_txg(T) runs on the pool's sync thread only, while txg T+1 is open and takes new
// changes. Order, bottom-up, so a parent is written after its children and carries their
// checksums:
//   1. every dirty data block of T to a newly allocated place (all-zero blocks become holes,
//      unless a write put zeros in them: those are stored whole, so space claimed by writing
//      zeros stays claimed; on format-2 pools any other block is stored only up to the 4 KiB
//      sector holding its last non-zero byte, so a 100-byte file takes 4 KiB, not a whole
//      block);
//   2. per object: frees (truncate/punch/delete), new leaves, changed indirect blocks
//      (TreeWriter), the xattr block -> a new dnode;
//   3. the meta-object blocks holding changed dnodes, and its indirect blocks -> new root.
// Nothing reachable from the last durable uberblock is overwritten; replaced blocks are freed
// deferred in T. If any step fails the pool stops (the caller refuses further changes); the
// deltas stay in memory so reads remain correct and the on-disk state is the previous txg's.
// txg_done(T), after the uberblock is durable, installs the new roots and hands T's deltas to
// the caller, which frees them beside the next commit.
#include <algorithm>
#include <cstring>
#include <deque>
#include <future>

#include "common/copy.h"
#include "common/log.h"
#include "engine/dmu/objset.h"
#include "engine/dmu/zeros.h"

namespace zvfs::dmu {
namespace {

// Bytes of the n-byte block at p to store: up to the end of the 4 KiB sector that holds its
// last non-zero byte (0: all zero). n is a multiple of 4096. Sectors are tested from the last
// one back, so a full block usually costs one byte compare.
uint32_t stored_bytes(const std::byte* p, uint32_t n) {
  for (uint32_t end = n; end > 0; end -= 4096) {
    if (!all_zero(p + end - 4096, 4096)) return end;
  }
  return 0;
}

}  // namespace

uint64_t ObjectSet::close_txg() {
  std::unique_lock txg(txg_mu_);
  const uint64_t t = open_txg_;
  std::map<uint64_t, std::shared_ptr<Object>> dirty;
  {
    std::lock_guard lk(table_mu_);
    dirty.swap(open_dirty_);
    syncing_root_.next_id = next_id_ + kIdReserve;
    syncing_root_.blob_count = live_count_;
  }
  syncing_objs_.clear();
  for (auto& [id, o] : dirty) {
    std::lock_guard ol(o->mu);
    o->syncing = std::move(o->open);
    o->open.reset();
    o->open_dirty_bytes.store(0, std::memory_order_relaxed);
    o->syncing_dirty_bytes.store(o->syncing ? o->syncing->dirty_bytes : 0,
                                 std::memory_order_relaxed);
    if (o->syncing) {
      o->syncing->size = o->size;
      if (o->syncing->xattrs_dirty) o->syncing->xattrs = o->xattrs;
    }
    syncing_objs_.push_back(o);
  }
  open_txg_ = t + 1;
  open_new_bytes_.store(0, std::memory_order_relaxed);
  open_absorbed_bytes_.store(0, std::memory_order_relaxed);
  sync_ready_ = false;
  return t;
}

// Replaces the dnode's xattrs by the encoding of `m` (none if m is null or empty): in the
// dnode itself if it fits there (format 2), else in metadata-size leaves of a tree.
Status ObjectSet::write_xattrs(const XattrMap* m, SyncCtx& ctx, DnodePhys* dn) {
  TreeWriter xw(ctx, xattr_tree(*dn), ind_shift_);
  ZVFS_TRY(xw.free_range(0, kNoBlock));
  std::vector<uint8_t> enc;
  if (m && !m->empty()) enc = encode_xattrs(*m);
  const size_t stream_bytes = enc.size();  // before the tree's leaves pad it
  const bool in_dnode = short_tails_ && !enc.empty() && enc.size() <= kInlineXattrMax;
  if (!in_dnode && !enc.empty()) {
    const size_t n = (enc.size() + meta_bytes_ - 1) / meta_bytes_;
    // The last leaf holds only the stream's end (rounded to 4 KiB) on format-2 pools.
    const size_t tail = enc.size() - (n - 1) * meta_bytes_;
    const uint32_t last =
        short_tails_ ? static_cast<uint32_t>((tail + 4095) / 4096 * 4096) : meta_bytes_;
    enc.resize(n * meta_bytes_, 0);
    std::vector<zio::BlockPtr> leaves(n);
    std::vector<zio::WriteOp> ops(n);
    for (size_t i = 0; i < n; i++) {
      ops[i].data = enc.data() + i * meta_bytes_;
      ops[i].lsize = i + 1 == n ? last : meta_bytes_;
      ops[i].type = zio::BlockType::kXattr;
      ops[i].out = &leaves[i];
    }
    ZVFS_TRY(ctx.write(ops));
    for (size_t i = 0; i < n; i++) ZVFS_TRY(xw.set_leaf(i, leaves[i]));
  }
  ZVFS_ASSIGN_OR_RETURN(root, xw.finish());  // a hole unless leaves were set
  dn->flags &= static_cast<uint8_t>(~kDnodeXattrInline);
  std::memset(inline_xattr(*dn), 0, kInlineXattrMax);
  dn->xattr = root;
  dn->xattr_bytes = stream_bytes;
  if (in_dnode) {
    std::memcpy(inline_xattr(*dn), enc.data(), stream_bytes);
    dn->flags |= kDnodeXattrInline;
  }
  return ok_status();
}

Result<DnodePhys> ObjectSet::sync_object(
    Object& o, TxgDelta& d, const std::vector<std::pair<uint64_t, zio::BlockPtr>>& leaves,
    SyncCtx& ctx, uint64_t txg) {
  DnodePhys dn = o.committed;
  TreeWriter tw(ctx, dn.root, ind_shift_);
  if (d.deleted) {
    ZVFS_TRY(tw.free_range(0, kNoBlock));
    ZVFS_TRY(tw.finish());
    ZVFS_TRY(write_xattrs(nullptr, ctx, &dn));
    return DnodePhys{};
  }
  for (const auto& [a, b] : d.freed.ranges()) ZVFS_TRY(tw.free_range(a, b));
  for (const auto& [b, bp] : leaves) ZVFS_TRY(tw.set_leaf(b, bp));
  ZVFS_ASSIGN_OR_RETURN(root, tw.finish());
  if (d.xattrs_dirty) ZVFS_TRY(write_xattrs(d.xattrs.get(), ctx, &dn));
  dn.type = ObjType::kBlob;
  dn.version = kDnodeVersion;
  dn.block_size = block_size_;
  dn.id = o.id;
  dn.size = d.size;
  dn.create_txg = o.create_txg;
  dn.modify_txg = txg;
  dn.root = root;
  return dn;
}

Result<zio::BlockPtr> ObjectSet::sync_meta(const std::map<uint64_t, DnodePhys>& dnodes,
                                           SyncCtx& ctx) {
  std::map<uint64_t, std::vector<const std::pair<const uint64_t, DnodePhys>*>> by_block;
  for (const auto& kv : dnodes) by_block[kv.first / dnodes_per_block_].push_back(&kv);
  std::vector<std::shared_ptr<AlignedBuf>> bufs;
  std::vector<std::pair<uint64_t, zio::BlockPtr>> leaves;
  std::vector<zio::WriteOp> ops;
  bufs.reserve(by_block.size());
  leaves.reserve(by_block.size());
  for (const auto& [k, entries] : by_block) {
    auto buf = std::make_shared<AlignedBuf>();
    if (!buf->reset(meta_bytes_)) return make_error(ENOMEM, "meta block buffer");
    ZVFS_ASSIGN_OR_RETURN(old, TreeReader::lookup(arc_, meta_root_, k));
    if (!old.is_hole()) {
      ZVFS_ASSIGN_OR_RETURN(cur, arc_.read(old));
      copy_bytes(buf->data(), cur->data(), meta_bytes_);
    }
    for (const auto* e : entries) {
      std::memcpy(buf->data() + (e->first % dnodes_per_block_) * kDnodeSize, &e->second,
                  kDnodeSize);
    }
    leaves.emplace_back(k, zio::BlockPtr{});
    if (all_zero(buf->data(), meta_bytes_)) continue;  // every dnode free: a hole
    zio::WriteOp op;
    op.data = buf->data();
    op.lsize = meta_bytes_;
    op.type = zio::BlockType::kDnode;
    op.out = &leaves.back().second;
    ops.push_back(op);
    bufs.push_back(std::move(buf));
  }
  ZVFS_TRY(ctx.write(ops));
  for (size_t i = 0; i < ops.size(); i++) arc_.insert(*ops[i].out, bufs[i]);
  TreeWriter mw(ctx, meta_root_, ind_shift_);
  for (const auto& [k, bp] : leaves) ZVFS_TRY(mw.set_leaf(k, bp));
  return mw.finish();
}

Result<ObjsetRoot> ObjectSet::sync_txg(uint64_t txg, SyncCtx& ctx) {
  synced_dnodes_.clear();
  // 1. Data blocks, batched across objects.
  std::vector<std::vector<std::pair<uint64_t, zio::BlockPtr>>> leaves(syncing_objs_.size());
  std::vector<zio::WriteOp> ops;
  std::vector<std::shared_ptr<AlignedBuf>> bufs;
  const size_t batch_blocks = std::max<uint64_t>(kWriteBatchBytes / block_size_, 1);
  // Each batch is written (allocated, checksummed, sent, cached) by a task of its own, and up
  // to kBatchesInFlight (kBatchesInFlightWithSyncs while syncs happen) run at once: while one batch
  // is on the device the next is checksummed, so the device does not idle between batches. A
  // batch's BlockPtrs go to slots of `leaves` reserved in advance (they never move).
  std::deque<std::future<Status>> inflight;
  Status failed = ok_status();
  auto wait_oldest = [&] {
    Status st = inflight.front().get();
    inflight.pop_front();
    if (!st.ok() && failed.ok()) failed = st;
  };
  auto write_batch = [this, &ctx](std::vector<zio::WriteOp> bops,
                                  std::vector<std::shared_ptr<AlignedBuf>> bbufs) -> Status {
    ZVFS_TRY(ctx.write(bops));
    for (size_t i = 0; i < bops.size(); i++) arc_.insert(*bops[i].out, bbufs[i]);
    return ok_status();
  };
  auto flush = [&]() -> Status {
    const size_t limit = ctx.zio.syncs_active() ? kBatchesInFlightWithSyncs : kBatchesInFlight;
    while (!inflight.empty() && (inflight.size() >= limit || !failed.ok())) wait_oldest();
    ZVFS_TRY(failed);
    if (ops.empty()) return ok_status();
    // On a thread of commit_io_ (or here, if it has none).
    inflight.push_back(
        commit_io_.submit([write_batch, o = std::move(ops), b = std::move(bufs)]() mutable {
          return write_batch(std::move(o), std::move(b));
        }));
    ops.clear();
    bufs.clear();
    return ok_status();
  };
  auto drain = [&]() -> Status {
    while (!inflight.empty()) wait_oldest();
    return failed;
  };
  for (size_t i = 0; i < syncing_objs_.size(); i++) {
    const TxgDelta* d = syncing_objs_[i]->syncing.get();
    if (!d || d->deleted) continue;
    leaves[i].reserve(d->blocks.size());
    for (const auto& [b, buf] : d->blocks) {
      leaves[i].emplace_back(b, zio::BlockPtr{});
      // Zeros a write put in the block stay allocated (a database that extends a file with
      // zeros relies on its later writes there finding space): the whole block is stored.
      const uint32_t stored =
          d->zeros_written.contains(b) ? block_size_ : stored_bytes(buf->data(), block_size_);
      if (stored == 0) continue;
      zio::WriteOp op;
      op.data = buf->data();
      op.lsize = short_tails_ ? stored : block_size_;
      op.type = zio::BlockType::kData;
      op.out = &leaves[i].back().second;
      ops.push_back(op);
      bufs.push_back(buf);
      if (ops.size() >= batch_blocks) {
        Status st = flush();
        if (!st.ok()) {
          (void)drain();
          return st.error();
        }
      }
    }
  }
  Status st = flush();
  Status all = drain();
  ZVFS_TRY(st);
  ZVFS_TRY(all);
  // 2. Trees and dnodes.
  for (size_t i = 0; i < syncing_objs_.size(); i++) {
    Object& o = *syncing_objs_[i];
    if (!o.syncing) continue;
    ZVFS_ASSIGN_OR_RETURN(dn, sync_object(o, *o.syncing, leaves[i], ctx, txg));
    synced_dnodes_[o.id] = dn;
  }
  // 3. The meta-object.
  ZVFS_ASSIGN_OR_RETURN(meta, sync_meta(synced_dnodes_, ctx));
  syncing_root_.meta_root = meta;
  sync_ready_ = true;
  return syncing_root_;
}

void ObjectSet::txg_done(uint64_t txg, std::vector<std::shared_ptr<TxgDelta>>* retired) {
  if (!sync_ready_) return;
  {
    std::lock_guard lk(table_mu_);
    meta_root_ = syncing_root_.meta_root;
    root_gen_++;
  }
  for (auto& o : syncing_objs_) {
    std::lock_guard ol(o->mu);
    auto it = synced_dnodes_.find(o->id);
    if (it != synced_dnodes_.end()) o->committed = it->second;
    if (o->syncing) {
      dirty_bytes_.fetch_sub(o->syncing->dirty_bytes, std::memory_order_relaxed);
      retired->push_back(std::move(o->syncing));
    }
    o->syncing.reset();
    o->syncing_dirty_bytes.store(0, std::memory_order_relaxed);
  }
  syncing_objs_.clear();
  synced_dnodes_.clear();
  sync_ready_ = false;
  std::lock_guard lk(table_mu_);
  std::erase_if(pending_deletes_, [&](const ChangeRecord& r) { return r.txg <= txg; });
  for (auto it = objects_.begin(); it != objects_.end();) {
    if (it->second.use_count() == 1) {
      it = objects_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace zvfs::dmu
