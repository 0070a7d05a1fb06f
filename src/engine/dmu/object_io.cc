// object_io.cc — reading and changing an object's data through its per-txg deltas.
//
// Reads resolve each block through the open delta, the syncing delta and the committed tree
// (object.h). Dirty blocks are copied under the object's mutex; blocks that must come from the
// tree are read after the mutex is released, under the reuse guard, so concurrent readers of
// one object do not wait for each other's disk reads. Changes always go to the open delta; a
// partial-block change first copies the block's current contents (read-your-writes, and a
// buffer of a closed txg is never modified).
#include <algorithm>
#include <cstring>

#include "common/copy.h"
#include "common/log.h"
#include "engine/dmu/objset.h"
#include "engine/dmu/zeros.h"

namespace zvfs::dmu {
namespace {

enum class Src { kBuf, kZero, kTree };

// Where the current contents of block `b` live. skip_open_blocks: ignore the open delta's
// blocks (but not its frees) — used to find what a new open-delta copy must start from.
Src resolve(const Object& o, uint64_t b, std::shared_ptr<AlignedBuf>* buf,
            bool skip_open_blocks = false) {
  if (o.open) {
    if (!skip_open_blocks) {
      auto it = o.open->blocks.find(b);
      if (it != o.open->blocks.end()) {
        *buf = it->second;
        return Src::kBuf;
      }
    }
    if (o.open->freed.contains(b)) return Src::kZero;
  }
  if (o.syncing) {
    auto it = o.syncing->blocks.find(b);
    if (it != o.syncing->blocks.end()) {
      *buf = it->second;
      return Src::kBuf;
    }
    if (o.syncing->freed.contains(b)) return Src::kZero;
  }
  if (b >= tree_capacity(o.committed.root)) return Src::kZero;
  return Src::kTree;
}

// Copies bytes [boff, boff+cnt) of tree block b into dst (zeros for a hole).
Status read_tree(arc::Arc& arc, const zio::BlockPtr& root, uint32_t bs, uint64_t b, uint32_t boff,
                 uint32_t cnt, uint8_t* dst) {
  ZVFS_ASSIGN_OR_RETURN(bp, TreeReader::lookup(arc, root, b));
  if (bp.is_hole()) {
    std::memset(dst, 0, cnt);
    return ok_status();
  }
  // A stored block may end early (format 2): its bytes past lsize are zero. lsize is a
  // multiple of 4096, at most the block size.
  if (bp.type != zio::BlockType::kData || bp.lsize > bs || bp.lsize % 4096 != 0) {
    LOG_ERROR("dmu", "data block pointer at 0x%llx has type %u and size %u (block size %u)",
              static_cast<unsigned long long>(bp.offset), static_cast<unsigned>(bp.type), bp.lsize,
              bs);
    return make_error(EIO, "malformed data block pointer");
  }
  ZVFS_ASSIGN_OR_RETURN(buf, arc.read(bp));
  const uint32_t have = boff < bp.lsize ? std::min(cnt, bp.lsize - boff) : 0;
  copy_bytes(dst, buf->data() + boff, have);
  if (have < cnt) std::memset(dst + have, 0, cnt - have);
  return ok_status();
}

bool checked_end(uint64_t off, uint64_t len, uint64_t* end) {
  if (off > kMaxBlobBytes || len > kMaxBlobBytes - off) return false;
  *end = off + len;
  return true;
}

}  // namespace

Status ObjectSet::fill_old(Object& o, uint64_t blk, AlignedBuf& out) {
  std::shared_ptr<AlignedBuf> src;
  switch (resolve(o, blk, &src, /*skip_open_blocks=*/true)) {
    case Src::kBuf:
      copy_bytes(out.data(), src->data(), block_size_);
      return ok_status();
    case Src::kZero:
      std::memset(out.data(), 0, block_size_);
      return ok_status();
    case Src::kTree: {
      std::shared_lock reuse(reuse_mu_);
      return read_tree(arc_, o.committed.root, block_size_, blk, 0, block_size_,
                       reinterpret_cast<uint8_t*>(out.data()));
    }
  }
  return ok_status();
}

Result<std::shared_ptr<AlignedBuf>> ObjectSet::writable_block(Object& o, TxgDelta& d, uint64_t blk,
                                                              Fill fill) {
  auto it = d.blocks.lower_bound(blk);  // one descent: also the insertion hint below
  if (it != d.blocks.end() && it->first == blk) {
    open_absorbed_bytes_.fetch_add(block_size_, std::memory_order_relaxed);
    if (it->second.use_count() > 1) {
      // A log record being written holds the buffer (DataRef): change a copy, not its bytes.
      // (References are taken only under o.mu, which we hold, so a count of 1 stays 1.)
      auto copy = std::make_shared<AlignedBuf>();
      if (!copy->reset(block_size_, false)) return make_error(ENOMEM, "dirty block buffer");
      if (fill != Fill::kOverwritten) copy_bytes(copy->data(), it->second->data(), block_size_);
      it->second = std::move(copy);
    } else {
      // If a record held the buffer until a moment ago, its reads of the bytes happen before
      // our writes (pairs with the release in the reference count's decrement).
      std::atomic_thread_fence(std::memory_order_acquire);
    }
    return it->second;
  }
  auto buf = std::make_shared<AlignedBuf>();
  // Zeroing a 16 KiB buffer that is about to be overwritten in full cost a tenth of a bulk
  // write's CPU; fill_old() writes every byte itself (zeros for a hole).
  if (!buf->reset(block_size_, fill == Fill::kZero))
    return make_error(ENOMEM, "dirty block buffer");
  if (fill == Fill::kOld) ZVFS_TRY(fill_old(o, blk, *buf));
  d.blocks.emplace_hint(it, blk, buf);
  d.dirty_bytes += block_size_;
  o.open_dirty_bytes.store(d.dirty_bytes, std::memory_order_relaxed);  // d is o's open delta
  dirty_bytes_.fetch_add(block_size_, std::memory_order_relaxed);
  open_new_bytes_.fetch_add(block_size_, std::memory_order_relaxed);
  return buf;
}

Result<bool> ObjectSet::block_is_hole(Object& o, uint64_t blk) {
  std::shared_ptr<AlignedBuf> buf;
  switch (resolve(o, blk, &buf)) {
    case Src::kBuf:
      return false;
    case Src::kZero:
      return true;
    case Src::kTree:
      break;
  }
  std::shared_lock reuse(reuse_mu_);
  ZVFS_ASSIGN_OR_RETURN(bp, TreeReader::lookup(arc_, o.committed.root, blk));
  return bp.is_hole();
}

Status ObjectSet::zero_within(Object& o, TxgDelta& d, uint64_t blk, uint32_t from, uint32_t to) {
  if (from >= to) return ok_status();
  if (!d.blocks.count(blk)) {
    ZVFS_ASSIGN_OR_RETURN(hole, block_is_hole(o, blk));
    if (hole) return ok_status();
  }
  ZVFS_ASSIGN_OR_RETURN(buf, writable_block(o, d, blk, Fill::kOld));
  std::memset(buf->data() + from, 0, to - from);
  return ok_status();
}

namespace {

// Calls fn(block, offset in block, count, offset in the caller's buffer) for each block piece
// of [off, off+len), in order, until fn returns false.
template <class F>
void for_each_piece(uint64_t off, size_t len, uint32_t bs, F&& fn) {
  size_t done = 0;
  while (done < len) {
    const uint64_t pos = off + done;
    const uint32_t boff = static_cast<uint32_t>(pos % bs);
    const uint32_t cnt = static_cast<uint32_t>(std::min<uint64_t>(bs - boff, len - done));
    if (!fn(pos / bs, boff, cnt, done)) return;
    done += cnt;
  }
}

// Copies a piece that lives in memory (a delta's block or zeros); false if it is in the tree.
bool copy_from_memory(const Object& o, uint64_t b, uint32_t boff, uint32_t cnt, uint8_t* dst) {
  std::shared_ptr<AlignedBuf> src;
  switch (resolve(o, b, &src)) {
    case Src::kBuf:
      copy_bytes(dst, src->data() + boff, cnt);
      return true;
    case Src::kZero:
      std::memset(dst, 0, cnt);
      return true;
    case Src::kTree:
      break;
  }
  return false;
}

}  // namespace

Status ObjectSet::read_locked(Object& o, uint64_t off, void* buf, size_t len) {
  auto* out = static_cast<uint8_t*>(buf);
  Status st;
  for_each_piece(off, len, block_size_, [&](uint64_t b, uint32_t boff, uint32_t cnt, size_t at) {
    if (copy_from_memory(o, b, boff, cnt, out + at)) return true;
    std::shared_lock reuse(reuse_mu_);
    st = read_tree(arc_, o.committed.root, block_size_, b, boff, cnt, out + at);
    return st.ok();
  });
  return st;
}

bool ObjectSet::ref_from_memory(const Object& o, uint64_t off, uint64_t len,
                                std::vector<DataRef>* out) {
  bool in_memory = true;
  for_each_piece(off, len, block_size_, [&](uint64_t b, uint32_t boff, uint32_t cnt, size_t) {
    std::shared_ptr<AlignedBuf> src;
    switch (resolve(o, b, &src)) {
      case Src::kBuf:
        out->push_back(DataRef{std::move(src), boff, cnt});
        return true;
      case Src::kZero:
        if (!out->empty() && !out->back().buf) {
          out->back().len += cnt;
        } else {
          out->push_back(DataRef{nullptr, 0, cnt});
        }
        return true;
      case Src::kTree:
        break;
    }
    in_memory = false;
    return false;
  });
  if (!in_memory) out->clear();
  return in_memory;
}

Result<size_t> ObjectSet::read(Object& o, uint64_t off, void* buf, size_t len) {
  auto* out = static_cast<uint8_t*>(buf);
  std::unique_lock lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  if (off >= o.size || len == 0) return size_t{0};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(len, o.size - off));
  struct TreeRead {
    uint64_t blk;
    size_t dst;
    uint32_t boff, cnt;
  };
  // In chunks of up to 256 blocks: copy what is in memory under the mutex, then read the rest
  // from the committed tree (snapshot of its root) under the reuse guard only. The list of
  // tree pieces lives on the stack (6 KiB): no allocation on the cached-read path. An
  // unaligned chunk of 256 blocks' bytes touches 257 blocks.
  constexpr uint64_t kChunk = 256;
  TreeRead tree[kChunk + 1];
  for (uint64_t done = 0; done < n;) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n - done, kChunk * block_size_));
    size_t ntree = 0;
    const zio::BlockPtr root = o.committed.root;
    for_each_piece(off + done, chunk, block_size_,
                   [&](uint64_t b, uint32_t boff, uint32_t cnt, size_t at) {
                     if (!copy_from_memory(o, b, boff, cnt, out + done + at)) {
                       tree[ntree++] = TreeRead{b, done + at, boff, cnt};
                     }
                     return true;
                   });
    if (ntree > 0) {
      std::shared_lock reuse(reuse_mu_);
      lk.unlock();
      for (size_t i = 0; i < ntree; ++i) {
        const TreeRead& t = tree[i];
        ZVFS_TRY(read_tree(arc_, root, block_size_, t.blk, t.boff, t.cnt, out + t.dst));
      }
      reuse.unlock();
      lk.lock();
    }
    done += chunk;
  }
  return n;
}

Status ObjectSet::write_locked(Object& o, uint64_t off, const void* buf, size_t len) {
  uint64_t end;
  if (!checked_end(off, len, &end)) return make_error(EFBIG, "write past the maximum blob size");
  if (len == 0) return ok_status();
  const auto* in = static_cast<const uint8_t*>(buf);
  const uint32_t bs = block_size_;
  TxgDelta& d = open_delta(o, open_txg_);
  // Partial edge blocks first: the only ones that need their old contents (and may fail reading
  // it), so an error leaves the object's contents unchanged. Whole blocks are made in the loop
  // below, uninitialised, and filled at once: none is ever left holding stale heap memory.
  const uint64_t first = off / bs, last = (end - 1) / bs;
  for (uint64_t b : {first, last}) {
    const uint64_t bstart = b * bs;
    if (off <= bstart && end >= bstart + bs) continue;
    auto r = writable_block(o, d, b, bstart < o.size ? Fill::kOld : Fill::kZero);
    if (!r.ok()) return r.error();
  }
  size_t done = 0;
  while (done < len) {
    const uint64_t pos = off + done;
    const uint64_t b = pos / bs;
    const uint32_t boff = static_cast<uint32_t>(pos % bs);
    const uint32_t cnt = static_cast<uint32_t>(std::min<uint64_t>(bs - boff, len - done));
    ZVFS_ASSIGN_OR_RETURN(blk, writable_block(o, d, b, Fill::kOverwritten));
    copy_bytes(blk->data() + boff, in + done, cnt);
    // Usually decided by the first byte; only a run of zeros costs a full compare.
    if (all_zero(in + done, cnt)) d.zeros_written.add(b, b + 1);
    done += cnt;
  }
  if (end > o.size) o.size = end;
  o.modify_txg = open_txg_;
  add_op(o, d, LogOp{OpKind::kWrite, off, len});
  return ok_status();
}

Result<size_t> ObjectSet::write(Object& o, uint64_t off, const void* buf, size_t len) {
  std::shared_lock txg(txg_mu_);
  std::lock_guard lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  ZVFS_TRY(write_locked(o, off, buf, len));
  return len;
}

Result<bool> ObjectSet::replaces_blocks(Object& o, uint64_t off, uint64_t len) {
  std::shared_lock txg(txg_mu_);
  std::lock_guard lk(o.mu);
  uint64_t end;
  if (o.deleted || len == 0 || !checked_end(off, len, &end) || end > o.size) return false;
  for (uint64_t b = off / block_size_; b <= (end - 1) / block_size_; b++) {
    ZVFS_ASSIGN_OR_RETURN(hole, block_is_hole(o, b));
    if (hole) return false;
  }
  return true;
}

Result<uint64_t> ObjectSet::append(Object& o, const void* buf, size_t len) {
  std::shared_lock txg(txg_mu_);
  std::lock_guard lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  const uint64_t off = o.size;
  ZVFS_TRY(write_locked(o, off, buf, len));
  return off;
}

Status ObjectSet::truncate(Object& o, uint64_t size) {
  if (size > kMaxBlobBytes) return make_error(EFBIG, "size past the maximum blob size");
  std::shared_lock txg(txg_mu_);
  std::lock_guard lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  const uint32_t bs = block_size_;
  TxgDelta& d = open_delta(o, open_txg_);
  if (size < o.size) {
    if (size % bs != 0) {
      ZVFS_TRY(zero_within(o, d, size / bs, static_cast<uint32_t>(size % bs), bs));
    }
    const uint64_t first = (size + bs - 1) / bs;
    drop_blocks(o, d, first, kNoBlock);
    d.freed.add(first, kNoBlock);
  }
  o.size = size;
  o.modify_txg = open_txg_;
  add_op(o, d, LogOp{OpKind::kTruncate, size, 0});
  return ok_status();
}

Status ObjectSet::punch(Object& o, uint64_t off, uint64_t len) {
  std::shared_lock txg(txg_mu_);
  std::lock_guard lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  if (len == 0 || off >= o.size) return ok_status();
  const uint64_t end = len > o.size - off ? o.size : off + len;
  const uint32_t bs = block_size_;
  TxgDelta& d = open_delta(o, open_txg_);
  // Whole blocks [fa, fb) are freed; bytes past the end of the blob are zero already, so a
  // punch that reaches the end frees the last partial block too.
  const uint64_t fa = (off + bs - 1) / bs;
  const uint64_t fb = end == o.size ? (end + bs - 1) / bs : end / bs;
  const uint64_t head = off / bs, tail = (end - 1) / bs;
  const uint64_t edges[2] = {head, tail};
  for (int i = 0; i < (head == tail ? 1 : 2); i++) {
    const uint64_t b = edges[i];
    if (b >= fa && b < fb) continue;  // freed whole below
    const uint64_t lo = std::max(off, b * bs), hi = std::min(end, (b + 1) * bs);
    ZVFS_TRY(zero_within(o, d, b, static_cast<uint32_t>(lo - b * bs),
                         static_cast<uint32_t>(hi - b * bs)));
  }
  if (fa < fb) {
    drop_blocks(o, d, fa, fb);
    d.freed.add(fa, fb);
  }
  o.modify_txg = open_txg_;
  add_op(o, d, LogOp{OpKind::kPunch, off, end - off});
  return ok_status();
}

uint64_t ObjectSet::size(const Object& o) const {
  std::lock_guard lk(o.mu);
  return o.size;
}

Result<ObjStat> ObjectSet::stat(Object& o) {
  std::lock_guard lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  uint64_t blocks = o.committed.root.fill;
  if (o.open) blocks += o.open->blocks.size();
  if (o.syncing) blocks += o.syncing->blocks.size();
  ObjStat s;
  s.id = o.id;
  s.size = o.size;
  s.allocated_bytes = allocated_bytes(blocks, o.size);
  s.create_txg = o.create_txg;
  s.modify_txg = o.modify_txg;
  return s;
}

Result<uint64_t> ObjectSet::next_data_block(Object& o, uint64_t blk) {
  const TxgDelta* op = o.open.get();
  const TxgDelta* sy = o.syncing.get();
  auto shadowed = [&](uint64_t b) {
    return (op && op->freed.contains(b)) || (sy && sy->freed.contains(b));
  };
  uint64_t best = kNoBlock;
  if (op) {
    auto it = op->blocks.lower_bound(blk);
    if (it != op->blocks.end()) best = it->first;
  }
  if (sy) {
    for (auto it = sy->blocks.lower_bound(blk); it != sy->blocks.end() && it->first < best; ++it) {
      if (op && op->freed.contains(it->first)) continue;
      best = it->first;
      break;
    }
  }
  std::shared_lock reuse(reuse_mu_);
  uint64_t t = blk;
  for (int guard = 0; guard < (1 << 22) && t < best; guard++) {
    if (op && op->freed.contains(t)) {
      t = op->freed.end_of(t);
      continue;
    }
    if (sy && sy->freed.contains(t)) {
      t = sy->freed.end_of(t);
      continue;
    }
    ZVFS_ASSIGN_OR_RETURN(r, TreeReader::next_data(arc_, o.committed.root, t));
    if (r == kNoBlock || r >= best) break;
    if (shadowed(r)) {
      t = r;
      continue;
    }
    best = r;
    break;
  }
  return best;
}

Result<uint64_t> ObjectSet::next_hole_block(Object& o, uint64_t blk, uint64_t nblocks) {
  const TxgDelta* op = o.open.get();
  const TxgDelta* sy = o.syncing.get();
  // The next block after b at which a delta may change what the tree says.
  auto next_event = [&](uint64_t b) {
    uint64_t e = kNoBlock;
    for (const TxgDelta* d : {op, sy}) {
      if (!d) continue;
      auto it = d->blocks.upper_bound(b);
      if (it != d->blocks.end()) e = std::min(e, it->first);
      auto r = d->freed.ranges().upper_bound(b);
      if (r != d->freed.ranges().end()) e = std::min(e, r->first);
    }
    return e;
  };
  std::shared_lock reuse(reuse_mu_);
  uint64_t b = blk;
  while (b < nblocks) {
    std::shared_ptr<AlignedBuf> buf;
    Src s = resolve(o, b, &buf);
    if (s == Src::kZero) return b;
    if (s == Src::kBuf) {
      b++;
      continue;
    }
    ZVFS_ASSIGN_OR_RETURN(h, TreeReader::next_hole(arc_, o.committed.root, b));
    if (h == b) return b;
    b = std::min(h, next_event(b));
  }
  return nblocks;
}

Result<uint64_t> ObjectSet::seek(Object& o, uint64_t off, bool want_data) {
  std::lock_guard lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  if (off >= o.size) return make_error(ENXIO, "offset past the end");
  const uint64_t bs = block_size_;
  const uint64_t nblocks = (o.size + bs - 1) / bs;
  if (want_data) {
    ZVFS_ASSIGN_OR_RETURN(b, next_data_block(o, off / bs));
    if (b == kNoBlock || b >= nblocks) return make_error(ENXIO, "no data past the offset");
    return std::max(off, b * bs);
  }
  ZVFS_ASSIGN_OR_RETURN(b, next_hole_block(o, off / bs, nblocks));
  return std::min(o.size, std::max(off, b * bs));
}

Result<RangeSet> ObjectSet::hole_blocks(Object& o, uint64_t b0, uint64_t b1) {
  std::lock_guard lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  RangeSet holes;
  for (uint64_t b = b0; b < b1;) {
    ZVFS_ASSIGN_OR_RETURN(d, next_data_block(o, b));
    const uint64_t end = d == kNoBlock || d > b1 ? b1 : d;
    holes.add(b, end);
    if (end >= b1) break;
    const uint64_t nblocks = (o.size + block_size_ - 1) / block_size_;
    ZVFS_ASSIGN_OR_RETURN(h, next_hole_block(o, end, std::max(nblocks, end + 1)));
    b = std::max(h, end + 1);
  }
  return holes;
}

}  // namespace zvfs::dmu
