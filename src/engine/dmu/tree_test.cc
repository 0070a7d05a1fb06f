// tree_test.cc — block-pointer trees: copy-on-write rewrites against a model, frees, walks.
#include "engine/dmu/tree.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "engine/vdev/vdev.h"

namespace zvfs::dmu {
namespace {

using zio::BlockPtr;

struct Env {
  std::unique_ptr<vdev::Vdev> dev = vdev::make_memory_vdev(256ull << 20);
  zio::Pipeline zio{*dev};
  alloc::Allocator alloc{1 << 20, 256ull << 20, 0};
  arc::Arc arc{zio, 64 << 20};
  uint64_t txg = 1;

  // Writes one 4 KiB data block whose first 8 bytes are `tag`.
  BlockPtr data_block(SyncCtx& ctx, uint64_t tag) {
    AlignedBuf b(4096);
    std::memcpy(b.data(), &tag, 8);
    BlockPtr out;
    zio::WriteOp op;
    op.data = b.data();
    op.lsize = 4096;
    op.out = &out;
    EXPECT_TRUE(ctx.write({&op, 1}).ok());
    return out;
  }
  uint64_t tag_of(const BlockPtr& bp) {
    auto r = arc.read(bp);
    EXPECT_TRUE(r.ok());
    uint64_t t;
    std::memcpy(&t, (*r)->data(), 8);
    return t;
  }
  void retire(SyncCtx& ctx) {  // the txg is durable: frees become reusable later
    ctx.release_frees();
    arc.evict(ctx.freed);
    alloc.txg_synced(ctx.txg);
  }
};

TEST(Tree, CapacityAndSpans) {
  EXPECT_EQ(tree_capacity(0, 8), 0u);
  EXPECT_EQ(tree_capacity(1, 8), 1u);
  EXPECT_EQ(tree_capacity(2, 8), 256u);
  EXPECT_EQ(tree_capacity(3, 8), 65536u);
  EXPECT_EQ(tree_capacity(3, 6), 4096u);
  EXPECT_EQ(level_span(9, 8), ~uint64_t{0});
  EXPECT_EQ(ptr_shift_for(4096), 6u);
  EXPECT_EQ(ptr_shift_for(16384), 8u);
  EXPECT_EQ(ptr_shift_for(1 << 20), 8u);
}

// Frees reach the allocator in runs of adjacent blocks of one kind; each block still ends
// where a free of it alone would put it (deferred if older than the txg, free at once if born
// in it), and every block is listed for eviction.
TEST(Tree, FreesOfAdjacentBlocksReachTheAllocatorAsRuns) {
  Env env;
  const uint64_t txg = ++env.txg;
  auto block = [&](uint64_t born) {
    auto off = env.alloc.alloc(4096);
    EXPECT_TRUE(off.ok());
    BlockPtr bp;
    bp.offset = *off;
    bp.asize = bp.lsize = bp.psize = 4096;
    bp.birth_txg = born;
    return bp;
  };
  std::vector<BlockPtr> old_run, new_run;
  for (int i = 0; i < 4; i++) old_run.push_back(block(txg - 1));
  for (int i = 0; i < 4; i++) new_run.push_back(block(txg));
  const BlockPtr apart = block(txg - 1);
  ASSERT_EQ(new_run.back().offset + 4096, apart.offset);  // adjacent, but of the other kind
  SyncCtx ctx{env.zio, env.arc, env.alloc, txg, {}};
  for (const BlockPtr& bp : old_run) ctx.free(bp);
  for (const BlockPtr& bp : new_run) ctx.free(bp);
  ctx.free(apart);
  ctx.free(BlockPtr{});  // a hole: nothing
  EXPECT_EQ(ctx.freed.size(), 9u);
  // Nothing reached the allocator yet: the last run is still open.
  EXPECT_TRUE(env.alloc.is_allocated(apart.offset, 4096));
  ctx.release_frees();
  ctx.release_frees();  // idempotent
  EXPECT_EQ(env.alloc.stats().deferred_bytes, 5u * 4096);
  for (const BlockPtr& bp : old_run) {
    EXPECT_FALSE(env.alloc.is_allocated(bp.offset, 4096));
    EXPECT_FALSE(env.alloc.is_free(bp.offset, 4096));
  }
  for (const BlockPtr& bp : new_run) EXPECT_TRUE(env.alloc.is_free(bp.offset, 4096));
  EXPECT_FALSE(env.alloc.is_free(apart.offset, 4096));
  env.alloc.txg_synced(txg + alloc::kDeferTxgs);
  for (const BlockPtr& bp : old_run) EXPECT_TRUE(env.alloc.is_free(bp.offset, 4096));
  EXPECT_TRUE(env.alloc.is_free(apart.offset, 4096));
  EXPECT_EQ(env.alloc.stats().deferred_bytes, 0u);
}

// Space freed at once is allocatable again before the txg's next allocation, as it was when
// every free went to the allocator by itself.
TEST(Tree, AWriteReleasesPendingFreesFirst) {
  Env env;
  SyncCtx ctx{env.zio, env.arc, env.alloc, ++env.txg, {}};
  const BlockPtr a = env.data_block(ctx, 1);
  ctx.free(a);  // born in this txg: free at once
  EXPECT_TRUE(env.alloc.is_allocated(a.offset, 4096));
  const BlockPtr b = env.data_block(ctx, 2);
  EXPECT_TRUE(env.alloc.is_allocated(b.offset, 4096));
  EXPECT_NE(a.offset, b.offset);
  EXPECT_TRUE(env.alloc.is_free(a.offset, 4096));
}

TEST(Tree, RandomRewritesMatchModel) {
  Env env;
  std::mt19937_64 rng(42);
  std::map<uint64_t, uint64_t> model;  // blkid -> tag
  BlockPtr root;
  for (int round = 0; round < 30; round++) {
    SyncCtx ctx{env.zio, env.arc, env.alloc, ++env.txg, {}};
    TreeWriter tw(ctx, root, kMaxPtrShift);
    if (round % 5 == 4) {  // a free range
      uint64_t a = rng() % 70000, b = a + rng() % 3000;
      ASSERT_TRUE(tw.free_range(a, b).ok());
      for (auto it = model.lower_bound(a); it != model.end() && it->first < b;) {
        it = model.erase(it);
      }
    }
    for (int i = 0; i < 40; i++) {
      uint64_t blk = (rng() % 4 == 0) ? rng() % 70000 : rng() % 600;
      uint64_t tag = rng();
      ASSERT_TRUE(tw.set_leaf(blk, env.data_block(ctx, tag)).ok());
      model[blk] = tag;
    }
    auto r = tw.finish();
    ASSERT_TRUE(r.ok());
    root = *r;
    env.retire(ctx);
    // Every modelled block is found with its contents; fill counts the data blocks.
    ASSERT_EQ(root.fill, model.size());
    for (const auto& [blk, tag] : model) {
      auto bp = TreeReader::lookup(env.arc, root, blk);
      ASSERT_TRUE(bp.ok());
      ASSERT_FALSE(bp->is_hole()) << blk;
      ASSERT_EQ(env.tag_of(*bp), tag);
    }
    // next_data / next_hole agree with the model at random points.
    for (int i = 0; i < 50; i++) {
      uint64_t from = rng() % 71000;
      auto it = model.lower_bound(from);
      auto nd = TreeReader::next_data(env.arc, root, from);
      ASSERT_TRUE(nd.ok());
      ASSERT_EQ(*nd, it == model.end() ? kNoBlock : it->first);
      uint64_t h = from;
      while (model.count(h)) h++;
      auto nh = TreeReader::next_hole(env.arc, root, from);
      ASSERT_TRUE(nh.ok());
      ASSERT_EQ(*nh, h);
    }
  }
  // The walk visits every data block once, and the allocator agrees on the bytes used.
  uint64_t data = 0, meta_bytes = 0;
  TreeReader::walk(
      env.arc, root,
      [&](const BlockPtr& bp, uint64_t) {
        if (bp.level == 0) data++;
        meta_bytes += bp.asize;
      },
      nullptr);
  EXPECT_EQ(data, model.size());
  // Free everything: the tree becomes a hole and, once the frees are safe, no space is used.
  SyncCtx ctx{env.zio, env.arc, env.alloc, ++env.txg, {}};
  TreeWriter tw(ctx, root, kMaxPtrShift);
  ASSERT_TRUE(tw.free_range(0, kNoBlock).ok());
  auto r = tw.finish();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_hole());
  env.retire(ctx);
  for (int i = 0; i < 3; i++) env.alloc.txg_synced(++env.txg);
  EXPECT_EQ(env.alloc.stats().allocated_bytes, 0u);
  EXPECT_GT(meta_bytes, 0u);
}

TEST(Tree, FreeThenSetInOneTxgAndLoadedNodes) {
  Env env;
  BlockPtr root;
  {
    SyncCtx ctx{env.zio, env.arc, env.alloc, ++env.txg, {}};
    TreeWriter tw(ctx, root, kMaxPtrShift);
    for (uint64_t b = 0; b < 1000; b++) ASSERT_TRUE(tw.set_leaf(b, env.data_block(ctx, b)).ok());
    root = *tw.finish();
    env.retire(ctx);
  }
  {
    SyncCtx ctx{env.zio, env.arc, env.alloc, ++env.txg, {}};
    TreeWriter tw(ctx, root, kMaxPtrShift);
    ASSERT_TRUE(tw.set_leaf(5, env.data_block(ctx, 555)).ok());  // loads a path first
    ASSERT_TRUE(tw.free_range(0, 600).ok());                     // then frees over it
    ASSERT_TRUE(tw.set_leaf(300, env.data_block(ctx, 333)).ok());
    root = *tw.finish();
    env.retire(ctx);
  }
  for (uint64_t b = 0; b < 1000; b++) {
    auto bp = TreeReader::lookup(env.arc, root, b);
    ASSERT_TRUE(bp.ok());
    if (b == 300) {
      ASSERT_EQ(env.tag_of(*bp), 333u);
    } else if (b < 600) {
      ASSERT_TRUE(bp->is_hole()) << b;
    } else {
      ASSERT_EQ(env.tag_of(*bp), b);
    }
  }
  EXPECT_EQ(root.fill, 401u);
}

}  // namespace
}  // namespace zvfs::dmu
