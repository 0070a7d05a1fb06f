// txg_sync.cc — the sync thread, commits, throttling and the durability entry points.
//
// States of a txg: open (ObjectSet takes changes) -> syncing (closed by the sync thread;
// written by sync_one) -> durable (its uberblock flushed; synced_txg_ = it). Only the sync
// thread runs sync_one once the pool is open (import runs one before the thread starts;
// export runs the last after it stopped), so txgs commit strictly one after another.
#include <chrono>
#include <future>
#include <optional>
#include <thread>

#include "common/log.h"
#include "common/thread_name.h"
#include "engine/alloc/space_map.h"
#include "engine/blob/dirty_delay.h"
#include "engine/blob/pool_core.h"

namespace zvfs::engine {
namespace {

constexpr uint64_t kLogBytesPerSyncMax = 8ull << 20;  // more than this: commit a txg instead
// Changes up to this size may use the last eighth of dirty_max_bytes; larger ones wait below
// it. A bulk writer then never fills dirty data to the hard limit, and a small write (the
// typical write + fsync of a database log) is not queued behind it for a whole txg commit.
constexpr uint64_t kSmallChangeBytes = 64 << 10;
// ...unless the object it changes holds more than this share of dirty_max_bytes in the open
// txg: then it is part of a stream of small writes (fio's 16 KiB writes, a checkpoint), which
// stops below the reserve too. Before, such a stream filled dirty data to the very limit, and a
// database's log write to another object waited behind it for a whole commit.
// Such a stream is not delayed (dirty_delay.h) as a bulk writer is: with the delay, 16 KiB
// random writes to a 2 GiB file through the daemon stalled at most 15-23 ms instead of 63-106
// ms, but made 10% fewer writes and had a p99 latency of 330-350 us instead of 100-130 (the
// delays, collected per thread and slept from 200 us on, since a sleep takes at least the
// timer slack); stopping at the limit is kept for them.
constexpr uint64_t kStreamShareDiv = 16;
// Room kept free on the file system holding a sparse pool file: admission lets dirty data grow
// only to what the pool file has plus that file system's free space less this (read at most
// every kHostCheckNs: a writer at 3 GB/s writes 150 MiB between two reads).
constexpr uint64_t kHostSlackBytes = 64ull << 20;
constexpr uint64_t kHostCheckNs = 50'000'000;

// What of `free` the file system holding a sparse pool file lets commits write: the free whole
// slabs below the high-water mark (space the file has) plus that file system's free space less
// kHostSlackBytes. host < 0: nothing outside the device bounds it.
// The slab scan for the written space happens only when the host's room alone is not enough.
uint64_t host_bounded(uint64_t free, const alloc::Allocator& a, int64_t host) {
  if (host < 0) return free;
  const uint64_t h = static_cast<uint64_t>(host);
  const uint64_t grow = h > kHostSlackBytes ? h - kHostSlackBytes : 0;
  if (grow >= free) return free;
  return std::min(free, a.written_free_bytes() + grow);
}

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

PoolCore::~PoolCore() {
  stop_thread();
  wait_reaped();
}

Status PoolCore::check_open() const {
  if (closed_.load(std::memory_order_acquire)) return make_error(EIO, "pool is closed");
  return ok_status();
}

Status PoolCore::check_writable() const {
  ZVFS_TRY(check_open());
  if (failed_flag_.load(std::memory_order_acquire)) {
    return make_error(EIO, "pool failed: an earlier commit could not be written");
  }
  return ok_status();
}

void PoolCore::kick() {
  std::lock_guard lk(sync_mu_);
  sync_cv_.notify_one();
}

void PoolCore::stop_thread() {
  {
    std::lock_guard lk(sync_mu_);
    stop_ = true;
    sync_cv_.notify_all();
    done_cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void PoolCore::sync_loop() {
  name_this_thread("zvfs-txg");
  using Clock = std::chrono::steady_clock;
  const auto interval = std::chrono::milliseconds(std::max<uint32_t>(cfg_.txg_interval_ms, 1));
  auto next = Clock::now() + interval;
  std::unique_lock lk(sync_mu_);
  while (!stop_) {
    auto wanted = [&] {
      if (pause_ || !failed_.ok()) return false;
      // A writer held back during the last commit: commit again at once, so a bulk writer
      // keeps the device busy instead of refilling up to dirty_kick while it idles.
      return want_txg_ > synced_txg_ || commit_due() || zil_->used_bytes() > zil_->capacity() / 2 ||
             (throttled_ && os_->has_changes());
    };
    sync_cv_.wait_until(lk, next, [&] { return stop_ || wanted(); });
    if (stop_) break;
    const bool timed_out = Clock::now() >= next;
    if (pause_ || !failed_.ok()) continue;
    // Space freed by deletes becomes allocatable only kDeferTxgs commits later: on an idle
    // pool those commits are made anyway, one per interval, so the space comes back (and
    // `zvfs status` shows it) within a few intervals of the last change.
    if (!wanted() && !(timed_out && (os_->has_changes() || alloc_->stats().deferred_bytes > 0))) {
      if (timed_out) next = Clock::now() + interval;
      continue;
    }
    syncing_ = true;
    throttled_ = false;
    lk.unlock();
    Status st = sync_one(0);
    lk.lock();
    syncing_ = false;
    if (!st.ok()) {
      failed_ = st;
      failed_flag_.store(true, std::memory_order_release);
      LOG_ERROR("spa", "%s: txg commit failed (%s); the pool refuses further changes",
                path_.c_str(), st.error().msg);
    }
    next = Clock::now() + interval;
    done_cv_.notify_all();
  }
}

Status PoolCore::sync_one(uint32_t flags) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const uint64_t dirty = os_->dirty_bytes();
  const uint64_t txg = os_->close_txg();
  dmu::SyncCtx ctx{*zio_, *arc_, *alloc_, txg, {}};
  ZVFS_ASSIGN_OR_RETURN(root, os_->sync_txg(txg, ctx));
  ctx.release_frees();
  const auto t1 = Clock::now();
  ZVFS_ASSIGN_OR_RETURN(sm, alloc::SpaceMap::sync(*zio_, ub_.space_map, *alloc_, txg));
  ZVFS_TRY(zio_->flush());
  spa::Uberblock ub = ub_;
  ub.txg = txg;
  ub.flags = flags;
  ub.timestamp_ns = now_ns();
  ub.meta_root = root.meta_root;
  ub.space_map = sm;
  ub.next_blob_id = root.next_id;
  ub.blob_count = root.blob_count;
  const zil::LogHead head = zil_->head_for(txg);
  ub.log_head_pos = head.pos;
  ub.log_head_seq = head.seq;
  ub.log_gen = zil_->gen();
  ZVFS_TRY(spa::write_uberblock(*zio_, label_.layout, ub));
  ZVFS_TRY(zio_->flush());
  const auto us = [](Clock::time_point a, Clock::time_point b) {
    return static_cast<long long>(
        std::chrono::duration_cast<std::chrono::microseconds>(b - a).count());
  };
  const auto t2 = Clock::now();
  LOG_DEBUG("spa",
            "txg %llu committed: %llu KiB dirty, objects and data %lld us, space map, flushes and "
            "uberblock %lld us",
            static_cast<unsigned long long>(txg), static_cast<unsigned long long>(dirty >> 10),
            us(t0, t1), us(t1, t2));
  // Durable. Install, release deferred frees, trim the log.
  std::vector<std::shared_ptr<dmu::TxgDelta>> retired;
  os_->txg_done(txg, &retired);
  {
    std::unique_lock reuse(os_->reuse_mutex());
    alloc_->txg_synced(txg);
  }
  zil_->trim(head);
  reap(std::move(retired), std::move(ctx.freed));
  std::lock_guard lk(sync_mu_);
  ub_ = ub;
  synced_txg_ = txg;
  return ok_status();
}

int64_t PoolCore::host_free_bytes(bool fresh) {
  const uint64_t now = now_ns();
  const uint64_t at = host_checked_ns_.load(std::memory_order_relaxed);
  if (fresh || at == 0 || now - at > kHostCheckNs) {
    host_free_.store(dev_->host_free_bytes(), std::memory_order_relaxed);
    host_checked_ns_.store(now, std::memory_order_relaxed);
  }
  return host_free_.load(std::memory_order_relaxed);
}

void PoolCore::reap(std::vector<std::shared_ptr<dmu::TxgDelta>> retired,
                    std::vector<zio::BlockPtr> freed) {
  wait_reaped();
  struct Remains {
    std::vector<std::shared_ptr<dmu::TxgDelta>> retired;
    std::vector<zio::BlockPtr> freed;
  };
  // On the thread of reap_pool_ (or here, if it has none).
  reaper_ = reap_pool_.submit(
      [arc = arc_.get(), remains = Remains{std::move(retired), std::move(freed)}]() mutable {
        arc->evict(remains.freed);
        remains.retired.clear();
        remains.freed.clear();
      });
}

void PoolCore::wait_reaped() {
  if (reaper_.valid()) reaper_.get();
}

Status PoolCore::wait_synced(uint64_t txg) {
  std::unique_lock lk(sync_mu_);
  if (want_txg_ < txg) want_txg_ = txg;
  sync_cv_.notify_one();
  done_cv_.wait(lk, [&] { return synced_txg_ >= txg || !failed_.ok() || stop_; });
  if (synced_txg_ >= txg) return ok_status();
  return make_error(EIO, failed_.ok() ? "pool closed" : "pool failed: txg commit error");
}

Status PoolCore::admit(uint64_t bytes, bool need_space, dmu::Object* o, uint64_t off) {
  ZVFS_TRY(check_writable());
  const bool bulk = bytes > kSmallChangeBytes;
  // The object's dirty data in both txgs: once a commit has closed the txg (and waits for the
  // device), a stream is still one.
  const bool stream = !bulk && bytes > 0 && o != nullptr &&
                      o->open_dirty_bytes.load(std::memory_order_relaxed) +
                              o->syncing_dirty_bytes.load(std::memory_order_relaxed) >
                          cfg_.dirty_max_bytes / kStreamShareDiv;
  const uint64_t max =
      bulk || stream ? cfg_.dirty_max_bytes - cfg_.dirty_max_bytes / 8 : cfg_.dirty_max_bytes;
  if (commit_due()) kick();
  if (bulk) {
    // The soft throttle (dirty_delay.h), outside every lock; the limit below still holds.
    const uint64_t delay = dirty_delay_ns(os_->dirty_bytes(), max, bytes);
    if (delay > 0) {
      delayed_ns_.fetch_add(delay, std::memory_order_relaxed);
      std::this_thread::sleep_for(std::chrono::nanoseconds(delay));
    }
  }
  if (os_->dirty_bytes() + bytes > max && os_->dirty_bytes() > 0) {
    std::unique_lock lk(sync_mu_);
    throttled_ = true;
    throttle_waits_.fetch_add(1, std::memory_order_relaxed);  // after the flag: tests rely on it
    for (int i = 0; i < 1000 && os_->dirty_bytes() + bytes > max && os_->dirty_bytes() > 0; i++) {
      if (stop_ || !failed_.ok()) break;
      if (want_txg_ <= synced_txg_) want_txg_ = synced_txg_ + 1;
      sync_cv_.notify_one();
      done_cv_.wait_for(lk, std::chrono::milliseconds(100));
    }
  }
  ZVFS_TRY(check_writable());
  if (!need_space) return ok_status();
  return find_room(bytes, o, off);
}

Status PoolCore::check_room(uint64_t bytes) {
  ZVFS_TRY(check_writable());
  return find_room(bytes, nullptr, kNoOffset);
}

Status PoolCore::reserve(uint64_t bytes) {
  if (bytes == 0) return check_writable();
  std::lock_guard lk(reserve_mu_);
  ZVFS_TRY(check_room(bytes));
  fallocated_.fetch_add(bytes, std::memory_order_relaxed);
  return ok_status();
}

void PoolCore::unreserve(uint64_t bytes) {
  fallocated_.fetch_sub(bytes, std::memory_order_relaxed);
}

Status PoolCore::admit_metadata() {
  ZVFS_TRY(admit(0, /*need_space=*/false));
  return find_room(0, nullptr, kNoOffset, /*metadata=*/true);
}

Status PoolCore::find_room(uint64_t bytes, dmu::Object* o, uint64_t off, bool metadata) {
  // Space: what is dirty (and this change) must fit outside the reserve, with room for the
  // metadata a commit rewrites. Deferred frees, dirty data and the open txg's other changes
  // (a delete, truncate or punch frees blocks when its txg commits) may free space: commit and
  // retry, until kDeferTxgs more commits have made those frees reusable.
  // A write that only replaces blocks (ObjectSet::replaces_blocks) may also use half of the
  // reserve: its commit frees what it takes, so on a pool full of new data a database still
  // rewrites its pages (a checkpoint, crash recovery, a log file it filled with zeros before
  // use), as it does in place on ext4; so may a change of metadata only (admit_metadata). The
  // other half stays for commits' metadata and deletes.
  std::optional<bool> half_reserve;  // not asked until the pool is that full
  bool host_bound = false;           // the host file system, not the pool, is what is full
  int64_t host = -1;
  for (int attempt = 0;; attempt++) {
    const alloc::AllocStats s = alloc_->stats();
    // A sparse pool file grows only as far as its file system lets it: what commits may write
    // must fit in space the file has plus what that file system can still give it.
    host = host_free_bytes();
    const uint64_t usable = host_bounded(s.free_bytes, *alloc_, host);
    host_bound = usable < s.free_bytes;
    // Space set aside by fallocates is not this change's (a write into it took its part).
    const uint64_t held = reserve_bytes_ + fallocated_.load(std::memory_order_relaxed);
    const uint64_t avail = usable > held ? usable - held : 0;
    const uint64_t dirty = os_->dirty_bytes();
    const uint64_t need = dirty + dirty / 32 + bytes + (1ull << 20);
    if (need <= avail) return ok_status();
    if (!half_reserve) {
      half_reserve = metadata;
      if (o != nullptr && off != kNoOffset && bytes > 0) {
        auto r = os_->replaces_blocks(*o, off, bytes);
        half_reserve = r.ok() && *r;
      }
    }
    const uint64_t floor = reserve_bytes_ / 2 + fallocated_.load(std::memory_order_relaxed);
    if (*half_reserve && need <= (usable > floor ? usable - floor : 0)) return ok_status();
    // Limited to written space since the host file system was full (SyncCtx::write): if it
    // has room again for what commits would write, all of the pool is usable again.
    if (s.written_only) {
      const int64_t host_free = host_free_bytes(/*fresh=*/true);
      if (host_free < 0 || static_cast<uint64_t>(host_free) >= need + kHostSlackBytes) {
        alloc_->lift_space_ceiling();
        host_full_logged_.store(false, std::memory_order_relaxed);
        LOG_INFO("spa",
                 "%s: its file system has room again (%lld bytes): all of the pool is usable",
                 path_.c_str(), static_cast<long long>(host_free));
        continue;
      }
    }
    if (attempt >= static_cast<int>(alloc::kDeferTxgs) + 1) break;
    if (s.deferred_bytes == 0 && dirty == 0 && !os_->has_changes()) break;
    ZVFS_TRY(wait_synced(os_->open_txg()));
  }
  if (host_bound || alloc_->space_ceiling() != 0) {
    if (!host_full_logged_.exchange(true, std::memory_order_relaxed))
      LOG_WARN("spa",
               "%s: the file system holding the pool file has %lld bytes free: the pool cannot "
               "grow into the rest of its size, and writes get ENOSPC (free space there, or "
               "create the pool on a file system with room for all of it)",
               path_.c_str(), static_cast<long long>(host));
    return make_error(ENOSPC, "the file system holding the pool file is full");
  }
  return make_error(ENOSPC, "pool is full");
}

Status PoolCore::sync_blob(dmu::Object& o) {
  ZVFS_TRY(check_writable());
  // Covered by the commit of a sync that was logging meanwhile (group commit), or ours to log.
  if (!os_->begin_log(o)) return check_writable();
  struct EndLog {
    dmu::ObjectSet& os;
    dmu::Object& o;
    ~EndLog() { os.end_log(o); }
  } end_log{*os_, o};
  const uint64_t max_bytes = std::min(kLogBytesPerSyncMax, zil_->capacity() / 8);
  ZVFS_ASSIGN_OR_RETURN(batch, os_->gather_unlogged(o, max_bytes));
  if (batch.wait_txg != 0) return wait_synced(batch.wait_txg);
  std::vector<dmu::ChangeRecord> deletes = os_->take_pending_deletes();
  batch.records.insert(batch.records.end(), deletes.begin(), deletes.end());
  if (batch.records.empty()) return check_writable();
  Status st = zil_->commit(batch.records);
  if (!st.ok()) os_->restore_pending_deletes(std::move(deletes));
  if (st.ok()) {
    os_->mark_logged(o, batch);
    if (zil_->used_bytes() > zil_->capacity() / 2) kick();
    return check_writable();
  }
  if (st.code() == ENOSPC) {  // the ring is full: commit the txgs that hold these changes
    uint64_t newest = 0;
    for (const auto& r : batch.records) newest = std::max(newest, r.txg);
    return wait_synced(newest);
  }
  return st;
}

Status PoolCore::sync_all() {
  ZVFS_TRY(check_writable());
  return wait_synced(os_->open_txg());
}

Status PoolCore::export_pool() {
  std::lock_guard ex(export_mu_);
  ZVFS_TRY(check_open());
  Status st = sync_all();
  stop_thread();
  if (st.ok() && !failed_flag_.load()) st = sync_one(spa::kUberblockFlagClean);
  closed_.store(true, std::memory_order_release);
  if (st.ok()) {
    LOG_INFO("spa", "exported pool %016llx (%s) at txg %llu",
             static_cast<unsigned long long>(label_.pool_guid), path_.c_str(),
             static_cast<unsigned long long>(synced_txg_));
  }
  return st;
}

void PoolCore::abandon() {
  std::lock_guard ex(export_mu_);
  stop_thread();
  closed_.store(true, std::memory_order_release);
}

PoolStats PoolCore::stats() const {
  PoolStats s;
  s.path = path_;
  s.pool_guid = label_.pool_guid;
  s.size_bytes = label_.layout.data_len;
  const alloc::AllocStats a = alloc_->stats();
  s.allocated_bytes = a.allocated_bytes;
  s.host_free_bytes = dev_->host_free_bytes();
  s.free_bytes = host_bounded(a.free_bytes, *alloc_, s.host_free_bytes);  // what can be written
  s.host_limited = s.free_bytes < a.free_bytes;
  s.reserve_bytes = reserve_bytes_;
  s.fallocated_bytes = fallocated_.load(std::memory_order_relaxed);
  s.format_version = label_.version;
  s.block_size = label_.layout.block_size;
  {
    std::lock_guard lk(sync_mu_);
    s.synced_txg = synced_txg_;
    s.blob_count = ub_.blob_count;
  }
  s.blob_count = os_->root().blob_count;
  s.txg = os_->open_txg();
  s.dirty_bytes = os_->dirty_bytes();
  s.dirty_max_bytes = cfg_.dirty_max_bytes;
  const arc::ArcStats c = arc_->stats();
  s.cache_bytes = c.bytes;
  s.cache_max_bytes = c.max_bytes;
  s.cache_hits = c.hits;
  s.cache_misses = c.misses;
  const zio::ZioStats z = zio_->stats();
  s.checksum_errors = z.checksum_errors;
  s.io_errors = z.io_errors;
  const zil::ZilStats l = zil_->stats();
  s.log_records = l.records;
  s.log_syncs = l.blocks;
  s.log_bytes_written = l.bytes_written;
  s.throttle_waits = throttle_waits_.load(std::memory_order_relaxed);
  s.throttle_delay_ns = delayed_ns_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace zvfs::engine
