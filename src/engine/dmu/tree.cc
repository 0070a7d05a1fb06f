// tree.cc — lookups, walks and copy-on-write rewrites of block-pointer trees (see tree.h).
#include "engine/dmu/tree.h"

#include <cstring>

#include "common/log.h"

namespace zvfs::dmu {
namespace {

using zio::BlockPtr;
using zio::BlockType;

uint64_t round_up_4k(uint64_t v) {
  return (v + 4095) / 4096 * 4096;
}

// The shift of a tree, from its root (only meaningful when the root is indirect).
uint32_t shift_of(const BlockPtr& root) {
  for (uint32_t s = kMinPtrShift; s <= kMaxPtrShift; s++) {
    if (root.lsize == indirect_bytes(s)) return s;
  }
  return kMaxPtrShift;  // a malformed root: read_indirect refuses it
}

// Checks that a pointer is what the tree says it must be: an indirect block of this level.
Status check_indirect(const BlockPtr& bp, int level, uint32_t shift) {
  if (bp.type != BlockType::kIndirect || bp.level != level || bp.lsize != indirect_bytes(shift)) {
    LOG_ERROR("dmu", "block pointer at 0x%llx: expected an indirect block of level %d",
              static_cast<unsigned long long>(bp.offset), level);
    return make_error(EIO, "malformed block pointer tree");
  }
  return ok_status();
}

// Reads an indirect block and checks that it is what its pointer says (always on).
Result<arc::BufRef> read_indirect(arc::Arc& arc, const BlockPtr& bp, int level, uint32_t shift) {
  ZVFS_TRY(check_indirect(bp, level, shift));
  ZVFS_ASSIGN_OR_RETURN(buf, arc.read(bp));
  if (!buf || buf->size() < indirect_bytes(shift)) return make_error(EIO, "short indirect block");
  return buf;
}

const BlockPtr* slots_of(const arc::BufRef& b) {
  return reinterpret_cast<const BlockPtr*>(b->data());
}

Result<uint64_t> next_data_in(arc::Arc& arc, const BlockPtr& bp, int level, uint64_t base,
                              uint64_t from, uint32_t shift) {
  if (bp.is_hole()) return kNoBlock;
  if (level == 0) return base >= from ? base : kNoBlock;
  ZVFS_ASSIGN_OR_RETURN(buf, read_indirect(arc, bp, level, shift));
  const BlockPtr* s = slots_of(buf);
  const uint64_t span = level_span(level - 1, shift);
  uint32_t i = from > base ? static_cast<uint32_t>((from - base) / span) : 0;
  for (; i < (1u << shift); i++) {
    if (s[i].is_hole()) continue;
    ZVFS_ASSIGN_OR_RETURN(r, next_data_in(arc, s[i], level - 1, base + i * span, from, shift));
    if (r != kNoBlock) return r;
  }
  return kNoBlock;
}

Result<uint64_t> next_hole_in(arc::Arc& arc, const BlockPtr& bp, int level, uint64_t base,
                              uint64_t from, uint32_t shift) {
  if (bp.is_hole()) return base > from ? base : from;
  if (level == 0) return kNoBlock;
  if (bp.fill == level_span(level, shift)) return kNoBlock;  // full subtree
  ZVFS_ASSIGN_OR_RETURN(buf, read_indirect(arc, bp, level, shift));
  const BlockPtr* s = slots_of(buf);
  const uint64_t span = level_span(level - 1, shift);
  uint32_t i = from > base ? static_cast<uint32_t>((from - base) / span) : 0;
  for (; i < (1u << shift); i++) {
    ZVFS_ASSIGN_OR_RETURN(r, next_hole_in(arc, s[i], level - 1, base + i * span, from, shift));
    if (r != kNoBlock) return r;
  }
  return kNoBlock;
}

void walk_in(arc::Arc& arc, const BlockPtr& bp, int level, uint64_t base, uint32_t shift,
             const TreeReader::Visit& fn, const TreeReader::OnError& on_error) {
  if (bp.is_hole()) return;
  fn(bp, base);
  if (level == 0) return;
  auto buf = read_indirect(arc, bp, level, shift);
  if (!buf.ok()) {
    if (on_error) on_error(bp, base, buf.code());
    return;
  }
  const BlockPtr* s = slots_of(*buf);
  const uint64_t span = level_span(level - 1, shift);
  for (uint32_t i = 0; i < (1u << shift); i++) {
    walk_in(arc, s[i], level - 1, base + i * span, shift, fn, on_error);
  }
}

}  // namespace

uint32_t ptr_shift_for(uint32_t block_size) {
  return block_size >= indirect_bytes(kMaxPtrShift) ? kMaxPtrShift : kMinPtrShift;
}

uint64_t level_span(int level, uint32_t shift) {
  if (level <= 0) return 1;
  if (uint64_t(level) * shift >= 64) return ~uint64_t{0};
  return uint64_t{1} << (level * shift);
}

uint64_t tree_capacity(int height, uint32_t shift) {
  return height <= 0 ? 0 : level_span(height - 1, shift);
}

uint64_t tree_capacity(const BlockPtr& root) {
  return tree_capacity(tree_height(root), shift_of(root));
}

void SyncCtx::free(const BlockPtr& bp) {
  if (bp.is_hole()) return;
  const bool now = bp.birth_txg == txg;
  if (run.len == 0 || now != run.now || bp.offset != run.off + run.len) {
    release_frees();
    run = FreeRun{bp.offset, 0, now};
  }
  run.len += bp.asize;
  freed.push_back(bp);
}

void SyncCtx::release_frees() {
  if (run.len == 0) return;
  if (run.now) {
    alloc.free_now(run.off, run.len);
  } else {
    alloc.free_deferred(run.off, run.len, txg);
  }
  run = FreeRun{};
}

namespace {
// Tries after a write that failed because the host file system is full (each with a lower
// space ceiling: see Allocator::lower_space_ceiling).
constexpr int kHostFullRetries = 4;
}  // namespace

Status SyncCtx::write(std::span<zio::WriteOp> ops) {
  for (int attempt = 0;; attempt++) {
    const uint64_t ceiling = alloc.space_ceiling();
    bool device_failed = false;
    Status st = write_once(ops, &device_failed);
    if (st.ok() || !device_failed || attempt == kHostFullRetries) return st;
    // A sparse pool file whose file system is full fails writes to space it never had (ENOSPC,
    // or a short write reported as EIO), however free the pool is: write again, into space the
    // file has (the allocator then refuses new data beyond it, so writers get ENOSPC).
    uint64_t bytes = 0;
    for (const zio::WriteOp& op : ops) bytes += round_up_4k(op.lsize);
    const int64_t host_free = zio.vdev().host_free_bytes();
    if (host_free < 0 || static_cast<uint64_t>(host_free) >= bytes) return st;
    alloc.lower_space_ceiling(ceiling);
    LOG_WARN("dmu",
             "txg %llu: the file system holding the pool is full (%lld bytes left): writing into "
             "space the pool file already has; new data beyond it gets ENOSPC",
             static_cast<unsigned long long>(txg), static_cast<long long>(host_free));
  }
}

Status SyncCtx::write_once(std::span<zio::WriteOp> ops, bool* device_failed) {
  if (ops.empty()) return ok_status();
  release_frees();  // space freed at once is allocatable again, as without the run
  size_t done = 0;
  Status st;
  for (; done < ops.size(); done++) {
    uint64_t asize = round_up_4k(ops[done].lsize);
    auto off = alloc.alloc(asize, /*use_reserve=*/true);
    if (!off.ok()) {
      st = off.error();
      LOG_ERROR("dmu", "txg %llu: cannot allocate %llu bytes: %s",
                static_cast<unsigned long long>(txg), static_cast<unsigned long long>(asize),
                off.error().msg);
      break;
    }
    ops[done].offset = *off;
    ops[done].asize = static_cast<uint32_t>(asize);
  }
  if (st.ok()) {
    st = zio.write(ops, txg);
    *device_failed = !st.ok();
  }
  if (!st.ok()) {
    for (size_t i = 0; i < done; i++) alloc.free_now(ops[i].offset, ops[i].asize);
  }
  return st;
}

Result<BlockPtr> TreeReader::lookup(arc::Arc& arc, const BlockPtr& root, uint64_t blkid) {
  const int h = tree_height(root);
  const uint32_t shift = shift_of(root);
  if (blkid >= tree_capacity(h, shift)) return BlockPtr{};
  BlockPtr bp = root;
  for (int level = h - 1; level >= 1; level--) {
    // One pointer of the indirect block, copied out of the cache (no buffer reference taken).
    ZVFS_TRY(check_indirect(bp, level, shift));
    const uint64_t slot = (blkid >> ((level - 1) * shift)) & ((1u << shift) - 1);
    BlockPtr child;
    ZVFS_TRY(arc.copy_out(bp, slot * sizeof(BlockPtr), &child, sizeof child));
    bp = child;
    if (bp.is_hole()) return BlockPtr{};
  }
  if (bp.level != 0) return make_error(EIO, "malformed block pointer tree");
  return bp;
}

Result<uint64_t> TreeReader::next_data(arc::Arc& arc, const BlockPtr& root, uint64_t from) {
  const int h = tree_height(root);
  const uint32_t shift = shift_of(root);
  if (from >= tree_capacity(h, shift)) return kNoBlock;
  return next_data_in(arc, root, h - 1, 0, from, shift);
}

Result<uint64_t> TreeReader::next_hole(arc::Arc& arc, const BlockPtr& root, uint64_t from) {
  const int h = tree_height(root);
  const uint32_t shift = shift_of(root);
  const uint64_t cap = tree_capacity(h, shift);
  if (from >= cap) return from;
  ZVFS_ASSIGN_OR_RETURN(r, next_hole_in(arc, root, h - 1, 0, from, shift));
  return r == kNoBlock ? cap : r;
}

void TreeReader::walk(arc::Arc& arc, const BlockPtr& root, const Visit& fn,
                      const OnError& on_error) {
  walk_in(arc, root, tree_height(root) - 1, 0, shift_of(root), fn, on_error);
}

TreeWriter::TreeWriter(SyncCtx& ctx, const BlockPtr& root, uint32_t shift)
    : ctx_(ctx),
      root_(root),
      height_(tree_height(root)),
      shift_(root.level > 0 && !root.is_hole() ? shift_of(root) : shift) {}

Result<TreeWriter::Node*> TreeWriter::node(int level, uint64_t index) {
  auto it = nodes_.find({level, index});
  if (it != nodes_.end()) return &it->second;
  BlockPtr bp;
  if (level == height_ - 1) {
    if (index != 0) return make_error(EIO, "tree node index out of range");
    bp = root_;
  } else {
    ZVFS_ASSIGN_OR_RETURN(parent, node(level + 1, index >> shift_));
    bp = parent->slots()[index & ((1u << shift_) - 1)];
  }
  Node n;
  if (!n.buf.reset(indirect_bytes(shift_))) return make_error(ENOMEM, "indirect block buffer");
  if (!bp.is_hole()) {
    ZVFS_ASSIGN_OR_RETURN(buf, read_indirect(ctx_.arc, bp, level, shift_));
    std::memcpy(n.buf.data(), buf->data(), indirect_bytes(shift_));
    n.old = bp;
  }
  return &nodes_.emplace(Key{level, index}, std::move(n)).first->second;
}

Status TreeWriter::grow(uint64_t blkid) {
  while (blkid >= tree_capacity(height_, shift_)) {
    if (height_ >= kMaxHeight) return make_error(EFBIG, "object too large");
    if (height_ == 0) {
      height_ = 1;
      continue;
    }
    Node n;
    if (!n.buf.reset(indirect_bytes(shift_))) return make_error(ENOMEM, "indirect block buffer");
    n.slots()[0] = root_;  // the old root becomes child 0 (rewritten if loaded below)
    nodes_.emplace(Key{height_, 0}, std::move(n));
    height_++;
  }
  return ok_status();
}

Status TreeWriter::set_leaf(uint64_t blkid, const BlockPtr& bp) {
  ZVFS_TRY(grow(blkid));
  if (height_ == 1) {
    ctx_.free(root_);
    root_ = bp;
    return ok_status();
  }
  ZVFS_ASSIGN_OR_RETURN(n, node(1, blkid >> shift_));
  BlockPtr& slot = n->slots()[blkid & ((1u << shift_) - 1)];
  ctx_.free(slot);
  slot = bp;
  return ok_status();
}

Status TreeWriter::free_subtree(const BlockPtr& bp) {
  if (bp.is_hole()) return ok_status();
  if (bp.level > 0) {
    ZVFS_ASSIGN_OR_RETURN(buf, read_indirect(ctx_.arc, bp, bp.level, shift_));
    const BlockPtr* s = slots_of(buf);
    for (uint32_t i = 0; i < (1u << shift_); i++) ZVFS_TRY(free_subtree(s[i]));
  }
  ctx_.free(bp);
  return ok_status();
}

Status TreeWriter::free_in(int level, uint64_t index, uint64_t first, uint64_t end) {
  ZVFS_ASSIGN_OR_RETURN(n, node(level, index));
  const uint64_t span = level_span(level - 1, shift_);
  const uint64_t base = index * level_span(level, shift_);
  uint64_t s0 = first > base ? (first - base) / span : 0;
  uint64_t s1 = (end - 1 - base) / span;
  if (s1 >= (1u << shift_)) s1 = (1u << shift_) - 1;
  for (uint64_t s = s0; s <= s1; s++) {
    const uint64_t lo = base + s * span, hi = lo + span;
    const uint64_t child = (index << shift_) + s;
    if (level - 1 >= 1 && nodes_.count(Key{level - 1, child})) {
      ZVFS_TRY(free_in(level - 1, child, first, end));
      continue;
    }
    BlockPtr& slot = n->slots()[s];
    if (slot.is_hole()) continue;
    if (first <= lo && hi <= end) {
      ZVFS_TRY(free_subtree(slot));
      slot = BlockPtr{};
    } else {
      ZVFS_TRY(free_in(level - 1, child, first, end));
    }
  }
  return ok_status();
}

Status TreeWriter::free_range(uint64_t first, uint64_t end) {
  const uint64_t cap = tree_capacity(height_, shift_);
  if (end > cap) end = cap;
  if (first >= end) return ok_status();
  if (height_ == 1) {
    ctx_.free(root_);
    root_ = BlockPtr{};
    return ok_status();
  }
  return free_in(height_ - 1, 0, first, end);
}

Result<BlockPtr> TreeWriter::finish() {
  for (int level = 1; level < height_; level++) {
    auto lo = nodes_.lower_bound(Key{level, 0});
    auto hi = nodes_.lower_bound(Key{level + 1, 0});
    std::vector<zio::WriteOp> ops;
    std::vector<std::pair<uint64_t, BlockPtr>> results;  // (index, new bp)
    for (auto it = lo; it != hi; ++it) results.emplace_back(it->first.second, BlockPtr{});
    size_t i = 0;
    for (auto it = lo; it != hi; ++it, ++i) {
      Node& n = it->second;
      uint64_t fill = 0;
      const BlockPtr* s = n.slots();
      for (uint32_t k = 0; k < (1u << shift_); k++) fill += s[k].is_hole() ? 0 : s[k].fill;
      ctx_.free(n.old);
      n.old = BlockPtr{};
      if (fill == 0) continue;  // all holes: the node becomes a hole
      zio::WriteOp op;
      op.data = n.buf.data();
      op.lsize = indirect_bytes(shift_);
      op.type = BlockType::kIndirect;
      op.level = static_cast<uint8_t>(level);
      op.fill = fill > 0xffffffffu ? 0xffffffffu : static_cast<uint32_t>(fill);
      op.out = &results[i].second;
      ops.push_back(op);
    }
    ZVFS_TRY(ctx_.write(ops));
    for (auto& [index, bp] : results) {
      if (level == height_ - 1) {
        root_ = bp;
      } else {
        auto p = nodes_.find(Key{level + 1, index >> shift_});
        if (p == nodes_.end()) return make_error(EIO, "tree writer lost a parent node");
        p->second.slots()[index & ((1u << shift_) - 1)] = bp;
      }
    }
  }
  nodes_.clear();
  height_ = tree_height(root_);
  return root_;
}

}  // namespace zvfs::dmu
