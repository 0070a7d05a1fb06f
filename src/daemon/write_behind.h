// write_behind.h — applies the clients' write-behinds, daemon-wide, in order.
//
// A client may answer a small overwrite to its application as soon as it has published the
// request in its slot (write-behind: ipc/shm.h), so the daemon must make such a write visible
// before any request that could observe it, in whatever session that request comes from:
//
//   * A write-behind is applied only by settle(), under one daemon-wide lock (apply_mu_). A
//     worker never claims one by itself: it calls settle() when it finds one.
//   * Before serving any request, a worker calls settle() if some session's behind_pending
//     (the region header's count, raised by the client before it publishes) is not 0.
//   * settle() collects every write-behind in state kRequest from every registered session,
//     scanning twice (a request seen in the second scan of a session may have been published
//     before one seen in the first), claims them (kRequest -> kServing), sorts them by their
//     stamps and applies them in that order, all under the lock. So a write-behind in state
//     kServing has always been applied, and no later write is applied before an earlier one.
//   * Replies, and the syncs that clients asked for with sync_after, come after the lock is
//     released: a sync waits for the device and must not hold up other sessions' requests.
//     Nor does the worker that settled run another session's sync (nor its own session's, when
//     it settled before serving a request): it hands the slot to that session's workers and
//     rings them. Before such a sync the worker settles again, so that it covers every
//     write-behind published before the client asked for it.
//
// Cost: the lock is held while the writes are applied, and a write that meets the dirty-data
// limit waits there for a commit: requests of other sessions that must settle meanwhile wait
// with it, as their own writes would. Write-behinds are at most 64 KiB, under the size at which
// the engine's soft throttle delays a change.
//
// Stamps are the clients' CLOCK_MONOTONIC at publication. A write that returned before
// another was called has the smaller stamp; a client lying about its stamps only reorders its
// own writes against concurrent ones, which had no order.
//
// Sessions register after their hello and leave after their last settle(), before their region
// is unmapped; the registry's lock is held shared by every settle() (until its replies are
// written) and any_pending(), so remove() waits until no settle() can touch the session.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <vector>

namespace zvfs::daemon {

class Session;

class WriteBehind {
 public:
  // One claimed write-behind, applied; its reply (and sync) still to come.
  struct Item {
    Session* session = nullptr;
    uint32_t slot = 0;
    uint64_t stamp = 0;
    int64_t result = 0;  // of the write (bytes or -errno)
  };

  // Off (zvfsd --write-behind no, the default): no client is allowed to write behind, so no
  // request looks for pending ones (a client that writes behind anyway orders only its own).
  void set_enabled(bool on) { enabled_.store(on, std::memory_order_relaxed); }
  void add(Session* s);
  void remove(Session* s);  // waits for settle() calls in progress
  size_t sessions() const;

  // Whether any registered session may have a write-behind pending. self: the session whose
  // request is about to be served (registered), or null.
  bool any_pending(const Session* self) const;
  // Applies every pending write-behind of every session (and of `self`'s slots whatever its
  // count says) in stamp order, then replies to them. The syncs their clients joined to them
  // run here only for `sync_here`'s own (a worker of that session with nothing else to serve);
  // any other session's are handed to that session's workers (Session::finish_behind), so a
  // request never waits for a device flush it did not ask for. Safe to call from any worker.
  void settle(Session* self, Session* sync_here = nullptr);
  // The same, for a caller inside settle() (Session::finish_behind): the registry is held.
  void settle_registered(Session* self, Session* sync_here = nullptr);

 private:
  mutable std::shared_mutex registry_mu_;
  std::vector<Session*> sessions_;
  std::atomic<size_t> count_{0};  // sessions_.size()
  std::atomic<bool> enabled_{true};
  std::mutex apply_mu_;
};

}  // namespace zvfs::daemon
