// space_map.cc — the persistent log of allocations and frees (see space_map.h).
//
// On disk: a chain of space-map blocks (space_map_block.h), newest first from the root's
// head, each naming the previous one. Each synced txg appends at most a few blocks holding
// the records of its changes; loading reads the chain back to the oldest block and replays
// the records oldest first into a fresh allocator. Cost of load: the length of the log.
//
// Invariants kept by sync() (and checked by load()):
//   - Replaying the chain of txg T's root yields exactly the allocator state of txg T:
//     every kAlloc names free space and every kFree allocated space at its point in the log;
//     root.allocated_bytes = sum(kAlloc lens) - sum(kFree lens) over the chain.
//   - The chain describes itself: the blocks a sync writes are allocated before the records
//     are taken, so their kAlloc records are in the very chain they belong to.
//   - No kFree for a txg later than T is written in T's map. Such frees (made in an open txg
//     while T syncs) are handed back to the allocator's pending list for the next sync;
//     recording them early would let an import of T reuse blocks that T still references.
//   - Condensing rewrites the chain from the allocator's state (take_condensed) and records
//     the old chain's blocks as freed in T, deferred like any other free, so an import of an
//     older uberblock still finds its (older) chain intact.
//
// Crash: sync() only writes new blocks (never overwrites a block of the current chain) and
// the caller publishes the returned root in the uberblock after a flush, so a crash leaves
// the old root and its chain intact. On a write error nothing changes in the allocator (its
// pending records are returned and the new blocks freed at once), so the sync can be retried.
#include "engine/alloc/space_map.h"

#include <algorithm>

#include "common/aligned_buf.h"
#include "common/log.h"
#include "engine/alloc/space_map_block.h"

namespace zvfs::alloc {
namespace {

// Condense when the log holds this many times more records than a condensed map would...
constexpr uint64_t kCondenseFactor = 4;
// ...and is at least this long (below that a condense saves nothing worth the rewrite).
constexpr uint64_t kCondenseRecordsMin = 1024;
// Rounds of "allocate blocks, take the records those allocations add" before giving up.
constexpr int kFitRoundsMax = 16;
// Room for the records of the allocations a fitting round itself makes.
constexpr uint32_t kFitSlackRecords = 8;

Error corrupt_root(const char* why) {
  LOG_ERROR("spacemap", "space-map chain inconsistent: %s", why);
  return make_error(EIO, "space map: chain inconsistent");
}

int64_t net_bytes(const std::vector<SpaceRecord>& recs) {
  int64_t n = 0;
  for (const SpaceRecord& r : recs)
    n += r.kind == SpaceRecord::Kind::kAlloc ? int64_t(r.len) : -int64_t(r.len);
  return n;
}

// Reads the chain of `root`, newest block first. Appends each block's pointer to `bps` and,
// if `per_block` is given, each block's records (one vector per block, newest first).
Status read_chain(zio::Pipeline& zio, const SpaceMapRoot& root, std::vector<zio::BlockPtr>* bps,
                  std::vector<std::vector<SpaceRecord>>* per_block) {
  if (root.head.is_hole()) {
    if (root.blocks != 0 || root.records != 0 || root.allocated_bytes != 0)
      return corrupt_root("empty chain with non-zero counts");
    return ok_status();
  }
  AlignedBuf buf(kSmBlockBytesMax);
  if (buf.data() == nullptr) return make_error(ENOMEM, "space map: no memory");
  zio::BlockPtr bp = root.head;
  uint64_t records = 0;
  std::vector<SpaceRecord> recs;
  for (uint64_t i = 0; i < root.blocks; ++i) {
    if (bp.is_hole()) return corrupt_root("chain shorter than its root says");
    if (bp.type != zio::BlockType::kSpaceMap || bp.lsize > kSmBlockBytesMax)
      return corrupt_root("block pointer is not a space-map block");
    ZVFS_TRY(zio.read_block(bp, buf.data()));
    SmBlockHeader h;
    recs.clear();
    ZVFS_TRY(sm_decode_block(buf.data(), bp.lsize, &h, &recs));
    if (h.txg != bp.birth_txg) return corrupt_root("block txg differs from its birth txg");
    if (h.seq != root.blocks - 1 - i) return corrupt_root("block sequence out of order");
    if (!h.prev.is_hole() && h.prev.birth_txg > h.txg)
      return corrupt_root("previous block born after its successor");
    records += h.nrecords;
    bps->push_back(bp);
    if (per_block) per_block->push_back(recs);
    bp = h.prev;
  }
  if (!bp.is_hole()) return corrupt_root("chain longer than its root says");
  if (records != root.records) return corrupt_root("record count differs from the root");
  return ok_status();
}

// What one sync is about to write, and what to give back if writing fails.
struct Plan {
  std::vector<SpaceRecord> recs;   // to write, in order
  std::vector<SpaceRecord> taken;  // everything taken from the pending list, in order
  std::vector<SpaceRecord> held;   // frees of later txgs: back to pending after success
  std::vector<Range> blocks;       // allocated for the new chain blocks
  uint64_t capacity = 0;           // records the blocks can hold

  // Routes pending records: frees of txgs after `txg` wait for a later sync.
  void route(const std::vector<SpaceRecord>& pending, uint64_t txg, bool write_others) {
    for (const SpaceRecord& r : pending) {
      if (r.kind == SpaceRecord::Kind::kFree && r.txg > txg)
        held.push_back(r);
      else if (write_others)
        recs.push_back(r);
    }
    taken.insert(taken.end(), pending.begin(), pending.end());
  }
  // Allocates one more block for up to `n` records (from the reserve).
  Status add_block(Allocator& a, uint64_t n) {
    uint32_t want = static_cast<uint32_t>(std::min<uint64_t>(n, kSmRecordsPerBlockMax));
    uint32_t bytes = sm_block_bytes(want);
    ZVFS_ASSIGN_OR_RETURN(off, a.alloc(bytes, /*use_reserve=*/true));
    blocks.push_back({off, bytes});
    capacity += sm_block_capacity(bytes);
    return ok_status();
  }
  // Undoes the plan in the allocator after a failure.
  void abandon(Allocator& a) {
    a.return_pending(std::move(taken));
    for (const Range& b : blocks) a.free_now(b.off, b.len);
  }
};

// Allocates blocks until the plan's records fit; each allocation adds its own record. A round
// allocates enough blocks for every record not yet covered (a delete of a large blob frees
// hundreds of thousands of blocks in one txg, dozens of map blocks' worth), so the rounds
// only chase the few records the round's own allocations add.
Status fit(Allocator& a, Plan& plan, uint64_t txg) {
  for (int round = 0; round < kFitRoundsMax; ++round) {
    if (plan.recs.size() <= plan.capacity && !plan.blocks.empty()) return ok_status();
    uint64_t added = 0;
    while (plan.blocks.empty() || plan.capacity < plan.recs.size() + added + kFitSlackRecords) {
      ZVFS_TRY(plan.add_block(a, plan.recs.size() + added + kFitSlackRecords -
                                     std::min<uint64_t>(plan.capacity, plan.recs.size() + added)));
      added++;
    }
    plan.route(a.take_pending(), txg, true);
  }
  return make_error(EAGAIN, "space map: records kept growing while sizing the log");
}

// Encodes the plan's records into its blocks, chained after `prev`, and writes them.
Result<zio::BlockPtr> write_blocks(zio::Pipeline& zio, const Plan& plan, zio::BlockPtr prev,
                                   uint64_t first_seq, uint64_t txg) {
  uint64_t total = 0;
  for (const Range& b : plan.blocks) total += b.len;
  AlignedBuf buf(total);
  if (buf.data() == nullptr) return make_error(ENOMEM, "space map: no memory");
  std::vector<zio::WriteOp> ops(plan.blocks.size());
  std::vector<zio::BlockPtr> expect(plan.blocks.size()), written(plan.blocks.size());
  size_t next = 0;
  std::byte* p = buf.data();
  for (size_t j = 0; j < plan.blocks.size(); ++j) {
    const Range& b = plan.blocks[j];
    uint32_t cap = sm_block_capacity(static_cast<uint32_t>(b.len));
    uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(cap, plan.recs.size() - next));
    SmBlockHeader h;
    h.nrecords = n;
    h.txg = txg;
    h.seq = first_seq + j;
    h.prev = prev;
    // The block keeps the size it was allocated with; records fill it from the front.
    std::memset(p, 0, b.len);
    sm_encode_block(h, plan.recs.data() + next, p);
    next += n;
    zio::BlockPtr bp;
    bp.offset = b.off;
    bp.asize = bp.lsize = bp.psize = static_cast<uint32_t>(b.len);
    bp.type = zio::BlockType::kSpaceMap;
    bp.cksum = zio::ChecksumAlg::kXxh3_128;
    bp.fill = 1;
    bp.birth_txg = txg;
    bp.checksum = zio::checksum(p, b.len);
    expect[j] = bp;
    ops[j] = zio::WriteOp{p, bp.lsize, bp.type, 0, 1, b.off, bp.asize, &written[j]};
    prev = bp;
    p += b.len;
  }
  if (next != plan.recs.size()) return make_error(EIO, "space map: records do not fit");
  ZVFS_TRY(zio.write(ops, txg));
  for (size_t j = 0; j < ops.size(); ++j) {
    if (!(written[j] == expect[j])) return make_error(EIO, "space map: block pointer mismatch");
  }
  return prev;
}

}  // namespace

Status SpaceMap::load(zio::Pipeline& zio, const SpaceMapRoot& root, Allocator& a,
                      uint64_t synced_txg) {
  std::vector<zio::BlockPtr> bps;
  std::vector<std::vector<SpaceRecord>> per_block;
  ZVFS_TRY(read_chain(zio, root, &bps, &per_block));
  const uint64_t before = a.stats().allocated_bytes;
  for (auto blk = per_block.rbegin(); blk != per_block.rend(); ++blk) {
    for (const SpaceRecord& r : *blk) {
      bool ok = r.kind == SpaceRecord::Kind::kAlloc ? a.is_free(r.off, r.len)
                                                    : a.is_allocated(r.off, r.len);
      if (!ok) {
        LOG_ERROR("spacemap", "record %s %#llx+%#llx contradicts the log before it",
                  r.kind == SpaceRecord::Kind::kAlloc ? "alloc" : "free",
                  static_cast<unsigned long long>(r.off), static_cast<unsigned long long>(r.len));
        return make_error(EIO, "space map: record contradicts the log");
      }
      a.load_record(r, synced_txg);
    }
  }
  const uint64_t after = a.stats().allocated_bytes;
  if (after - before != root.allocated_bytes)
    return corrupt_root("allocated bytes differ from the root");
  return ok_status();
}

Status SpaceMap::blocks(zio::Pipeline& zio, const SpaceMapRoot& root,
                        std::vector<zio::BlockPtr>* out) {
  return read_chain(zio, root, out, nullptr);
}

Result<SpaceMapRoot> SpaceMap::sync(zio::Pipeline& zio, const SpaceMapRoot& root, Allocator& a,
                                    uint64_t txg) {
  if (txg == 0) return make_error(EINVAL, "space map: sync of txg 0");
  // Records a condensed map would hold (computed only when the log is long enough to matter).
  uint64_t condensed_size = 0;
  if (root.records >= kCondenseRecordsMin)
    condensed_size = a.allocated_ranges().size() + 2 * a.deferred().size();
  const bool condense =
      root.records >= kCondenseRecordsMin && root.records > kCondenseFactor * condensed_size;
  Plan plan;
  std::vector<zio::BlockPtr> old_blocks;
  if (!condense) {
    plan.route(a.take_pending(), txg, true);
    if (plan.recs.empty()) {
      a.return_pending(std::move(plan.taken));
      return root;  // nothing to record
    }
  } else {
    ZVFS_TRY(read_chain(zio, root, &old_blocks, nullptr));
    // Blocks first (so the snapshot includes them), sized generously for the snapshot.
    uint64_t estimate = condensed_size + old_blocks.size() + kFitSlackRecords;
    while (plan.capacity < estimate) {
      Status st = plan.add_block(a, estimate - plan.capacity);
      if (!st.ok()) {
        plan.route(a.take_pending(), txg, false);
        plan.abandon(a);
        return st.error();
      }
    }
    Allocator::Condensed c = a.take_condensed(txg);
    plan.recs = std::move(c.records);
    plan.route(c.pending, txg, false);
    for (const zio::BlockPtr& bp : old_blocks)
      plan.recs.push_back({SpaceRecord::Kind::kFree, bp.offset, bp.asize, txg});
  }
  Status st = fit(a, plan, txg);
  if (!st.ok()) {
    plan.abandon(a);
    return st.error();
  }
  const zio::BlockPtr prev = condense ? zio::BlockPtr{} : root.head;
  const uint64_t first_seq = condense ? 0 : root.blocks;
  auto head = write_blocks(zio, plan, prev, first_seq, txg);
  if (!head.ok()) {
    LOG_ERROR("spacemap", "writing the space map of txg %llu failed",
              static_cast<unsigned long long>(txg));
    plan.abandon(a);
    return head.error();
  }
  SpaceMapRoot out;
  out.head = *head;
  out.blocks = first_seq + plan.blocks.size();
  out.records = (condense ? 0 : root.records) + plan.recs.size();
  out.allocated_bytes = (condense ? 0 : root.allocated_bytes) + net_bytes(plan.recs);
  if (condense) {
    // The old chain's blocks are now recorded as freed in txg: mirror that in memory.
    for (const zio::BlockPtr& bp : old_blocks)
      a.load_record({SpaceRecord::Kind::kFree, bp.offset, bp.asize, txg}, 0);
    LOG_INFO("spacemap", "condensed the space map at txg %llu: %llu records -> %llu",
             static_cast<unsigned long long>(txg), static_cast<unsigned long long>(root.records),
             static_cast<unsigned long long>(out.records));
  }
  a.return_pending(std::move(plan.held));
  return out;
}

}  // namespace zvfs::alloc
