// pool_core.h — the state of one imported pool, shared by the Pool and its Blob handles.
//
// A PoolCore owns the whole engine stack of one pool: the vdev, the I/O pipeline, the
// allocator, the ARC, the object set (dmu), the intent log (zil), the last durable uberblock
// and the txg sync thread. Pool and Blob objects are thin handles holding a shared_ptr to it,
// so a handle that outlives its Pool fails cleanly (EIO) instead of touching freed memory.
//
// Txg sync (txg_sync.cc): the sync thread commits the open txg every txg_interval_ms, when dirty
// data passes 60% of dirty_max_bytes (20% for a txg of new blocks only: commit_due), when the
// intent log is half full, or on demand (sync_all, a sync() with too much to log). Writers wait
// (throttle) while dirty data is at dirty_max_bytes; large changes are delayed before that, the
// more the closer dirty data is to it (dirty_delay.h), and stop an eighth below it, as do the
// small changes of an object that streams them. Commit order: data and metadata blocks (dmu)
// -> space map -> flush -> uberblock -> flush; then the new state is installed, deferred frees are
// released to the allocator and the intent log is trimmed.
//
// Failure: if any write or flush of a txg fails, the pool is failed: every later change,
// sync() and sync_all() returns EIO (nothing acknowledged afterwards could be made durable),
// reads still work, and the device still imports (to the last durable txg plus the log).
//
// Crash: nothing is overwritten in place except uberblock ring slots and the log ring, so a
// crash at any instant leaves the newest valid uberblock's state intact; import replays the
// intent log on top of it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/task_pool.h"
#include "engine/alloc/allocator.h"
#include "engine/arc/arc.h"
#include "engine/dmu/objset.h"
#include "engine/spa/label.h"
#include "engine/spa/uberblock.h"
#include "engine/vdev/vdev.h"
#include "engine/zil/zil.h"
#include "engine/zio/zio.h"
#include "zvfs/blob.h"

namespace zvfs::engine {

class PoolCore {
 public:
  // Creates (create == true) or imports the pool on `dev`, replays the log and commits.
  static Result<std::shared_ptr<PoolCore>> open(std::unique_ptr<vdev::Vdev> dev,
                                                const PoolConfig& cfg, bool create,
                                                const std::string& path);
  ~PoolCore();
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  dmu::ObjectSet& objset() { return *os_; }

  // Entry checks: EIO once the pool is closed (or, for changes, failed).
  Status check_open() const;
  Status check_writable() const;
  // Before a change of `bytes` new data (to object `o`, if any): throttles on dirty data and, if
  // need_space, refuses (ENOSPC) what could not be committed. Changes that mostly free space
  // pass need_space = false so they work on a full pool. A write at `off` whose blocks all hold
  // data already may also use half of the reserve (see admit()).
  static constexpr uint64_t kNoOffset = ~0ull;
  Status admit(uint64_t bytes, bool need_space = true, dmu::Object* o = nullptr,
               uint64_t off = kNoOffset);
  // ENOSPC unless `bytes` more data would be admitted now (admit()'s space rule, without its
  // throttle): fallocate's check.
  Status check_room(uint64_t bytes);
  // fallocate's set-aside: ENOSPC unless `bytes` more data would be admitted now; else holds
  // them back from every other change's admission until unreserve() gives them back (the
  // writes they were set aside for, or the handle's end). One at a time (reserve_mu_), so two
  // cannot both take the last free space.
  Status reserve(uint64_t bytes);
  void unreserve(uint64_t bytes);
  // Before a change of metadata only (a create, a small xattr): like a rewrite, it may use half
  // of the reserve, so a file can be created on a pool full of data, as on ext4 (its data
  // then gets ENOSPC).
  Status admit_metadata();

  Status sync_blob(dmu::Object& o);
  Status sync_all();
  Status export_pool();
  void abandon();  // tests: stop without committing (as if the power went out)
  PoolStats stats() const;
  Result<ScrubReport> scrub(const std::function<void(const ScrubProgress&)>& progress);
  Result<CheckReport> check();
  Result<uint32_t> upgrade_format();
  Result<uint64_t> grow();

 private:
  PoolCore() = default;
  Status wait_synced(uint64_t txg);
  void kick();
  // Whether dirty data calls for a commit now. At 60% of the bound always. At 20% already if
  // the open txg absorbs (almost) no overwrites, i.e. a stream of new blocks: waiting for 60%,
  // a bulk writer refilled 150 MiB at memory speed after every other commit while the device
  // idled (1 MiB O_DIRECT writes through the daemon, 8 alternating rounds: means 1316-1439 ->
  // 1447-1556 MB/s at 20%). A txg that absorbs overwrites grows on: committing random 16 KiB
  // overwrites of a 256 MiB file at 20% wrote more blocks a larger txg would have overwritten
  // in memory (about 10% fewer IOPS).
  bool commit_due() const {
    const uint64_t dirty = os_->dirty_bytes();
    if (dirty > cfg_.dirty_max_bytes / 10 * 6) return true;
    return dirty > cfg_.dirty_max_bytes / 5 &&
           os_->open_absorbed_bytes() * 16 < os_->open_new_bytes();
  }
  void sync_loop();
  Status sync_one(uint32_t flags);
  // After a commit: drops its freed blocks from the cache and frees its deltas on the reap thread
  // (reap_pool_; 1-2 ms for 100 MiB of 16 KiB blocks, which the sync thread spent before it
  // could start the next commit while the device idled). One at a time: the previous one is
  // waited for first. Evicting late is safe: cache keys carry the birth txg and checksum, and
  // deferred frees are reused two commits later, after the next reap has waited for this one.
  void reap(std::vector<std::shared_ptr<dmu::TxgDelta>> retired, std::vector<zio::BlockPtr> freed);
  void wait_reaped();
  // The vdev's host_free_bytes(), read at most every few tens of ms (fresh: now).
  int64_t host_free_bytes(bool fresh = false);
  void stop_thread();
  void pause_sync();  // wait until the sync thread is idle and keep it so
  void resume_sync();

  PoolConfig cfg_;
  std::string path_;
  std::unique_ptr<vdev::Vdev> dev_;
  std::unique_ptr<zio::Pipeline> zio_;
  std::unique_ptr<alloc::Allocator> alloc_;
  std::unique_ptr<arc::Arc> arc_;
  std::unique_ptr<dmu::ObjectSet> os_;
  std::unique_ptr<zil::IntentLog> zil_;
  spa::Label label_;
  uint64_t reserve_bytes_ = 0;
  std::mutex reserve_mu_;
  std::atomic<uint64_t> fallocated_{0};  // set aside by reserve()
  // admit()'s space rule; `metadata`: admit_metadata()'s.
  Status find_room(uint64_t bytes, dmu::Object* o, uint64_t off, bool metadata = false);

  mutable std::mutex sync_mu_;
  std::condition_variable sync_cv_;  // wakes the sync thread
  std::condition_variable done_cv_;  // a txg finished (or the pool failed)
  std::thread thread_;
  bool stop_ = false;
  bool pause_ = false;      // check(): keep the sync thread idle
  bool syncing_ = false;    // the sync thread is inside sync_one
  uint64_t want_txg_ = 0;   // commit at least up to this txg
  bool throttled_ = false;  // a writer waited on the throttle since the last commit began
  uint64_t synced_txg_ = 0;
  spa::Uberblock ub_;  // the last durable uberblock
  Status failed_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> failed_flag_{false};
  std::atomic<uint64_t> throttle_waits_{0};
  std::atomic<uint64_t> delayed_ns_{0};  // slept by the soft throttle (dirty_delay.h)
  std::atomic<int64_t> host_free_{-1};   // host_free_bytes(), as last read
  std::atomic<uint64_t> host_checked_ns_{0};
  std::atomic<bool> host_full_logged_{false};  // admission said why it refuses (once)
  std::mutex export_mu_;
  std::future<void> reaper_;            // the last reap (sync thread, or export after it stopped)
  TaskPool reap_pool_{"zvfs-reap", 1};  // last: its thread stops before anything it uses goes
};

}  // namespace zvfs::engine
