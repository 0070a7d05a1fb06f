// session.cc — one client connection: control messages, attach, slot workers (see session.h).
#include "daemon/session.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <climits>

#include "common/log.h"
#include "common/thread_name.h"
#include "common/ticks.h"
#include "daemon/binding.h"
#include "daemon/file_limit.h"
#include "daemon/placeholder_guard.h"
#include "daemon/side_fsync.h"
#include "ipc/doorbell.h"
#include "ipc/sock.h"

namespace zvfs::daemon {
namespace {

// After a reply that had to wake a sleeping client, that client needs a wake-up (50-60 us on
// the other CPU) before it can send again: a shorter spin (--poll-us) would end just before it
// comes back and both sides would sleep on every request. Spin past the wake-up latency.
constexpr uint64_t kSpinAfterWakeNs = 200 * 1000;
constexpr uint64_t kSpinWindowNs = 2 * 1000 * 1000;  // spin only if a request came this recently
// No spin after a request this large: its client needs longer than a wake-up to copy the next
// one into the slot, and a spinning worker would only take a CPU from the txg commit that such
// writes wait for (1 MiB O_DIRECT writes: 1287 -> 1346 MB/s, mean of 9 alternating runs).
constexpr uint64_t kBulkBytes = 256 * 1024;
// The largest read or write that a spinning worker serves without withdrawing (quick_request).
constexpr uint64_t kQuickBytes = 64 * 1024;
// Bounded futex sleep of an idle worker: stop_workers() wakes sleepers at once; the bound only
// covers a worker that checked `stopping_` just before it was set. Long, so idle sessions cost
// (almost) nothing.
constexpr int64_t kSleepNs = 1000ll * 1000 * 1000;
constexpr uint32_t kMaxHandlesPerSession = ipc::kSizeCells;  // one size cell per handle

// Binding a new blob to an unbound file happens under this lock, so two sessions attaching the
// same new file at once end up with one blob (the loser re-reads the winner's binding).
std::mutex g_bind_mu;

// Hostile or broken clients must not flood the log: the first 50 complaints, then one in 1000.
bool complaint_allowed() {
  static std::atomic<uint64_t> n{0};
  uint64_t k = n.fetch_add(1, std::memory_order_relaxed);
  return k < 50 || k % 1000 == 0;
}

}  // namespace

// Whether this session's client may turn the empty unbound file st into a ZVFS file: through a
// writable descriptor, or as its owner or root (who could open it for writing). Any opener, not
// only the one that created it: a process that opens a file another one has just created, before
// that one's attach bound it, must not take it for a plain file (it would read the placeholder's
// holes once the creator writes); whichever attach comes first binds it. A reader that could not
// write the file does not change it; such a one racing the creator reads it as a plain file, and
// the placeholder guard refuses its reads once the file is bound.
bool Session::may_bind_empty_file(const struct stat& st, int accmode) const {
  return accmode != O_RDONLY || uid_ == 0 || uid_ == st.st_uid;
}

Handle::~Handle() {
  if (ob && table && cell) table->remove_cell(*ob, cell);
  // A writable handle can set the placeholder's lagging st_size itself (the last release,
  // perhaps through a read-only handle, would need a write-only reopen of the file), and with
  // it the mtime.
  if (ob && table && fd >= 0 && accmode != O_RDONLY) table->settle_placeholder(*ob, fd, true);
  if (ob && table) table->release(ob, fd);
  if (fd >= 0) close(fd);
}

Session::Session(Context& ctx, int sock, uint64_t id) : ctx_(ctx), sock_(sock), id_(id) {
  ipc::sock_peer(sock_, &pid_, &uid_, &gid_);
}

Session::~Session() {
  join();
  if (sock_ >= 0) close(sock_);
}

void Session::start() {
  control_ = std::thread([this] { control_loop(); });
}

void Session::shutdown() {
  stopping_.store(true);
  // SHUT_RD only: the control thread sees end-of-file after the message it is handling, whose
  // reply (e.g. to the shutdown request itself) still goes out.
  ::shutdown(sock_, SHUT_RD);
}

void Session::join() {
  if (control_.joinable()) control_.join();
}

size_t Session::handle_count() const {
  std::shared_lock<std::shared_mutex> g(handles_mu_);
  return live_handles_;
}

// ---- control socket --------------------------------------------------------------------------

void Session::control_loop() {
  char name[16];
  std::snprintf(name, sizeof name, "zvfsd-c%d", static_cast<int>(pid_));
  name_this_thread(name);
  LOG_DEBUG("daemon", "session %" PRIu64 ": client pid %d uid %u connected", id_,
            static_cast<int>(pid_), static_cast<unsigned>(uid_));
  alignas(8) uint8_t buf[sizeof(ipc::MsgHeader) + 64];
  while (!stopping_.load()) {
    size_t got = 0;
    int fd = -1;
    // Until its handshake a connection may not sit idle: a flood of silent connections would
    // otherwise hold every session place (--max-sessions) and lock real clients out.
    int timeout = hello_done_ ? -1 : static_cast<int>(ctx_.opts->handshake_ms);
    int r = ipc::sock_recv(sock_, buf, sizeof buf, &got, &fd, timeout);
    if (r == -ETIMEDOUT) {
      ctx_.bad_requests.fetch_add(1);
      if (complaint_allowed())
        LOG_WARN("daemon",
                 "session %" PRIu64 " (pid %d): no handshake and no request for %u ms; closing",
                 id_, static_cast<int>(pid_), ctx_.opts->handshake_ms);
      break;
    }
    if (r < 0 || got == 0) {
      if (r < 0 && r != -ECONNRESET) {
        ctx_.bad_requests.fetch_add(1);
        if (complaint_allowed())
          LOG_WARN("daemon", "session %" PRIu64 " (pid %d): bad control message (%s); closing", id_,
                   static_cast<int>(pid_), strerror(-r));
      }
      break;
    }
    if (!handle_socket_message(buf, got, fd)) break;
  }
  stop_workers();
  // Write-behinds the client published before it went (or before the daemon stopped) are
  // applied, as the kernel keeps an exited process's dirty pages; then no settle() of another
  // session looks at this region any more.
  if (data_session_.load()) {
    ctx_.behind.settle(this, this);
    ctx_.behind.remove(this);
    run_deferred_syncs();  // handed to workers that are gone; no settle() can add any now
  }
  size_t released = 0;
  {
    std::unique_lock<std::shared_mutex> g(handles_mu_);
    released = live_handles_;
    handles_.clear();  // drops references; workers are gone, so these are the last ones
    live_handles_ = 0;
  }
  {
    std::lock_guard<std::mutex> g(hint_mu_);  // no spin hint is being written into it
    if (ipc::RegionHeader* h = header_.exchange(nullptr); h && ctx_.guard) ctx_.guard->unwatch(h);
  }
  region_.unmap();
  LOG_DEBUG("daemon", "session %" PRIu64 ": client pid %d gone, %zu handles released", id_,
            static_cast<int>(pid_), released);
  finished_.store(true);
}

bool Session::handle_socket_message(const uint8_t* buf, size_t len, int fd) {
  ipc::MsgHeader h;
  alignas(8) uint8_t body[64];
  Status st = ipc::decode_request(buf, len, &h, body, sizeof body);
  alignas(8) uint8_t out[sizeof(ipc::MsgHeader) + 64];
  auto reply = [&](int32_t status, const void* rep, uint32_t rep_len, int pass_fd) {
    size_t n = ipc::encode_message(h.opcode | ipc::kReplyBit, h.request_id, status, rep, rep_len,
                                   out, sizeof out);
    return n && ipc::sock_send(sock_, out, n, pass_fd) == 0;
  };
  if (!st.ok()) {
    if (fd >= 0) close(fd);
    ctx_.bad_requests.fetch_add(1);
    if (complaint_allowed())
      LOG_WARN("daemon", "session %" PRIu64 " (pid %d): %s; closing the connection", id_,
               static_cast<int>(pid_), st.error().msg);
    if (len >= sizeof(h) && st.code() == EPROTONOSUPPORT) reply(-EPROTONOSUPPORT, nullptr, 0, -1);
    return false;
  }
  auto op = static_cast<ipc::Op>(h.opcode);
  bool ok = true;
  switch (op) {
    case ipc::Op::kHello: {
      ipc::HelloReq req;
      memcpy(&req, body, sizeof req);
      ipc::HelloRep rep;
      int memfd = -1;
      int32_t s = do_hello(req, &memfd, &rep);
      ok = reply(s, &rep, sizeof rep, memfd) && s == 0;
      if (memfd >= 0) close(memfd);
      // After the reply: the client maps the region meanwhile. A request it publishes before
      // a worker runs waits in its slot; each worker scans the slots before anything else.
      if (s == 0) start_workers();
      break;
    }
    case ipc::Op::kAttach: {
      ipc::AttachReq req;
      memcpy(&req, body, sizeof req);
      ipc::AttachRep rep;
      int32_t s = do_attach(req, fd, &rep);
      fd = -1;  // consumed
      ok = reply(s, &rep, sizeof rep, -1);
      break;
    }
    case ipc::Op::kReleaseIfUnlinked: {
      int32_t s = do_release_if_unlinked(fd);
      fd = -1;  // consumed (closed by do_release_if_unlinked)
      ok = reply(s, nullptr, 0, -1);
      break;
    }
    case ipc::Op::kStatFile: {
      ipc::StatFileRep rep;
      int32_t s = do_stat_file(fd, &rep);
      fd = -1;  // consumed (closed by do_stat_file)
      ok = reply(s, &rep, sizeof rep, -1);
      break;
    }
    case ipc::Op::kStats:
    case ipc::Op::kScrubStart:
    case ipc::Op::kScrubStatus:
    case ipc::Op::kShutdown: {
      if (!admin_) {
        ok = reply(-ENOSYS, nullptr, 0, -1);
        break;
      }
      std::vector<uint8_t> big(sizeof(ipc::MsgHeader) + ipc::kMaxSocketPayload);
      int32_t s = 0;
      size_t n = admin_(admin_arg_, *this, op, big.data() + sizeof(ipc::MsgHeader),
                        ipc::kMaxSocketPayload, &s);
      size_t m = ipc::encode_message(h.opcode | ipc::kReplyBit, h.request_id, s,
                                     big.data() + sizeof(ipc::MsgHeader), static_cast<uint32_t>(n),
                                     big.data(), big.size());
      ok = m && ipc::sock_send(sock_, big.data(), m, -1) == 0;
      break;
    }
    default:  // a data-path op sent over the socket
      ctx_.bad_requests.fetch_add(1);
      ok = reply(-EPROTO, nullptr, 0, -1);
      break;
  }
  if (fd >= 0) close(fd);
  return ok;
}

void Session::publish_spin_hint(bool ok) {
  std::lock_guard<std::mutex> g(hint_mu_);
  ipc::RegionHeader* h = header_.load(std::memory_order_acquire);
  if (h && h->spin_ok.load(std::memory_order_relaxed) != (ok ? 1u : 0u))
    h->spin_ok.store(ok ? 1 : 0, std::memory_order_relaxed);
}

void Session::publish_behind_ok(bool ok) {
  std::lock_guard<std::mutex> g(hint_mu_);
  ipc::RegionHeader* h = header_.load(std::memory_order_acquire);
  if (h && h->behind_ok.load(std::memory_order_relaxed) != (ok ? 1u : 0u))
    h->behind_ok.store(ok ? 1 : 0, std::memory_order_relaxed);
}

int32_t Session::do_hello(const ipc::HelloReq& req, int* memfd_out, ipc::HelloRep* rep) {
  if (hello_done_) return -EPROTO;
  if (req.client_version != ipc::kSessionVersion) return -EPROTONOSUPPORT;
  const Options& o = *ctx_.opts;
  int fd = region_.create(o.slot_count, o.slot_bytes);
  if (fd < 0) {
    LOG_ERROR("daemon", "session %" PRIu64 ": creating shared memory: %s", id_, strerror(-fd));
    return fd;
  }
  hello_done_ = true;
  data_session_.store(true);
  region_.header()->spin_ok.store(ctx_.spin_ok.load() ? 1 : 0);
  header_.store(region_.header(), std::memory_order_release);
  ctx_.behind.add(this);
  if (ctx_.guard) ctx_.guard->watch(region_.header());
  *memfd_out = fd;
  rep->session_id = id_;
  rep->region_bytes = ipc::region_bytes(o.slot_count, o.slot_bytes);
  rep->slot_count = o.slot_count;
  rep->slot_data_bytes = o.slot_bytes;
  return 0;
}

void Session::start_workers() {
  for (uint32_t i = 0; i < ctx_.opts->session_workers; ++i)
    workers_.emplace_back([this] { worker_loop(); });
}

int32_t Session::do_attach(const ipc::AttachReq& req, int fd, ipc::AttachRep* rep) {
  *rep = ipc::AttachRep{};
  if (fd < 0) return -EBADF;
  if (!hello_done_) {
    close(fd);
    return -EPROTO;
  }
  // An attach reads the blob's size and may truncate it (O_TRUNC): after every write-behind
  // that returned before the open was called, as for any slot request.
  if (ctx_.behind.any_pending(this)) ctx_.behind.settle(nullptr);
  struct stat st;
  int fl = fcntl(fd, F_GETFL);
  if (fstat(fd, &st) != 0 || fl < 0 || (fl & O_PATH) || !S_ISREG(st.st_mode)) {
    close(fd);
    return 0;  // not a regular file opened for I/O: never a ZVFS file
  }
  int accmode = fl & O_ACCMODE;
  auto found = open_bound_blob(fd, st, accmode, req.may_bind != 0);
  if (!found.ok()) {
    close(fd);
    return -found.code();
  }
  std::shared_ptr<OpenBlob> ob = *found;
  if (!ob) {
    close(fd);
    return 0;
  }
  if (ctx_.guard) {
    ctx_.guard->protect(fd);
    ctx_.guard->guard_directory_of(fd, st);  // a directory made since the daemon started
  }
  ctx_.blobs->note_attached(*ob, fd);
  uint64_t size = ob->blob->size();
  // The caller's open(O_TRUNC) truncated the placeholder: the blob follows.
  if ((req.open_flags & O_TRUNC) && accmode != O_RDONLY && st.st_size == 0 && size != 0) {
    Status ts = ob->blob->truncate(0);
    if (!ts.ok()) {
      ctx_.blobs->release(ob, -1);
      close(fd);
      return -ts.code();
    }
    size = 0;
    ob->mirrored_size.store(0);
    ctx_.blobs->publish_size(*ob, fd, true);  // other handles' size cells
  }
  // The placeholder's st_size follows a growing blob lazily (blob_table.h): if it still shows
  // what this daemon last set, it is only behind and is caught up quietly. Otherwise a crash
  // lost growth that was never synced: the blob's size is the truth, and the repair is logged.
  if (static_cast<uint64_t>(st.st_size) != size) {
    const bool behind = static_cast<uint64_t>(st.st_size) == ob->mirrored_size.load();
    if (ctx_.blobs->mirror_now(*ob, fd) && !behind)
      LOG_INFO("daemon", "inode %" PRIu64 ": placeholder size %" PRIu64 " repaired to %" PRIu64,
               static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size), size);
  }
  auto h = std::make_shared<Handle>();
  h->ob = ob;
  h->fd = fd;
  h->accmode = accmode;
  h->max_bytes = placeholder_max_bytes(fd, st);
  h->table = ctx_.blobs;
  int num = add_handle(h);
  if (num < 0) return num;  // h's destructor releases the blob and closes fd
  // The handle's size cell (the client reads SEEK_END from it). Handles die before the region
  // is unmapped (finish(): workers joined, handles cleared, then unmap).
  h->cell = region_.size_cell(static_cast<uint32_t>(num));
  ctx_.blobs->add_cell(*ob, h->cell);
  rep->handle = num;
  rep->zvfs = 1;
  rep->size = size;
  rep->blob_id = ob->id;
  return 0;
}

// The blob fd's inode is bound to, or a new one for an empty unbound file (may_bind: the
// client's open may bind it; see may_bind_empty_file); nullptr for a plain file. Verifies the
// binding both ways (pool guid, blob owner tag).
Result<std::shared_ptr<OpenBlob>> Session::open_bound_blob(int fd, const struct stat& st,
                                                           int accmode, bool may_bind) {
  OwnerTag owner = owner_of(fd, st);
  auto ino = static_cast<uint64_t>(st.st_ino);
  int pid = static_cast<int>(pid_);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto bound = read_binding(fd, ctx_.binding_xattr, false);
    bool lost = false;  // bound to a blob of this pool that a crash took before it was durable
    if (bound.ok()) {
      if (bound->pool_guid != ctx_.pool_guid) {
        LOG_WARN("daemon",
                 "pid %d: inode %" PRIu64 " is bound to another pool (%016" PRIx64
                 "); treated as a plain file",
                 pid, ino, bound->pool_guid);
        return std::shared_ptr<OpenBlob>();
      }
      auto a = ctx_.blobs->acquire(bound->id);
      if (a.ok()) {
        if (blob_owned_by(*(*a)->blob, owner)) return *a;
        LOG_WARN("daemon",
                 "pid %d uid %u: inode %" PRIu64 " names blob %" PRIu64
                 " that belongs to another inode (forged or copied binding); refused",
                 pid, static_cast<unsigned>(uid_), ino, bound->id);
        ctx_.blobs->release(*a, -1);
        return std::shared_ptr<OpenBlob>();
      }
      if (a.code() != ENOENT) return a.error();
      if (accmode == O_RDONLY) {
        LOG_WARN("daemon",
                 "pid %d: inode %" PRIu64 " names blob %" PRIu64
                 " which does not exist (lost in a crash?); read as a plain file",
                 pid, ino, bound->id);
        return std::shared_ptr<OpenBlob>();
      }
      lost = true;
    } else if (bound.code() != ENODATA) {
      LOG_WARN("daemon", "pid %d: inode %" PRIu64 ": %s; treated as a plain file", pid, ino,
               bound.error().msg);
      return std::shared_ptr<OpenBlob>();
    } else if (!may_bind || st.st_size != 0 || !may_bind_empty_file(st, accmode)) {
      return std::shared_ptr<OpenBlob>();  // unbound: only empty files become ZVFS files
    }
    std::lock_guard<std::mutex> g(g_bind_mu);
    auto again = read_binding(fd, ctx_.binding_xattr, false);
    if (lost ? !(again.ok() && again->id == bound->id) : again.code() != ENODATA) continue;
    if (lost)
      LOG_WARN("daemon",
               "pid %d: inode %" PRIu64 " names blob %" PRIu64
               " of this pool which "
               "does not exist (created but never synced before a crash); the file starts "
               "over empty",
               pid, ino, bound->id);
    auto id = ctx_.pool->create_blob();
    if (!id.ok()) {
      LOG_ERROR("daemon", "creating a blob: %s", id.error().msg);
      return id.error();
    }
    auto a = ctx_.blobs->acquire(*id);
    Status s = a.ok() ? set_blob_owner(*(*a)->blob, owner) : Status(a.error());
    if (s.ok()) s = write_binding(fd, ctx_.binding_xattr, Binding{ctx_.pool_guid, *id}, lost);
    if (s.ok()) return *a;
    LOG_WARN("daemon", "binding inode %" PRIu64 " to a new blob failed: %s (%s)", ino,
             s.error().msg, strerror(s.code()));
    if (a.ok()) ctx_.blobs->release(*a, -1);
    (void)ctx_.pool->delete_blob(*id);
    if (s.code() != EEXIST && s.code() != ENODATA) return std::shared_ptr<OpenBlob>();
  }
  return std::shared_ptr<OpenBlob>();
}

int32_t Session::do_release_if_unlinked(int fd) {
  if (fd < 0) return -EBADF;
  if (ctx_.behind.any_pending(data_session_.load() ? this : nullptr))
    ctx_.behind.settle(nullptr);  // a deleted blob takes none
  struct stat st;
  int32_t r = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 0) {
    auto bound = read_binding(fd, ctx_.binding_xattr, true);
    if (bound.ok() && bound->pool_guid == ctx_.pool_guid) {
      auto a = ctx_.blobs->acquire(bound->id);
      if (a.ok()) {
        if (blob_owned_by(*(*a)->blob, owner_of(fd, st)))
          (void)ctx_.blobs->mark_unlinked(bound->id);
        else
          LOG_WARN("daemon",
                   "pid %d: release of blob %" PRIu64
                   " through an inode it does "
                   "not belong to; ignored",
                   static_cast<int>(pid_), bound->id);
        ctx_.blobs->release(*a, -1);
      }
    }
  } else if (fstat(fd, &st) != 0) {
    r = -errno;
  }
  close(fd);
  return r;
}

int32_t Session::do_stat_file(int fd, ipc::StatFileRep* rep) {
  if (fd < 0) return -EBADF;
  // The sizes after every write-behind that returned before the caller's stat, as for a handle.
  if (ctx_.behind.any_pending(data_session_.load() ? this : nullptr)) ctx_.behind.settle(nullptr);
  struct stat st;
  int32_t r = 0;
  if (fstat(fd, &st) != 0) {
    r = -errno;
  } else if (S_ISREG(st.st_mode)) {
    // Any descriptor, O_PATH ones included: the binding is read through /proc/self/fd/N.
    auto bound = read_binding(fd, ctx_.binding_xattr, true);
    if (bound.ok() && bound->pool_guid == ctx_.pool_guid) {
      auto a = ctx_.blobs->acquire(bound->id);
      if (a.ok()) {
        // A copied or forged binding names a blob of another inode: a plain file here too.
        if (blob_owned_by(*(*a)->blob, owner_of(fd, st))) {
          auto bs = (*a)->blob->stat();
          if (bs.ok()) {
            rep->size = bs->size;
            rep->allocated_bytes = bs->allocated_bytes;
            r = 1;
          } else {
            r = -bs.code();
          }
        }
        ctx_.blobs->release(*a, -1);
      }
    }
  }
  close(fd);
  return r;
}

// ---- handles ---------------------------------------------------------------------------------

std::shared_ptr<Handle> Session::get_handle(uint32_t h) const {
  std::shared_lock<std::shared_mutex> g(handles_mu_);
  return h < handles_.size() ? handles_[h] : nullptr;
}

int Session::add_handle(std::shared_ptr<Handle> h) {
  std::unique_lock<std::shared_mutex> g(handles_mu_);
  for (size_t i = 0; i < handles_.size(); ++i) {
    if (!handles_[i]) {
      handles_[i] = std::move(h);
      live_handles_++;
      return static_cast<int>(i);
    }
  }
  if (handles_.size() >= kMaxHandlesPerSession) return -EMFILE;
  handles_.push_back(std::move(h));
  live_handles_++;
  return static_cast<int>(handles_.size() - 1);
}

bool Session::remove_handle(uint32_t h) {
  std::shared_ptr<Handle> victim;  // destroyed outside the lock
  std::unique_lock<std::shared_mutex> g(handles_mu_);
  if (h >= handles_.size() || !handles_[h]) return false;
  victim = std::move(handles_[h]);
  live_handles_--;
  g.unlock();
  return true;
}

// ---- workers ---------------------------------------------------------------------------------

void Session::stop_workers() {
  stopping_.store(true);
  if (region_.mapped()) {
    region_.header()->doorbell.fetch_add(1);
    ipc::futex_wake(&region_.header()->doorbell, INT_MAX);
  }
  for (auto& t : workers_) t.join();
  workers_.clear();
}

namespace {
// Whether the request line holds a write-behind (a look before any claim: the client may still
// change it, so the copy taken after the claim decides).
bool looks_behind(const ipc::RequestLine* s) {
  return s->hdr.opcode == static_cast<uint16_t>(ipc::Op::kWrite) &&
         (s->req.arg & ipc::kWriteBehind) != 0;
}
}  // namespace

int Session::find_request() {
  uint32_t n = region_.slot_count();
  for (uint32_t i = 0; i < n; ++i) {
    ipc::RequestLine* s = &region_.slot(i)->request;
    if (s->state.load(std::memory_order_acquire) != ipc::kRequest) continue;
    if (looks_behind(s)) return kBehindFound;
    uint32_t expect = ipc::kRequest;
    if (s->state.compare_exchange_strong(expect, ipc::kServing, std::memory_order_acquire))
      return static_cast<int>(i);
  }
  return -1;
}

bool Session::behind_pending() const {
  ipc::RegionHeader* h = header_.load(std::memory_order_acquire);
  return h && h->behind_pending.load(std::memory_order_acquire) != 0;
}

void Session::claim_behind(std::vector<WriteBehind::Item>* out) {
  if (!region_.mapped()) return;
  const Ticks& clock = Ticks::get();
  for (uint32_t i = 0; i < region_.slot_count(); ++i) {
    ipc::RequestLine* s = &region_.slot(i)->request;
    if (s->state.load(std::memory_order_acquire) != ipc::kRequest || !looks_behind(s)) continue;
    uint32_t expect = ipc::kRequest;
    if (!s->state.compare_exchange_strong(expect, ipc::kServing, std::memory_order_acquire))
      continue;
    Claimed& c = claimed_[i];
    memcpy(&c.hdr, &s->hdr, sizeof c.hdr);
    memcpy(&c.req, &s->req, sizeof c.req);
    uint64_t stamp;
    memcpy(&stamp, &s->stamp, sizeof stamp);
    c.behind = ipc::check_request_header(c.hdr).ok() &&
               c.hdr.opcode == static_cast<uint16_t>(ipc::Op::kWrite) &&
               (c.req.arg & ipc::kWriteBehind) != 0;
    c.t0 = clock.now();
    out->push_back(WriteBehind::Item{this, i, stamp, 0});
  }
}

void Session::apply_behind(WriteBehind::Item* it) {
  Claimed& c = claimed_[it->slot];
  if (!c.behind) return;  // not a write-behind after all: finish_behind serves it
  ipc::IoReq w = c.req;
  w.arg = ipc::kWriteBehind;  // the write alone; a sync comes after the lock (finish_behind)
  ipc::IoRep rep{};
  it->result = serve_io(c.hdr.opcode, w, region_.data(it->slot), &rep);
  ctx_.behind_writes.fetch_add(1, std::memory_order_relaxed);
  // Lowered after the write is applied; never below 0, whatever the client wrote there.
  ipc::RegionHeader* h = region_.header();
  uint32_t n = h->behind_pending.load();
  while (n > 0 && !h->behind_pending.compare_exchange_weak(n, n - 1)) {
  }
}

void Session::finish_behind(const WriteBehind::Item& it, bool sync_here) {
  // A copy: once the reply is out, the client may publish again and another settle() claim it.
  const Claimed c = claimed_[it.slot];
  if (!c.behind) {
    uint64_t len = 0;
    (void)serve_claimed(it.slot, c.hdr, c.req, c.t0, &len, /*in_settle=*/true);
    return;
  }
  int64_t result = it.result;
  ipc::RequestLine* sl = &region_.slot(it.slot)->request;
  const uint32_t asked = sl->sync_after.exchange(ipc::kSyncTooLate, std::memory_order_seq_cst);
  if (result >= 0 && (asked == ipc::kSyncAsked || (c.req.arg & ipc::kWriteSync) != 0)) {
    if (asked == ipc::kSyncAsked) ctx_.behind_syncs.fetch_add(1, std::memory_order_relaxed);
    if (!sync_here) {
      // Not this caller's flush to wait for: one of our workers runs it (the slot stays
      // kServing, so claimed_[slot] stays put until that reply).
      claimed_[it.slot].result = result;
      deferred_syncs_.fetch_or(uint64_t{1} << it.slot, std::memory_order_release);
      if (ipc::RegionHeader* h = header_.load(std::memory_order_acquire)) {
        h->doorbell.fetch_add(1, std::memory_order_seq_cst);
        ipc::futex_wake(&h->doorbell, 1);
      }
      return;
    }
    // The client's fsync came before this point: it covers every write-behind published
    // before it, so settle those first (inside settle(): the registry is held).
    ctx_.behind.settle_registered(this, this);
    result = joined_sync(c.req.handle, result);
  }
  (void)reply_slot(it.slot, c.hdr, result, ipc::IoRep{}, c.t0);
}

int64_t Session::joined_sync(uint32_t handle, int64_t write_result) {
  std::shared_ptr<Handle> h = get_handle(handle);
  if (!h) return -EBADF;
  int e = sync_handle(*h);
  return e < 0 ? e : write_result;
}

void Session::run_deferred_syncs() {
  uint64_t m = deferred_syncs_.exchange(0, std::memory_order_acquire);
  if (m == 0) return;
  // As in finish_behind: every write-behind published before a client asked comes first. Each
  // ask came before its bit was set, so one settle after taking the bits covers them all.
  ctx_.behind.settle(this, this);
  while (m != 0) {
    const uint32_t i = static_cast<uint32_t>(__builtin_ctzll(m));
    m &= m - 1;
    const Claimed c = claimed_[i];
    (void)reply_slot(i, c.hdr, joined_sync(c.req.handle, c.result), ipc::IoRep{}, c.t0);
  }
}

// A request that a spinning worker may serve without withdrawing its announcement: it answers
// from memory in a few microseconds (a null request, or a small read, write or append without
// a sync: the engine keeps recent data cached and collects writes in memory). Anything that
// waits for the device (a sync, an O_SYNC write, a large transfer, a truncate) is served
// withdrawn, so that clients ring for another worker meanwhile. The slot is the client's to
// scribble on: a lie only delays that client's own later requests.
bool Session::quick_request(uint32_t i) const {
  const ipc::RequestLine* sl = &region_.slot(i)->request;
  auto op = static_cast<ipc::Op>(sl->hdr.opcode);
  if (op == ipc::Op::kNull || op == ipc::Op::kStat || op == ipc::Op::kSeek) return true;
  if (op != ipc::Op::kRead && op != ipc::Op::kWrite && op != ipc::Op::kAppend) return false;
  return sl->req.len <= kQuickBytes && sl->req.arg == 0;
}

// How long a worker polls after serving a request of `len` bytes (that woke its client).
uint64_t Session::poll_after(uint64_t len, bool woke) const {
  const uint64_t poll_ns = uint64_t{ctx_.opts->poll_us} * 1000;
  if (poll_ns == 0 || len >= kBulkBytes) return 0;
  return woke ? std::max(poll_ns, kSpinAfterWakeNs) : poll_ns;
}

void Session::worker_loop() {
  char name[16];
  std::snprintf(name, sizeof name, "zvfsd-w%d", static_cast<int>(pid_));
  name_this_thread(name);
  ipc::RegionHeader* rh = region_.header();
  auto pending = [this] {
    if (deferred_syncs_.load(std::memory_order_relaxed) != 0) return true;
    for (uint32_t i = 0; i < region_.slot_count(); ++i)
      if (region_.slot(i)->request.state.load(std::memory_order_relaxed) == ipc::kRequest)
        return true;
    return false;
  };
  uint64_t spin_ns = poll_after(0, false);
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (deferred_syncs_.load(std::memory_order_acquire) != 0) {
      run_deferred_syncs();
      continue;
    }
    int i = find_request();
    if (i == kBehindFound) {  // write-behinds: applied in the daemon-wide order
      ctx_.behind.settle(this, this);
      continue;
    }
    if (i >= 0) {
      uint64_t len = 0;
      bool woke = serve_slot(static_cast<uint32_t>(i), &len);
      spin_ns = poll_after(len, woke);
      continue;
    }
    // Adaptive spin: only right after traffic, one worker per session, few daemon-wide.
    if (spin_ns > 0 && ctx_.spin_ok.load(std::memory_order_relaxed) &&
        ipc::now_ns() - last_request_ns_.load(std::memory_order_relaxed) < kSpinWindowNs) {
      int zero = 0;
      if (session_spinner_.compare_exchange_strong(zero, 1)) {
        bool spun = false, found = false;
        if (ctx_.spinners.fetch_add(1) < ctx_.spinners_max) {
          spun = true;
          // Announced so clients do not ring (and wake a second worker onto their own CPU)
          // while this one is watching the slots. It stays announced while it serves quick
          // requests: withdrawing and re-announcing around each one would move the line that
          // clients read on every request to this CPU and back. It withdraws before the sleep
          // path re-scans, and before a request that may wait for the device.
          rh->daemon_spinners.fetch_add(1);
          bool announced = true;
          uint32_t last_slot = UINT32_MAX;
          for (;;) {
            found = ipc::spin_until([&] { return stopping_.load() || pending(); }, spin_ns);
            if (!found || stopping_.load(std::memory_order_relaxed)) break;
            if (deferred_syncs_.load(std::memory_order_relaxed) != 0) {  // syncs: not spinning
              rh->daemon_spinners.fetch_sub(1);
              announced = false;
              break;
            }
            int j = find_request();
            if (j == kBehindFound) {  // may sync for the client: off the spinners first
              rh->daemon_spinners.fetch_sub(1);
              announced = false;
              ctx_.behind.settle(this, this);
              break;
            }
            if (j < 0) continue;
            uint32_t slot = static_cast<uint32_t>(j);
            // Only for one client thread at a time (a thread keeps its slot): requests of
            // several threads are served faster by several workers, which the clients wake by
            // ringing once this one has withdrawn.
            bool alone = last_slot == UINT32_MAX || last_slot == slot;
            last_slot = slot;
            if (!alone || !quick_request(slot)) {
              rh->daemon_spinners.fetch_sub(1);
              announced = false;
            }
            uint64_t len = 0;
            bool woke = serve_slot(slot, &len);
            spin_ns = poll_after(len, woke);
            // A client that slept is not the lone spinning thread this loop is for.
            if (!announced || spin_ns == 0 || woke) break;
          }
          if (announced) rh->daemon_spinners.fetch_sub(1);
        }
        ctx_.spinners.fetch_sub(1);
        session_spinner_.store(0);
        if (found) continue;
        if (spun) last_request_ns_.store(0);  // the burst is over: sleep next time
      }
    }
    uint32_t seq = rh->doorbell.load();
    rh->daemon_sleepers.fetch_add(1);
    if (!pending() && !stopping_.load()) ipc::futex_wait(&rh->doorbell, seq, kSleepNs);
    rh->daemon_sleepers.fetch_sub(1);
  }
}

bool Session::serve_slot(uint32_t i, uint64_t* len) {
  ipc::RequestLine* sl = &region_.slot(i)->request;
  // Copy out of shared memory first: the client may change the slot while we work.
  ipc::MsgHeader h;
  ipc::IoReq body;
  memcpy(&h, &sl->hdr, sizeof h);
  memcpy(&body, &sl->req, sizeof body);
  return serve_claimed(i, h, body, Ticks::get().now(), len);
}

bool Session::serve_claimed(uint32_t i, const ipc::MsgHeader& h, ipc::IoReq body, uint64_t t0,
                            uint64_t* len, bool in_settle) {
  *len = body.len;
  ipc::IoRep rep{};
  int64_t result;
  Status chk = ipc::check_request_header(h);
  if (!chk.ok() || !ipc::is_slot_op(h.opcode)) {
    ctx_.bad_requests.fetch_add(1);
    result = chk.ok() ? -EPROTO : -chk.code();
  } else {
    // Every write-behind that returned before this request was sent is applied first.
    const bool null_op = h.opcode == static_cast<uint16_t>(ipc::Op::kNull);
    if (!null_op && in_settle)
      ctx_.behind.settle_registered(this);
    else if (!null_op && ctx_.behind.any_pending(this))
      ctx_.behind.settle(this);
    if (h.opcode == static_cast<uint16_t>(ipc::Op::kWrite)) body.arg &= ~ipc::kWriteBehind;
    result = serve_io(h.opcode, body, region_.data(i), &rep);
  }
  return reply_slot(i, h, result, rep, t0);
}

bool Session::reply_slot(uint32_t i, const ipc::MsgHeader& h, int64_t result, ipc::IoRep rep,
                         uint64_t t0) {
  ipc::Slot* slot = region_.slot(i);
  ipc::RequestLine* sl = &slot->request;
  ipc::ReplyLine* rl = &slot->reply;
  const Ticks& clock = Ticks::get();
  rep.result = result < 0 ? 0 : result;
  ipc::MsgHeader out;
  out.opcode = h.opcode | ipc::kReplyBit;
  out.request_id = h.request_id;
  out.payload_len = sizeof(ipc::IoRep);
  out.status = result < 0 ? static_cast<int32_t>(result) : 0;
  memcpy(&rl->hdr, &out, sizeof out);
  memcpy(&rl->rep, &rep, sizeof rep);
  // The request line first (this worker holds it since the CAS: no transfer), so that the
  // client, once it sees `done`, finds the slot out of kServing. Then the reply line.
  sl->state.store(ipc::kReply, std::memory_order_release);
  rl->done.store(static_cast<uint32_t>(h.request_id), std::memory_order_seq_cst);
  // A count: the slot's user and an fsync waiting for its write-behind may both sleep.
  bool woke = rl->client_sleeping.load(std::memory_order_seq_cst) != 0;
  if (woke) ipc::futex_wake(&rl->done, INT_MAX);
  // The bookkeeping after the reply, off the client's round trip.
  ctx_.stats.record(h.opcode, clock.to_ns(clock.now() - t0), result < 0);
  requests_.fetch_add(1, std::memory_order_relaxed);
  last_request_ns_.store(ipc::now_ns(), std::memory_order_relaxed);
  return woke;
}

int Session::sync_handle(Handle& h) {
  if (h.ob->placeholder_durable.load()) {
    Status s = h.ob->blob->sync();
    return s.ok() ? 0 : -s.code();
  }
  // The first sync of a file this daemon bound or opened also makes its inode (with the
  // binding xattr) durable, as ext4's own fsync of a new file would; that fsync runs beside the
  // blob's (side_fsync.h).
  SideFsync placeholder(h.fd);
  Status s = h.ob->blob->sync();
  const int e = placeholder.wait();
  if (!s.ok()) return -s.code();
  if (e < 0) return e;
  h.ob->placeholder_durable.store(true);
  return 0;
}

int64_t Session::serve_io(uint16_t opcode, const ipc::IoReq& r, uint8_t* data, ipc::IoRep* rep) {
  auto op = static_cast<ipc::Op>(opcode);
  if (op == ipc::Op::kNull) return 0;
  if (op == ipc::Op::kDetach) return remove_handle(r.handle) ? 0 : -EBADF;
  std::shared_ptr<Handle> h = get_handle(r.handle);
  if (!h) return -EBADF;
  engine::Blob& b = *h->ob->blob;
  bool writable = h->accmode != O_RDONLY;
  uint64_t slot_bytes = region_.slot_data_bytes();
  // Growth past the placeholder file system's limit is refused as the kernel refuses it there:
  // from the limit on EFBIG, across it a short write.
  const uint64_t max_off = h->max_bytes;
  switch (op) {
    case ipc::Op::kRead: {
      if (h->accmode == O_WRONLY) return -EBADF;
      if (r.len > slot_bytes) return -EINVAL;
      if (r.off > static_cast<uint64_t>(INT64_MAX)) return -EINVAL;
      auto n = b.read(r.off, data, r.len);
      return n.ok() ? static_cast<int64_t>(*n) : -n.code();
    }
    case ipc::Op::kWrite: {
      if (!writable) return -EBADF;
      if (r.len > slot_bytes) return -EINVAL;
      if (r.off >= max_off && r.len > 0) return -EFBIG;
      const uint64_t len = std::min<uint64_t>(r.len, max_off - std::min(r.off, max_off));
      auto n = b.write(r.off, data, len);
      if (!n.ok()) return -n.code();
      ctx_.blobs->publish_size(*h->ob, h->fd, false, (r.arg & ipc::kWriteBehind) != 0);
      if ((r.arg & ipc::kWriteSync) != 0) {  // O_SYNC / O_DSYNC: the sync in the same round trip
        int e = sync_handle(*h);
        if (e < 0) return e;
      }
      return static_cast<int64_t>(*n);
    }
    case ipc::Op::kAppend:
    case ipc::Op::kAppendReserve: {
      if (!writable) return -EBADF;
      if (op == ipc::Op::kAppend && r.len > slot_bytes) return -EINVAL;
      int64_t off;
      {
        std::lock_guard<std::mutex> g(h->ob->append_mu);
        uint64_t end = b.size();
        if (end > max_off - std::min(r.len, max_off)) return -EFBIG;
        if (op == ipc::Op::kAppend) {
          auto a = b.append(data, r.len);
          if (!a.ok()) return -a.code();
          off = static_cast<int64_t>(*a);
        } else {
          Status s = b.truncate(end + r.len);
          if (!s.ok()) return -s.code();
          off = static_cast<int64_t>(end);
        }
      }
      ctx_.blobs->publish_size(*h->ob, h->fd, false);
      rep->aux0 = static_cast<uint64_t>(off) + r.len;
      return off;
    }
    case ipc::Op::kTruncate: {
      if (!writable) return -EBADF;
      if (r.off > max_off) return -EFBIG;
      Status s = b.truncate(r.off);
      if (!s.ok()) return -s.code();
      ctx_.blobs->publish_size(*h->ob, h->fd, true);
      return 0;
    }
    case ipc::Op::kFallocate: {
      if (!writable) return -EBADF;
      if (r.off > max_off || r.len > max_off - r.off) return -EFBIG;
      if (r.len == 0) return -EINVAL;
      Status s;
      switch (r.arg) {
        case 0:
        case FALLOC_FL_KEEP_SIZE:
          s = b.allocate(r.off, r.len, r.arg == FALLOC_FL_KEEP_SIZE);
          break;
        case FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
          s = b.punch_hole(r.off, r.len);
          break;
        case FALLOC_FL_ZERO_RANGE:
        case FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE:
          s = b.allocate(r.off, r.len, (r.arg & FALLOC_FL_KEEP_SIZE) != 0);
          if (s.ok()) s = b.punch_hole(r.off, r.len);
          break;
        default:
          return -EOPNOTSUPP;
      }
      if (!s.ok()) return -s.code();
      ctx_.blobs->publish_size(*h->ob, h->fd, false);
      return 0;
    }
    case ipc::Op::kSync:
      return sync_handle(*h);
    case ipc::Op::kStat: {
      auto st = b.stat();
      if (!st.ok()) return -st.code();
      rep->aux0 = st->size;
      rep->aux1 = st->allocated_bytes;
      return 0;
    }
    case ipc::Op::kSeek: {
      if (r.arg != SEEK_DATA && r.arg != SEEK_HOLE) return -EINVAL;
      auto o = r.arg == SEEK_DATA ? b.seek_data(r.off) : b.seek_hole(r.off);
      return o.ok() ? static_cast<int64_t>(*o) : -o.code();
    }
    case ipc::Op::kMtimeSet:  // any handle: it only orders the program's time (blob_table.h)
      ctx_.blobs->note_program_mtime(*h->ob);
      return 0;
    default:
      return -EPROTO;
  }
}

}  // namespace zvfs::daemon
