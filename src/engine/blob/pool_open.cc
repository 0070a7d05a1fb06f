// pool_open.cc — creating and importing a pool: labels, uberblock, space map, log replay; and
// upgrading its format version or growing it onto a larger device (upgrade_format, grow: the
// labels only).
//
// Import = read a label (either copy) -> read the uberblock ring and take the newest valid one
// whose space map loads into a fresh allocator (falling back at most kDeferTxgs from the newest
// txg reached) -> make the newer ones, if any, unimportable on the medium (rewritten as
// abandoned uberblocks, flushed) before anything else is written -> replay the intent log (records
// of the uberblock's log generation, from its log head, skipping records of txgs it already holds)
// -> commit one txg, which also moves the log to a new generation, before anything else may be
// logged. Cost is proportional to the space map and the log, never to the data stored.
//
// Log generations are random, not counted: after a fallback import, the abandoned history's
// log blocks (generation g + 1, written after the uberblock that did not load) are still in
// the ring exactly where the new lifetime's log starts, with the same sequence numbers. A new
// lifetime numbered g + 1 again would later replay them over newer committed state, and no
// count kept on the medium survives a crash between invalidating the newer uberblocks and the
// first commit.
#include <algorithm>
#include <chrono>
#include <random>

#include "common/aligned_buf.h"
#include "common/log.h"
#include "engine/alloc/space_map.h"
#include "engine/blob/pool_core.h"

namespace zvfs::engine {
namespace {

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

uint64_t new_guid() {
  std::random_device rd;
  uint64_t g = 0;
  while (g == 0) g = (uint64_t{rd()} << 32) ^ rd() ^ now_ns();
  return g;
}

// A log generation for a new pool lifetime: random, and none of those the ring names.
uint64_t new_log_gen(const std::vector<spa::Uberblock>& ring) {
  for (;;) {
    const uint64_t g = new_guid();
    if (std::none_of(ring.begin(), ring.end(),
                     [&](const spa::Uberblock& u) { return u.log_gen == g; }))
      return g;
  }
}

// The reserve kept back for commits and deletes on a full pool.
uint64_t reserve_for(uint64_t data_len) {
  uint64_t r = data_len / 32;
  r = std::max<uint64_t>(r, 1ull << 20);
  r = std::min<uint64_t>(r, 1ull << 30);
  return r / alloc::kUnit * alloc::kUnit;
}

Status format(zio::Pipeline& zio, const PoolConfig& cfg) {
  if (spa::has_label(zio)) {
    LOG_ERROR("spa", "%s already holds a ZVFS pool; refusing to create over it",
              zio.vdev().describe().c_str());
    return make_error(EEXIST, "device already holds a pool");
  }
  ZVFS_ASSIGN_OR_RETURN(layout,
                        spa::compute_layout(zio.vdev().size(), cfg.block_size, cfg.log_bytes));
  spa::Label label;
  label.pool_guid = new_guid();
  label.create_time_ns = now_ns();
  label.layout = layout;
  spa::Uberblock ub;
  ub.txg = 1;
  ub.pool_guid = label.pool_guid;
  ub.timestamp_ns = label.create_time_ns;
  // The uberblock ring and the log region (contiguous) are written once with zeros, so that on
  // a sparse file their writes never allocate file blocks: an allocating write would make every
  // log flush a journal commit, and would fail once the file system holding the pool is full
  // (the commits go on then, into data space the file has: SyncCtx::write). With
  // `preallocate` the data region is written too: a commit's writes into a sparse file's holes
  // make the next log flush wait for a journal commit of those allocations, a large part of a
  // sync's tail beside a commit (zvfs_engine_bench DIR 6 16 prealloc: sync p99 1.5-1.7x the raw
  // device's p99 on a preallocated pool file, 2.4-2.7x on a sparse one).
  AlignedBuf zeros(1 << 20);
  if (!zeros.data()) return make_error(ENOMEM, "zero buffer");
  const uint64_t fixed_len =
      (cfg.preallocate ? layout.data_off + layout.data_len : layout.log_off + layout.log_len) -
      layout.ub_off;
  for (uint64_t off = 0; off < fixed_len; off += zeros.size()) {
    const uint64_t n = std::min<uint64_t>(zeros.size(), fixed_len - off);
    ZVFS_TRY(zio.write_raw(layout.ub_off + off, zeros.data(), static_cast<uint32_t>(n)));
  }
  // The uberblock first: a crash before the labels leaves no pool at all.
  ZVFS_TRY(spa::write_uberblock(zio, layout, ub));
  ZVFS_TRY(zio.flush());
  ZVFS_TRY(spa::write_labels(zio, label));
  LOG_INFO("spa", "created pool %016llx on %s: %llu bytes, block size %u, log %llu bytes",
           static_cast<unsigned long long>(label.pool_guid), zio.vdev().describe().c_str(),
           static_cast<unsigned long long>(layout.vdev_size), layout.block_size,
           static_cast<unsigned long long>(layout.log_len));
  return ok_status();
}

}  // namespace

Result<std::shared_ptr<PoolCore>> PoolCore::open(std::unique_ptr<vdev::Vdev> dev,
                                                 const PoolConfig& cfg, bool create,
                                                 const std::string& path) {
  if (!dev) return make_error(EINVAL, "no device");
  std::shared_ptr<PoolCore> p(new PoolCore());
  p->cfg_ = cfg;
  p->path_ = path.empty() ? dev->describe() : path;
  p->dev_ = std::move(dev);
  p->zio_ = std::make_unique<zio::Pipeline>(*p->dev_);
  zio::Pipeline& zio = *p->zio_;
  if (create) ZVFS_TRY(format(zio, cfg));
  ZVFS_ASSIGN_OR_RETURN(label, spa::read_label(zio));
  p->label_ = label;
  const spa::Layout& l = label.layout;
  uint64_t abandoned = 0;
  ZVFS_ASSIGN_OR_RETURN(ubs, spa::read_uberblocks(zio, l, label.pool_guid, &abandoned));
  p->reserve_bytes_ = reserve_for(l.data_len);
  // The newest uberblock whose space map loads. Older ones are tried only if the newest names
  // damaged state; their blocks are intact because frees are deferred for kDeferTxgs txgs (a
  // bound on txgs, not on ring entries: the ring may miss a txg whose slot is damaged). The
  // bound counts from the newest txg history reached, abandoned ones included: after an
  // earlier fallback, the commits of the abandoned txgs may have reused the blocks of
  // uberblocks more than kDeferTxgs older than them.
  const uint64_t reached = std::max(ubs.front().txg, abandoned);
  spa::Uberblock ub;
  Status sm = make_error(EIO, "no uberblock");
  for (size_t i = 0; i < ubs.size() && reached - ubs[i].txg <= alloc::kDeferTxgs; i++) {
    ub = ubs[i];
    p->alloc_ =
        std::make_unique<alloc::Allocator>(l.data_off, l.data_off + l.data_len, p->reserve_bytes_);
    sm = alloc::SpaceMap::load(zio, ub.space_map, *p->alloc_, ub.txg);
    if (sm.ok()) break;
    LOG_ERROR("spa", "%s: space map of txg %llu does not load (%s); trying the previous txg",
              p->path_.c_str(), static_cast<unsigned long long>(ub.txg), sm.error().msg);
  }
  if (!sm.ok()) {
    LOG_ERROR("spa", "%s: no uberblock within %llu txgs of txg %llu (the newest reached) loads",
              p->path_.c_str(), static_cast<unsigned long long>(alloc::kDeferTxgs),
              static_cast<unsigned long long>(reached));
    return sm.error();
  }
  // Uberblocks newer than the one taken must never be imported again: the txgs committed from
  // here reuse their numbers and may reallocate their blocks, and a crash before a newer one's
  // slot is overwritten would leave it in the ring. Made invalid durably before any write.
  ZVFS_TRY(spa::invalidate_newer_uberblocks(zio, l, ubs, ub.txg));
  p->arc_ = std::make_unique<arc::Arc>(zio, cfg.cache_bytes);
  p->os_ = std::make_unique<dmu::ObjectSet>(
      zio, *p->arc_, *p->alloc_, l.block_size,
      dmu::ObjsetRoot{ub.meta_root, ub.next_blob_id, ub.blob_count}, ub.txg + 1,
      /*short_tails=*/label.version >= 2);
  const zil::Region region{l.log_off, l.log_len};
  dmu::ObjectSet& os = *p->os_;
  const uint64_t base_txg = ub.txg;
  uint64_t applied = 0;
  ZVFS_ASSIGN_OR_RETURN(end, zil::IntentLog::replay(zio, region, label.pool_guid, ub.log_gen,
                                                    zil::LogHead{ub.log_head_pos, ub.log_head_seq},
                                                    [&](const dmu::ChangeRecord& r) -> Status {
                                                      if (r.txg <= base_txg) return ok_status();
                                                      applied++;
                                                      return os.apply(r);
                                                    }));
  p->zil_ = std::make_unique<zil::IntentLog>(zio, region, label.pool_guid, new_log_gen(ubs), end);
  p->ub_ = ub;
  p->synced_txg_ = ub.txg;
  // Commit the replayed changes and the new log generation before anything else is logged.
  ZVFS_TRY(p->sync_one(0));
  LOG_INFO("spa", "imported pool %016llx from %s at txg %llu (%llu log records applied)",
           static_cast<unsigned long long>(label.pool_guid), p->path_.c_str(),
           static_cast<unsigned long long>(ub.txg), static_cast<unsigned long long>(applied));
  p->thread_ = std::thread([raw = p.get()] { raw->sync_loop(); });
  return p;
}

static_assert(spa::kFormatVersion == kPoolFormatVersion, "one format version");

Result<uint32_t> PoolCore::upgrade_format() {
  const uint32_t had = label_.version;
  if (had >= spa::kFormatVersion) return had;
  spa::Label label = label_;  // label_ stays as imported: this pool keeps its form until export
  label.version = spa::kFormatVersion;
  ZVFS_TRY(spa::write_labels(*zio_, label));
  LOG_INFO("spa", "pool %016llx (%s): format %u -> %u, from the next import",
           static_cast<unsigned long long>(label.pool_guid), path_.c_str(), had, label.version);
  return had;
}

Result<uint64_t> PoolCore::grow() {
  spa::Label label = label_;  // label_ stays as imported: this pool keeps its size until export
  label.layout = spa::grown_layout(label_.layout, zio_->vdev().size());
  if (label.layout.vdev_size == label_.layout.vdev_size) return label_.layout.data_len;
  ZVFS_TRY(spa::write_labels(*zio_, label));
  LOG_INFO("spa", "pool %016llx (%s): grown from %llu to %llu bytes, from the next import",
           static_cast<unsigned long long>(label.pool_guid), path_.c_str(),
           static_cast<unsigned long long>(label_.layout.vdev_size),
           static_cast<unsigned long long>(label.layout.vdev_size));
  return label.layout.data_len;
}

}  // namespace zvfs::engine
