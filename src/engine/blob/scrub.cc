// scrub.cc — scrub (read and verify every reachable block) and check (scrub + accounting).
//
// Both walk the durable state named by the last uberblock: the meta-object tree, every
// dnode's data tree and xattr block, and the space map chain, reading each block from the
// device (not the cache) so its checksum is verified against its parent's pointer. The sync
// thread is paused for the walk so no block of that state is freed and reused under it;
// changes keep collecting in the open txg meanwhile.
//
// check() also collects every referenced range and compares with the allocator: a range
// referenced twice or referenced but free is a problem (the space could be handed out again);
// allocated space that nothing references is a leak.
#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "engine/alloc/space_map.h"
#include "engine/blob/pool_core.h"

namespace zvfs::engine {
namespace {

struct Walker {
  zio::Pipeline& zio;
  arc::Arc& arc;
  uint32_t block_size;
  uint32_t dnodes_per_block;
  ScrubReport report;
  std::vector<std::pair<uint64_t, uint64_t>> refs;  // (offset, asize) of every reached block
  std::function<void(uint64_t)> on_bytes;
  AlignedBuf scratch;

  // Reads bp from the device and verifies it; records damage. Returns true if it verified.
  bool verify(const zio::BlockPtr& bp, BlobId blob, uint64_t offset, const char* what,
              AlignedBuf* keep = nullptr) {
    refs.emplace_back(bp.offset, bp.asize);
    AlignedBuf& b = keep ? *keep : scratch;
    if (b.size() < bp.lsize && !b.reset(std::max<uint32_t>(bp.lsize, 1 << 20))) return false;
    Status st = zio.read_block(bp, b.data());
    report.blocks_checked++;
    report.bytes_checked += bp.asize;
    if (on_bytes) on_bytes(bp.asize);
    if (st.ok()) return true;
    report.errors++;
    report.damaged.push_back(ScrubReport::Damage{blob, offset, bp.offset, what});
    LOG_ERROR("scrub", "%s of blob %llu at offset %llu (disk 0x%llx) is damaged: %s", what,
              static_cast<unsigned long long>(blob), static_cast<unsigned long long>(offset),
              static_cast<unsigned long long>(bp.offset), st.error().msg);
    return false;
  }

  void walk_blob(const dmu::DnodePhys& dn) {
    dmu::TreeReader::walk(
        arc, dn.root,
        [&](const zio::BlockPtr& bp, uint64_t blk) {
          const bool data = bp.level == 0;
          verify(bp, dn.id, blk * block_size, data ? "data block" : "indirect block");
        },
        nullptr);
    dmu::TreeReader::walk(
        arc, dmu::xattr_tree(dn),
        [&](const zio::BlockPtr& bp, uint64_t) { verify(bp, dn.id, 0, "xattr block"); }, nullptr);
  }

  uint64_t walk_meta(const zio::BlockPtr& meta_root) {
    uint64_t blobs = 0;
    AlignedBuf meta;
    dmu::TreeReader::walk(
        arc, meta_root,
        [&](const zio::BlockPtr& bp, uint64_t k) {
          if (bp.level != 0) {
            verify(bp, 0, 0, "meta-object indirect block");
            return;
          }
          if (!verify(bp, 0, 0, "meta-object block", &meta)) return;
          for (uint32_t i = 0; i < dnodes_per_block; i++) {
            dmu::DnodePhys dn;
            std::memcpy(&dn, meta.data() + i * dmu::kDnodeSize, sizeof(dn));
            if (dn.type != dmu::ObjType::kBlob) continue;
            if (!dmu::dnode_consistent(dn, k * dnodes_per_block + i, block_size)) {
              report.errors++;
              report.damaged.push_back(ScrubReport::Damage{0, 0, bp.offset, "dnode"});
              continue;
            }
            blobs++;
            walk_blob(dn);
          }
        },
        nullptr);
    return blobs;
  }
};

}  // namespace

void PoolCore::pause_sync() {
  std::unique_lock lk(sync_mu_);
  pause_ = true;
  done_cv_.wait(lk, [&] { return !syncing_ || stop_; });
  // syncing_ is cleared and done_cv_ notified by the sync thread after every commit.
}

void PoolCore::resume_sync() {
  std::lock_guard lk(sync_mu_);
  pause_ = false;
  sync_cv_.notify_all();
}

Result<ScrubReport> PoolCore::scrub(const std::function<void(const ScrubProgress&)>& progress) {
  if (check_writable().ok()) ZVFS_TRY(sync_all());
  pause_sync();
  Walker w{*zio_,
           *arc_,
           label_.layout.block_size,
           dmu::meta_block_size(label_.layout.block_size) / dmu::kDnodeSize,
           {},
           {},
           {},
           {}};
  ScrubProgress prog;
  prog.bytes_total = alloc_->stats().allocated_bytes;
  if (progress) {
    w.on_bytes = [&](uint64_t n) {
      prog.bytes_done += n;
      if (prog.bytes_done > prog.bytes_total) prog.bytes_total = prog.bytes_done;
      if (w.report.blocks_checked % 256 == 0) progress(prog);
    };
  }
  spa::Uberblock ub;
  {
    std::lock_guard lk(sync_mu_);
    ub = ub_;
  }
  w.walk_meta(ub.meta_root);
  std::vector<zio::BlockPtr> sm;
  Status st = alloc::SpaceMap::blocks(*zio_, ub.space_map, &sm);
  for (const auto& bp : sm) w.verify(bp, 0, 0, "space map block");
  if (!st.ok() && sm.empty() && !ub.space_map.head.is_hole()) {
    w.report.errors++;
    w.report.damaged.push_back(ScrubReport::Damage{0, 0, ub.space_map.head.offset, "space map"});
  }
  resume_sync();
  if (progress) progress(prog);
  LOG_INFO("scrub", "%s: %llu blocks (%llu bytes) checked, %llu errors", path_.c_str(),
           static_cast<unsigned long long>(w.report.blocks_checked),
           static_cast<unsigned long long>(w.report.bytes_checked),
           static_cast<unsigned long long>(w.report.errors));
  return std::move(w.report);
}

Result<CheckReport> PoolCore::check() {
  if (check_writable().ok()) ZVFS_TRY(sync_all());
  pause_sync();
  Walker w{*zio_,
           *arc_,
           label_.layout.block_size,
           dmu::meta_block_size(label_.layout.block_size) / dmu::kDnodeSize,
           {},
           {},
           {},
           {}};
  spa::Uberblock ub;
  {
    std::lock_guard lk(sync_mu_);
    ub = ub_;
  }
  CheckReport rep;
  rep.blobs = w.walk_meta(ub.meta_root);
  std::vector<zio::BlockPtr> sm;
  Status st = alloc::SpaceMap::blocks(*zio_, ub.space_map, &sm);
  if (!st.ok()) rep.problems.push_back("space map chain does not read back");
  for (const auto& bp : sm) w.verify(bp, 0, 0, "space map block");
  for (const auto& d : w.report.damaged) {
    char line[200];
    std::snprintf(line, sizeof line, "%s of blob %llu at disk offset 0x%llx fails verification",
                  d.what.c_str(), static_cast<unsigned long long>(d.blob),
                  static_cast<unsigned long long>(d.disk_offset));
    rep.problems.push_back(line);
  }
  rep.blocks = w.refs.size();
  // References: no overlaps, all allocated.
  std::sort(w.refs.begin(), w.refs.end());
  uint64_t referenced = 0, prev_end = 0;
  for (size_t i = 0; i < w.refs.size(); i++) {
    const auto [off, len] = w.refs[i];
    if (i > 0 && off < prev_end) {
      char line[160];
      std::snprintf(line, sizeof line, "block at 0x%llx is referenced twice (or overlaps)",
                    static_cast<unsigned long long>(off));
      rep.problems.push_back(line);
    }
    if (!alloc_->is_allocated(off, len)) {
      char line[160];
      std::snprintf(line, sizeof line,
                    "block at 0x%llx (%llu bytes) is referenced but free in the space map",
                    static_cast<unsigned long long>(off), static_cast<unsigned long long>(len));
      rep.problems.push_back(line);
    }
    referenced += len;
    prev_end = std::max(prev_end, off + len);
  }
  uint64_t allocated = 0;
  for (const auto& r : alloc_->allocated_ranges()) allocated += r.len;
  if (allocated > referenced) {
    rep.leaked_bytes = allocated - referenced;
    char line[160];
    std::snprintf(line, sizeof line, "%llu bytes allocated but referenced by nothing (leak)",
                  static_cast<unsigned long long>(rep.leaked_bytes));
    rep.problems.push_back(line);
  }
  resume_sync();
  rep.consistent = rep.problems.empty();
  if (!rep.consistent) {
    for (const auto& p : rep.problems) LOG_ERROR("check", "%s: %s", path_.c_str(), p.c_str());
  }
  return rep;
}

}  // namespace zvfs::engine
