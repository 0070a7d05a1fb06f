// objset.cc — the object table: create, look up, delete and iterate objects (see objset.h).
#include "engine/dmu/objset.h"

#include <algorithm>
#include <cstring>

#include "common/log.h"

namespace zvfs::dmu {

ObjectSet::ObjectSet(zio::Pipeline& zio, arc::Arc& arc, alloc::Allocator& alloc,
                     uint32_t block_size, const ObjsetRoot& root, uint64_t open_txg,
                     bool short_tails)
    : zio_(zio),
      arc_(arc),
      alloc_(alloc),
      block_size_(block_size),
      meta_bytes_(meta_block_size(block_size)),
      short_tails_(short_tails),
      ind_shift_(ptr_shift_for(block_size)),
      dnodes_per_block_(meta_block_size(block_size) / kDnodeSize),
      open_txg_(open_txg),
      meta_root_(root.meta_root),
      next_id_(root.next_id == 0 ? 1 : root.next_id),
      live_count_(root.blob_count) {}

uint64_t ObjectSet::allocated_bytes(uint64_t blocks, uint64_t size) const {
  const uint64_t unit = short_tails_ ? 4096 : block_size_;
  const uint64_t cap = (size + unit - 1) / unit * unit;
  return std::min(blocks * block_size_, cap);
}

uint64_t ObjectSet::open_txg() const {
  std::shared_lock lk(txg_mu_);
  return open_txg_;
}

ObjsetRoot ObjectSet::root() const {
  std::lock_guard lk(table_mu_);
  return ObjsetRoot{meta_root_, next_id_, live_count_};
}

bool ObjectSet::has_changes() const {
  std::lock_guard lk(table_mu_);
  return !open_dirty_.empty();
}

TxgDelta& ObjectSet::open_delta(Object& o, uint64_t txg) {
  if (!o.open) {
    o.open = std::make_shared<TxgDelta>();
    o.open->txg = txg;
    std::lock_guard lk(table_mu_);
    open_dirty_[o.id] = o.shared_from_this();
  }
  return *o.open;
}

void ObjectSet::add_op(Object& o, TxgDelta& d, LogOp op) {
  o.change_seq++;
  if (d.ops_overflow) return;
  if (op.kind == OpKind::kWrite && d.ops.size() > d.sealed) {
    LogOp& last = d.ops.back();
    if (last.kind == OpKind::kWrite && op.off <= last.off + last.len &&
        last.off <= op.off + op.len) {
      uint64_t lo = std::min(last.off, op.off);
      uint64_t hi = std::max(last.off + last.len, op.off + op.len);
      last.off = lo;
      last.len = hi - lo;
      return;
    }
  }
  if (d.ops.size() >= kMaxOpsPerDelta) {
    d.ops_overflow = true;
    return;
  }
  d.ops.push_back(std::move(op));
}

void ObjectSet::drop_blocks(Object& o, TxgDelta& d, uint64_t first, uint64_t end) {
  auto it = d.blocks.lower_bound(first);
  while (it != d.blocks.end() && it->first < end) {
    d.dirty_bytes -= block_size_;
    dirty_bytes_.fetch_sub(block_size_, std::memory_order_relaxed);
    it = d.blocks.erase(it);
  }
  o.open_dirty_bytes.store(d.dirty_bytes, std::memory_order_relaxed);  // d is o's open delta
}

std::shared_ptr<Object> ObjectSet::new_object(uint64_t id) {
  auto o = std::make_shared<Object>(id, block_size_);
  o->create_txg = o->modify_txg = open_txg_;
  o->xattrs = std::make_shared<const XattrMap>();
  objects_[id] = o;
  live_count_++;
  if (id >= next_id_) next_id_ = id + 1;
  return o;
}

void ObjectSet::record_create(Object& o) {
  std::lock_guard ol(o.mu);
  TxgDelta& d = open_delta(o, open_txg_);
  d.created = true;
  add_op(o, d, LogOp{OpKind::kCreate});
}

Result<uint64_t> ObjectSet::create() {
  std::shared_lock txg(txg_mu_);
  std::shared_ptr<Object> o;
  {
    std::lock_guard lk(table_mu_);
    o = new_object(next_id_);
  }
  record_create(*o);
  return o->id;
}

Status ObjectSet::create_with_id(uint64_t id) {
  if (id == 0 || id >= kNoBlock / 2) return make_error(EINVAL, "bad blob id");
  std::shared_lock txg(txg_mu_);
  std::shared_ptr<Object> o;
  {
    std::lock_guard lk(table_mu_);
    if (objects_.count(id)) return ok_status();
    if (id < next_id_) {
      auto existing = load_object(id);
      if (existing.ok() || existing.code() != ENOENT) return ok_status();
    }
    o = new_object(id);
  }
  record_create(*o);
  return ok_status();
}

Result<std::shared_ptr<Object>> ObjectSet::load_object(uint64_t id) {
  auto it = objects_.find(id);
  if (it != objects_.end()) return it->second;
  if (id == 0 || id >= next_id_) return make_error(ENOENT, "no such blob");
  DnodePhys dn;
  {
    std::shared_lock reuse(reuse_mu_);
    ZVFS_ASSIGN_OR_RETURN(bp, TreeReader::lookup(arc_, meta_root_, id / dnodes_per_block_));
    if (bp.is_hole()) return make_error(ENOENT, "no such blob");
    if (bp.type != zio::BlockType::kDnode || bp.lsize != meta_bytes_) {
      LOG_ERROR("dmu", "meta-object block %llu has a bad block pointer",
                static_cast<unsigned long long>(id / dnodes_per_block_));
      return make_error(EIO, "bad meta-object block");
    }
    ZVFS_ASSIGN_OR_RETURN(buf, arc_.read(bp));
    std::memcpy(&dn, buf->data() + (id % dnodes_per_block_) * kDnodeSize, sizeof(dn));
  }
  if (dn.type != ObjType::kBlob) return make_error(ENOENT, "no such blob");
  if (!dnode_consistent(dn, id, block_size_)) {
    LOG_ERROR("dmu",
              "dnode of blob %llu is inconsistent (id %llu, version %u, block size %u, flags %u, "
              "xattr bytes %llu)",
              static_cast<unsigned long long>(id), static_cast<unsigned long long>(dn.id),
              dn.version, dn.block_size, dn.flags, static_cast<unsigned long long>(dn.xattr_bytes));
    return make_error(EIO, "bad dnode");
  }
  auto o = std::make_shared<Object>(id, block_size_);
  o->committed = dn;
  o->size = dn.size;
  o->create_txg = dn.create_txg;
  o->modify_txg = dn.modify_txg;
  objects_[id] = o;
  return o;
}

Result<std::shared_ptr<Object>> ObjectSet::hold(uint64_t id) {
  std::shared_ptr<Object> o;
  {
    std::lock_guard lk(table_mu_);
    ZVFS_ASSIGN_OR_RETURN(found, load_object(id));
    o = std::move(found);
  }
  std::lock_guard ol(o->mu);
  if (o->deleted) return make_error(ENOENT, "blob deleted");
  return o;
}

Status ObjectSet::remove(Object& o) {
  std::shared_lock txg(txg_mu_);
  std::lock_guard ol(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  TxgDelta& d = open_delta(o, open_txg_);
  o.deleted = true;
  d.deleted = true;
  drop_blocks(o, d, 0, kNoBlock);
  {
    std::lock_guard lk(table_mu_);
    live_count_--;
    ChangeRecord r;
    r.txg = open_txg_;
    r.blob = o.id;
    r.kind = OpKind::kDelete;
    pending_deletes_.push_back(std::move(r));
  }
  return ok_status();
}

Status ObjectSet::for_each(const std::function<bool(const ObjStat&)>& fn) {
  // A meta-object block read from the on-disk tree describes exactly the objects that are not
  // in objects_ only if no txg completed in between: txg_done installs a new root and then
  // evicts clean objects, so a block of the old root paired with the table after eviction
  // would show deleted blobs and stale sizes. The root generation detects that; retry.
  uint64_t k = 0;  // meta-object block index
  for (;;) {
    zio::BlockPtr root;
    uint64_t gen;
    {
      std::lock_guard lk(table_mu_);
      root = meta_root_;
      gen = root_gen_;
    }
    std::vector<uint8_t> block;
    uint64_t disk_k = kNoBlock;
    {
      std::shared_lock reuse(reuse_mu_);
      ZVFS_ASSIGN_OR_RETURN(nk, TreeReader::next_data(arc_, root, k));
      disk_k = nk;
      if (disk_k != kNoBlock) {
        ZVFS_ASSIGN_OR_RETURN(bp, TreeReader::lookup(arc_, root, disk_k));
        ZVFS_ASSIGN_OR_RETURN(buf, arc_.read(bp));
        block.assign(reinterpret_cast<const uint8_t*>(buf->data()),
                     reinterpret_cast<const uint8_t*>(buf->data()) + meta_bytes_);
      }
    }
    uint64_t cur;
    std::map<uint64_t, std::shared_ptr<Object>> mem;
    {
      std::lock_guard lk(table_mu_);
      if (gen != root_gen_) continue;  // a txg completed meanwhile: read the new root
      auto it = objects_.lower_bound(k * dnodes_per_block_);
      const uint64_t mem_k = it != objects_.end() ? it->first / dnodes_per_block_ : kNoBlock;
      cur = std::min(disk_k, mem_k);
      if (cur == kNoBlock) return ok_status();
      if (disk_k != cur) block.clear();
      it = objects_.lower_bound(cur * dnodes_per_block_);
      for (; it != objects_.end() && it->first < (cur + 1) * dnodes_per_block_; ++it) {
        mem.insert(*it);
      }
    }
    std::vector<ObjStat> out;
    for (uint32_t i = 0; i < dnodes_per_block_; i++) {
      const uint64_t id = cur * dnodes_per_block_ + i;
      auto m = mem.find(id);
      if (m != mem.end()) {
        Object& o = *m->second;
        std::lock_guard ol(o.mu);
        if (o.deleted) continue;
        ObjStat s;
        s.id = id;
        s.size = o.size;
        s.allocated_bytes = allocated_bytes(o.committed.root.fill, o.size);
        s.create_txg = o.create_txg;
        s.modify_txg = o.modify_txg;
        out.push_back(s);
      } else if (!block.empty()) {
        DnodePhys dn;
        std::memcpy(&dn, block.data() + i * kDnodeSize, sizeof(dn));
        if (dn.type != ObjType::kBlob || dn.id != id) continue;
        out.push_back(ObjStat{id, dn.size, allocated_bytes(dn.root.fill, dn.size), dn.create_txg,
                              dn.modify_txg});
      }
    }
    for (const ObjStat& s : out) {
      if (!fn(s)) return ok_status();
    }
    k = cur + 1;
  }
}

}  // namespace zvfs::dmu
