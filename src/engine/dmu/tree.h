// tree.h — block-pointer trees: how an object's blocks are found and rewritten.
//
// An object's data is a tree of BlockPtrs. The root (kept in the dnode) is a hole (empty
// object), a data block (level 0: the object has only block 0), or an indirect block of level
// L >= 1: an array of 2^shift BlockPtrs whose children are level L-1. Indirect blocks are
// min(pool block size, 16 KiB) (64 or 256 pointers at 4 KiB and 16 KiB), so on pools of
// blocks up to 16 KiB every block the objects allocate has one size and free space can never
// be too fragmented for a commit. A tree of height h (root level h-1) addresses
// 2^(shift*(h-1)) blocks. Readers learn the shift from the root's lsize. Missing children are
// holes; an indirect block whose children are all holes is itself a hole. Each BlockPtr's `fill`
// counts the data blocks below it.
//
// Reading (TreeReader) never modifies anything: trees are persistent. Blocks reached from a
// root stay valid while that root might still be read, because frees are deferred by the
// allocator (the caller holds the pool's reuse guard while it walks).
//
// Writing (TreeWriter) is copy-on-write, done only by the txg sync: it loads copies of the
// indirect blocks on the paths it changes, applies frees and new leaves, then writes the
// modified indirect blocks bottom-up to newly allocated places (one batch per level) and returns
// the new root. Every replaced or dropped block is freed in the txg being synced (deferred, so
// the previous uberblocks stay importable). The old tree is never touched.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <vector>

#include "common/aligned_buf.h"
#include "engine/alloc/allocator.h"
#include "engine/arc/arc.h"
#include "engine/zio/blkptr.h"
#include "engine/zio/zio.h"
#include "zvfs/status.h"

namespace zvfs::dmu {

inline constexpr uint32_t kMinPtrShift = 6;  // 4 KiB indirect blocks
inline constexpr uint32_t kMaxPtrShift = 8;  // 16 KiB indirect blocks
inline constexpr int kMaxHeight = 12;
inline constexpr uint64_t kNoBlock = ~uint64_t{0};

// The pointer shift for indirect blocks of a pool with this data block size.
uint32_t ptr_shift_for(uint32_t block_size);
inline uint32_t indirect_bytes(uint32_t shift) {
  return (1u << shift) * static_cast<uint32_t>(sizeof(zio::BlockPtr));
}

inline int tree_height(const zio::BlockPtr& root) {
  return root.is_hole() ? 0 : root.level + 1;
}
// Data blocks addressed by a tree of the given height (saturates at 2^64-1).
uint64_t tree_capacity(int height, uint32_t shift);
// Same, for an existing root (with its own shift).
uint64_t tree_capacity(const zio::BlockPtr& root);
// Data blocks covered by one block pointer at `level`.
uint64_t level_span(int level, uint32_t shift);

// Everything the sync needs to write and free blocks in one txg.
//
// Frees are handed to the allocator in runs: free() extends the current run while blocks
// follow one another on the device with the same kind of free (at once for a block born in
// this txg, deferred otherwise), and a run goes to the allocator when the next block does not
// continue it, or at release_frees(). Rewriting a file sequentially frees its old blocks in
// device order, so one range replaces thousands of allocator calls (a txg of 100 MiB of
// 16 KiB blocks spent about 1 ms of its commit in per-block frees, and as much again
// releasing them two txgs later).
struct SyncCtx {
  zio::Pipeline& zio;
  arc::Arc& arc;
  alloc::Allocator& alloc;
  uint64_t txg;
  std::vector<zio::BlockPtr> freed;  // evicted from the ARC once the txg is durable
  struct FreeRun {
    uint64_t off = 0, len = 0;
    bool now = false;  // born in this txg: reusable at once
  } run{};             // frees not yet given to the allocator

  void free(const zio::BlockPtr& bp);
  // Gives the pending run of frees to the allocator. Before the txg's space map is written.
  void release_frees();
  // Allocates space for each op (with the reserve), writes them in one batch and fills the
  // ops' out pointers. On failure nothing stays allocated. A failure because the file system
  // holding a sparse pool file is full is retried below a lowered space ceiling.
  Status write(std::span<zio::WriteOp> ops);
  // One try of write(); *device_failed: the device (not the allocator) refused it.
  Status write_once(std::span<zio::WriteOp> ops, bool* device_failed);
};

class TreeReader {
 public:
  // The leaf BlockPtr of data block `blkid` (a hole if absent).
  static Result<zio::BlockPtr> lookup(arc::Arc& arc, const zio::BlockPtr& root, uint64_t blkid);
  // The first block >= from that has data, or kNoBlock.
  static Result<uint64_t> next_data(arc::Arc& arc, const zio::BlockPtr& root, uint64_t from);
  // The first block >= from that is a hole (blocks past the capacity are holes).
  static Result<uint64_t> next_hole(arc::Arc& arc, const zio::BlockPtr& root, uint64_t from);
  // Calls fn(bp, first_blkid) for every non-hole block pointer of the tree, parents first.
  // A failed read of an indirect block is reported through on_error and its subtree skipped.
  using Visit = std::function<void(const zio::BlockPtr& bp, uint64_t first_blkid)>;
  using OnError = std::function<void(const zio::BlockPtr& bp, uint64_t first_blkid, int err)>;
  static void walk(arc::Arc& arc, const zio::BlockPtr& root, const Visit& fn,
                   const OnError& on_error);
};

class TreeWriter {
 public:
  // `shift` is used for new indirect blocks; an existing indirect root imposes its own.
  TreeWriter(SyncCtx& ctx, const zio::BlockPtr& root, uint32_t shift);
  // Frees data blocks [first, end) (end may be kNoBlock: to the end).
  Status free_range(uint64_t first, uint64_t end);
  // Makes `bp` (already written, or a hole) the leaf for block `blkid`, freeing the old one.
  Status set_leaf(uint64_t blkid, const zio::BlockPtr& bp);
  // Writes the modified indirect blocks bottom-up and returns the new root.
  Result<zio::BlockPtr> finish();

 private:
  struct Node {
    AlignedBuf buf;       // indirect_bytes(shift_): 2^shift_ BlockPtrs
    zio::BlockPtr old{};  // what it replaces (hole for a new node)
    zio::BlockPtr* slots() { return reinterpret_cast<zio::BlockPtr*>(buf.data()); }
  };
  using Key = std::pair<int, uint64_t>;  // (level, index at that level)

  Result<Node*> node(int level, uint64_t index);
  Status grow(uint64_t blkid);
  Status free_in(int level, uint64_t index, uint64_t first, uint64_t end);
  Status free_subtree(const zio::BlockPtr& bp);

  SyncCtx& ctx_;
  zio::BlockPtr root_;
  int height_;
  uint32_t shift_;
  std::map<Key, Node> nodes_;
};

}  // namespace zvfs::dmu
