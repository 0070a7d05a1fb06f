// write_behind.cc — the daemon-wide order of write-behinds (see write_behind.h).
#include "daemon/write_behind.h"

#include <algorithm>

#include "daemon/session.h"

namespace zvfs::daemon {

void WriteBehind::add(Session* s) {
  std::unique_lock g(registry_mu_);
  sessions_.push_back(s);
  count_.store(sessions_.size(), std::memory_order_release);
}

void WriteBehind::remove(Session* s) {
  std::unique_lock g(registry_mu_);
  sessions_.erase(std::remove(sessions_.begin(), sessions_.end(), s), sessions_.end());
  count_.store(sessions_.size(), std::memory_order_release);
}

size_t WriteBehind::sessions() const {
  return count_.load(std::memory_order_acquire);
}

bool WriteBehind::any_pending(const Session* self) const {
  if (!enabled_.load(std::memory_order_relaxed)) return false;
  // The caller's session alone (a single client process, the common case of one application):
  // its own region, without the registry's lock. Another session that a write-behind could
  // have come from registered before its hello was answered, so before that write returned,
  // so before the caller's request was sent: the count read after claiming the request sees it.
  if (self && count_.load(std::memory_order_acquire) <= 1) return self->behind_pending();
  std::shared_lock g(registry_mu_);
  for (Session* s : sessions_)
    if (s->behind_pending()) return true;
  return false;
}

void WriteBehind::settle(Session* self, Session* sync_here) {
  // Held until the replies are written too: no session in the list goes away under them.
  std::shared_lock reg(registry_mu_);
  settle_registered(self, sync_here);
}

void WriteBehind::settle_registered(Session* self, Session* sync_here) {
  // Not thread_local: finish_behind() may settle again (before a sync a client asked for).
  std::vector<Item> items;
  {
    std::lock_guard apply(apply_mu_);
    const bool self_listed =
        self && std::find(sessions_.begin(), sessions_.end(), self) != sessions_.end();
    for (int pass = 0; pass < 2; ++pass) {
      for (Session* s : sessions_)
        if (s == self || s->behind_pending()) s->claim_behind(&items);
      if (self && !self_listed) self->claim_behind(&items);
    }
    std::stable_sort(items.begin(), items.end(),
                     [](const Item& a, const Item& b) { return a.stamp < b.stamp; });
    for (Item& it : items) it.session->apply_behind(&it);
  }
  for (const Item& it : items) it.session->finish_behind(it, it.session == sync_here);
}

}  // namespace zvfs::daemon
