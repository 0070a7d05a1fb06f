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

// Reads an indirect block and checks that it is what its pointer says (always on).
Result<arc::BufRef> read_indirect(arc::Arc& arc, const BlockPtr& bp, int level) {
  if (bp.type != BlockType::kIndirect || bp.level != level || bp.lsize != kIndirectBlockSize) {
    LOG_ERROR("dmu", "block pointer at 0x%llx: expected an indirect block of level %d",
              static_cast<unsigned long long>(bp.offset), level);
    return make_error(EIO, "malformed block pointer tree");
  }
  ZVFS_ASSIGN_OR_RETURN(buf, arc.read(bp));
  if (!buf || buf->size() < kIndirectBlockSize) return make_error(EIO, "short indirect block");
  return buf;
}

const BlockPtr* slots_of(const arc::BufRef& b) {
  return reinterpret_cast<const BlockPtr*>(b->data());
}

Result<uint64_t> next_data_in(arc::Arc& arc, const BlockPtr& bp, int level, uint64_t base,
                              uint64_t from) {
  if (bp.is_hole()) return kNoBlock;
  if (level == 0) return base >= from ? base : kNoBlock;
  ZVFS_ASSIGN_OR_RETURN(buf, read_indirect(arc, bp, level));
  const BlockPtr* s = slots_of(buf);
  const uint64_t span = level_span(level - 1);
  uint32_t i = from > base ? static_cast<uint32_t>((from - base) / span) : 0;
  for (; i < kPtrsPerIndirect; i++) {
    if (s[i].is_hole()) continue;
    ZVFS_ASSIGN_OR_RETURN(r, next_data_in(arc, s[i], level - 1, base + i * span, from));
    if (r != kNoBlock) return r;
  }
  return kNoBlock;
}

Result<uint64_t> next_hole_in(arc::Arc& arc, const BlockPtr& bp, int level, uint64_t base,
                              uint64_t from) {
  if (bp.is_hole()) return base > from ? base : from;
  if (level == 0) return kNoBlock;
  if (bp.fill == level_span(level)) return kNoBlock;  // full subtree
  ZVFS_ASSIGN_OR_RETURN(buf, read_indirect(arc, bp, level));
  const BlockPtr* s = slots_of(buf);
  const uint64_t span = level_span(level - 1);
  uint32_t i = from > base ? static_cast<uint32_t>((from - base) / span) : 0;
  for (; i < kPtrsPerIndirect; i++) {
    ZVFS_ASSIGN_OR_RETURN(r, next_hole_in(arc, s[i], level - 1, base + i * span, from));
    if (r != kNoBlock) return r;
  }
  return kNoBlock;
}

void walk_in(arc::Arc& arc, const BlockPtr& bp, int level, uint64_t base,
             const TreeReader::Visit& fn, const TreeReader::OnError& on_error) {
  if (bp.is_hole()) return;
  fn(bp, base);
  if (level == 0) return;
  auto buf = read_indirect(arc, bp, level);
  if (!buf.ok()) {
    if (on_error) on_error(bp, base, buf.code());
    return;
  }
  const BlockPtr* s = slots_of(*buf);
  const uint64_t span = level_span(level - 1);
  for (uint32_t i = 0; i < kPtrsPerIndirect; i++) {
    walk_in(arc, s[i], level - 1, base + i * span, fn, on_error);
  }
}

}  // namespace

uint64_t level_span(int level) {
  if (level <= 0) return 1;
  if (level * kIndirectShift >= 64) return ~uint64_t{0};
  return uint64_t{1} << (level * kIndirectShift);
}

uint64_t tree_capacity(int height) {
  return height <= 0 ? 0 : level_span(height - 1);
}

void SyncCtx::free(const BlockPtr& bp) {
  if (bp.is_hole()) return;
  if (bp.birth_txg == txg) {
    alloc.free_now(bp.offset, bp.asize);
  } else {
    alloc.free_deferred(bp.offset, bp.asize, txg);
  }
  freed.push_back(bp);
}

Status SyncCtx::write(std::span<zio::WriteOp> ops) {
  if (ops.empty()) return ok_status();
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
  if (st.ok()) st = zio.write(ops, txg);
  if (!st.ok()) {
    for (size_t i = 0; i < done; i++) alloc.free_now(ops[i].offset, ops[i].asize);
  }
  return st;
}

Result<BlockPtr> TreeReader::lookup(arc::Arc& arc, const BlockPtr& root, uint64_t blkid) {
  const int h = tree_height(root);
  if (blkid >= tree_capacity(h)) return BlockPtr{};
  BlockPtr bp = root;
  for (int level = h - 1; level >= 1; level--) {
    ZVFS_ASSIGN_OR_RETURN(buf, read_indirect(arc, bp, level));
    bp = slots_of(buf)[(blkid >> ((level - 1) * kIndirectShift)) & (kPtrsPerIndirect - 1)];
    if (bp.is_hole()) return BlockPtr{};
  }
  if (bp.level != 0) return make_error(EIO, "malformed block pointer tree");
  return bp;
}

Result<uint64_t> TreeReader::next_data(arc::Arc& arc, const BlockPtr& root, uint64_t from) {
  const int h = tree_height(root);
  if (from >= tree_capacity(h)) return kNoBlock;
  return next_data_in(arc, root, h - 1, 0, from);
}

Result<uint64_t> TreeReader::next_hole(arc::Arc& arc, const BlockPtr& root, uint64_t from) {
  const int h = tree_height(root);
  const uint64_t cap = tree_capacity(h);
  if (from >= cap) return from;
  ZVFS_ASSIGN_OR_RETURN(r, next_hole_in(arc, root, h - 1, 0, from));
  return r == kNoBlock ? cap : r;
}

void TreeReader::walk(arc::Arc& arc, const BlockPtr& root, const Visit& fn,
                      const OnError& on_error) {
  walk_in(arc, root, tree_height(root) - 1, 0, fn, on_error);
}

TreeWriter::TreeWriter(SyncCtx& ctx, const BlockPtr& root)
    : ctx_(ctx), root_(root), height_(tree_height(root)) {}

Result<TreeWriter::Node*> TreeWriter::node(int level, uint64_t index) {
  auto it = nodes_.find({level, index});
  if (it != nodes_.end()) return &it->second;
  BlockPtr bp;
  if (level == height_ - 1) {
    if (index != 0) return make_error(EIO, "tree node index out of range");
    bp = root_;
  } else {
    ZVFS_ASSIGN_OR_RETURN(parent, node(level + 1, index >> kIndirectShift));
    bp = parent->slots()[index & (kPtrsPerIndirect - 1)];
  }
  Node n;
  if (!n.buf.reset(kIndirectBlockSize)) return make_error(ENOMEM, "indirect block buffer");
  if (!bp.is_hole()) {
    ZVFS_ASSIGN_OR_RETURN(buf, read_indirect(ctx_.arc, bp, level));
    std::memcpy(n.buf.data(), buf->data(), kIndirectBlockSize);
    n.old = bp;
  }
  return &nodes_.emplace(Key{level, index}, std::move(n)).first->second;
}

Status TreeWriter::grow(uint64_t blkid) {
  while (blkid >= tree_capacity(height_)) {
    if (height_ >= kMaxHeight) return make_error(EFBIG, "object too large");
    if (height_ == 0) {
      height_ = 1;
      continue;
    }
    Node n;
    if (!n.buf.reset(kIndirectBlockSize)) return make_error(ENOMEM, "indirect block buffer");
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
  ZVFS_ASSIGN_OR_RETURN(n, node(1, blkid >> kIndirectShift));
  BlockPtr& slot = n->slots()[blkid & (kPtrsPerIndirect - 1)];
  ctx_.free(slot);
  slot = bp;
  return ok_status();
}

Status TreeWriter::free_subtree(const BlockPtr& bp) {
  if (bp.is_hole()) return ok_status();
  if (bp.level > 0) {
    ZVFS_ASSIGN_OR_RETURN(buf, read_indirect(ctx_.arc, bp, bp.level));
    const BlockPtr* s = slots_of(buf);
    for (uint32_t i = 0; i < kPtrsPerIndirect; i++) ZVFS_TRY(free_subtree(s[i]));
  }
  ctx_.free(bp);
  return ok_status();
}

Status TreeWriter::free_in(int level, uint64_t index, uint64_t first, uint64_t end) {
  ZVFS_ASSIGN_OR_RETURN(n, node(level, index));
  const uint64_t span = level_span(level - 1);
  const uint64_t base = index * level_span(level);
  uint64_t s0 = first > base ? (first - base) / span : 0;
  uint64_t s1 = (end - 1 - base) / span;
  if (s1 >= kPtrsPerIndirect) s1 = kPtrsPerIndirect - 1;
  for (uint64_t s = s0; s <= s1; s++) {
    const uint64_t lo = base + s * span, hi = lo + span;
    const uint64_t child = index * kPtrsPerIndirect + s;
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
  const uint64_t cap = tree_capacity(height_);
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
      for (uint32_t k = 0; k < kPtrsPerIndirect; k++) fill += s[k].is_hole() ? 0 : s[k].fill;
      ctx_.free(n.old);
      n.old = BlockPtr{};
      if (fill == 0) continue;  // all holes: the node becomes a hole
      zio::WriteOp op;
      op.data = n.buf.data();
      op.lsize = kIndirectBlockSize;
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
        auto p = nodes_.find(Key{level + 1, index >> kIndirectShift});
        if (p == nodes_.end()) return make_error(EIO, "tree writer lost a parent node");
        p->second.slots()[index & (kPtrsPerIndirect - 1)] = bp;
      }
    }
  }
  nodes_.clear();
  height_ = tree_height(root_);
  return root_;
}

}  // namespace zvfs::dmu
