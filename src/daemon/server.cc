// server.cc — accept loop, session list, stats, scrub and stop (see server.h).
#include "daemon/server.h"

#include <grp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/thread_name.h"
#include "daemon/load_monitor.h"
#include "ipc/doorbell.h"
#include "ipc/shm.h"
#include "ipc/sock.h"

namespace zvfs::daemon {

Server::~Server() {
  if (scrub_thread_.joinable()) scrub_thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
}

static Status make_parent_dirs(const std::string& path) {
  for (size_t pos = 1; (pos = path.find('/', pos)) != std::string::npos; ++pos) {
    std::string dir = path.substr(0, pos);
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      return make_error(errno, "cannot create the socket's directory");
  }
  return ok_status();
}

Status Server::listen() {
  const Options& o = *ctx_.opts;
  ZVFS_TRY(make_parent_dirs(o.socket));
  stop_fd_ = ipc::fd_above_stdio(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (stop_fd_ < 0) return make_error(-stop_fd_, "eventfd failed");
  int fd = ipc::sock_listen(o.socket.c_str(), o.socket_mode, 128);
  if (fd == -EADDRINUSE) return make_error(EADDRINUSE, "another daemon answers on the socket");
  if (fd < 0) return make_error(-fd, "cannot listen on the socket");
  listen_fd_ = fd;
  if (!o.socket_group.empty()) {
    char* end = nullptr;
    gid_t gid = static_cast<gid_t>(strtoul(o.socket_group.c_str(), &end, 10));
    if (!end || *end) {
      struct group* g = getgrnam(o.socket_group.c_str());
      if (!g) return make_error(ENOENT, "unknown --socket-group");
      gid = g->gr_gid;
    }
    if (chown(o.socket.c_str(), static_cast<uid_t>(-1), gid) != 0)
      return make_error(errno, "cannot give the socket to --socket-group");
  }
  return ok_status();
}

void Server::request_stop() {
  uint64_t one = 1;
  if (stop_fd_ >= 0) (void)!write(stop_fd_, &one, sizeof one);
}

uint32_t Server::active_sessions() {
  uint32_t n = 0;
  std::lock_guard<std::mutex> g(mu_);
  for (auto& s : sessions_) n += s->took_requests_since_last_call() ? 1 : 0;
  return n;
}

void Server::publish_hints(bool spin_ok) {
  ctx_.spin_ok.store(spin_ok);
  const bool behind = behind_allowed();
  std::lock_guard<std::mutex> g(mu_);
  for (auto& s : sessions_) {
    s->publish_spin_hint(spin_ok);
    s->publish_behind_ok(behind);
  }
}

bool Server::behind_allowed() {
  if (!ctx_.opts->write_behind || !ctx_.pool) return false;
  // No write-behind may fail with ENOSPC (ipc/shm.h): the pool must hold, besides its reserve,
  // twice the dirty-data limit (what commits may still take until the next sample, 5 ms on)
  // and every write-behind that all sessions, and some about to say hello, could have pending.
  const engine::PoolStats st = ctx_.pool->stats();
  const uint64_t pending =
      (ctx_.behind.sessions() + 16) * uint64_t{ipc::kBehindMaxPending} * ipc::kBehindMaxBytes;
  const uint64_t need =
      st.reserve_bytes + 2 * st.dirty_max_bytes + st.dirty_max_bytes / 32 + (1ull << 20) + pending;
  return st.free_bytes >= need;
}

void Server::run(int signal_fd) {
  ctx_.behind.set_enabled(ctx_.opts->write_behind);
  LOG_INFO("daemon", "serving on %s", ctx_.opts->socket.c_str());
  LoadMonitor load(
      std::max(1u, std::thread::hardware_concurrency()), [this] { return active_sessions(); },
      [this](bool ok) { publish_hints(ok); });
  load.start();
  if (ctx_.opts->guard) {
    guard_ = PlaceholderGuard::start(ctx_.opts->roots);
    ctx_.guard = guard_.get();
  }
  std::vector<pollfd> p;
  for (;;) {
    p.assign({{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}});
    if (signal_fd >= 0) p.push_back({signal_fd, POLLIN, 0});
    const size_t base = p.size();
    refusals_.poll_fds(&p);
    int r = poll(p.data(), p.size(), 500);
    if (r < 0 && errno != EINTR) {
      LOG_ERROR("daemon", "poll: %s", strerror(errno));
      break;
    }
    if (r > 0 && (p[1].revents & POLLIN)) {
      LOG_INFO("daemon", "shutdown requested");
      break;
    }
    if (r > 0 && signal_fd >= 0 && (p[2].revents & POLLIN)) {
      signalfd_siginfo si;
      (void)!read(signal_fd, &si, sizeof si);
      LOG_INFO("daemon", "signal %u: shutting down", si.ssi_signo);
      break;
    }
    refusals_.service(r > 0 ? p.data() + base : nullptr, r > 0 ? p.size() - base : 0,
                      ipc::now_ns());
    if (r > 0 && (p[0].revents & POLLIN)) accept_one();
    reap(false);
  }
  load.stop();
  close(listen_fd_);
  listen_fd_ = -1;
  unlink(ctx_.opts->socket.c_str());
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& s : sessions_) s->shutdown();
  }
  reap(true);
  if (scrub_thread_.joinable()) scrub_thread_.join();
  ctx_.guard = nullptr;
  guard_.reset();
}

void Server::accept_one() {
  int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  fd = ipc::fd_above_stdio(fd);
  if (fd < 0) return;
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  ipc::sock_peer(fd, &pid, &uid, &gid);
  std::lock_guard<std::mutex> g(mu_);
  if (sessions_.size() >= ctx_.opts->max_sessions) {
    static uint64_t refused = 0;
    if (refused++ % 1000 == 0)
      LOG_WARN("daemon", "too many connections (%zu); refusing (%" PRIu64 " so far)",
               sessions_.size(), refused);
    close(fd);
    return;
  }
  const uint32_t per_user = ctx_.opts->max_sessions_per_user;
  if (per_user != 0 && user_sessions(uid) >= per_user) {
    // One user may not take every thread of the daemon: the client is told EUSERS.
    uint64_t n = ++refused_per_user_;
    if (n <= 10 || n % 1000 == 0)
      LOG_WARN("daemon",
               "uid %u already has %u sessions (--max-sessions-per-user); refusing pid %d "
               "(%" PRIu64 " refused so far)",
               static_cast<unsigned>(uid), per_user, static_cast<int>(pid), n);
    refusals_.add(fd, -EUSERS,
                  ipc::now_ns() + static_cast<uint64_t>(ctx_.opts->handshake_ms) * 1000000);
    return;
  }
  auto s = std::make_unique<Session>(ctx_, fd, next_session_++);
  s->set_admin(&Server::admin_thunk, this);
  s->start();
  ctx_.sessions_total.fetch_add(1);
  sessions_.push_back(std::move(s));
}

uint32_t Server::user_sessions(uid_t uid) const {
  uint32_t n = 0;
  for (auto& s : sessions_)
    if (!s->finished() && s->uid() == uid) ++n;
  return n;
}

void Server::reap(bool all) {
  std::list<std::unique_ptr<Session>> done;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (all || (*it)->finished()) {
        done.push_back(std::move(*it));
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }
  done.clear();  // joins their threads
}

size_t Server::admin_thunk(void* self, Session& s, ipc::Op op, void* rep, size_t cap,
                           int32_t* status) {
  return static_cast<Server*>(self)->admin(s, op, rep, cap, status);
}

size_t Server::admin(Session& s, ipc::Op op, void* rep, size_t cap, int32_t* status) {
  *status = 0;
  switch (op) {
    case ipc::Op::kStats:
      return fill_stats(rep, cap);
    case ipc::Op::kShutdown:
      if (s.uid() != 0 && s.uid() != geteuid()) {
        *status = -EPERM;
        return 0;
      }
      LOG_INFO("daemon", "shutdown requested by pid %d", static_cast<int>(s.pid()));
      request_stop();
      return 0;
    case ipc::Op::kScrubStart: {
      std::lock_guard<std::mutex> g(scrub_mu_);
      if (scrub_running_.load()) {
        *status = -EBUSY;
        return 0;
      }
      if (scrub_thread_.joinable()) scrub_thread_.join();
      scrub_running_.store(true);
      scrub_finished_.store(false);
      scrub_done_.store(0);
      scrub_total_.store(0);
      scrub_errors_.store(0);
      scrub_status_.store(0);
      LOG_INFO("daemon", "scrub started by pid %d", static_cast<int>(s.pid()));
      scrub_thread_ = std::thread([this] {
        name_this_thread("zvfsd-scrub");
        auto r = ctx_.pool->scrub([this](const engine::ScrubProgress& p) {
          scrub_done_.store(p.bytes_done);
          scrub_total_.store(p.bytes_total);
        });
        if (r.ok()) {
          scrub_errors_.store(r->errors);
          scrub_done_.store(r->bytes_checked);
          if (scrub_total_.load() < r->bytes_checked) scrub_total_.store(r->bytes_checked);
          for (auto& d : r->damaged)
            LOG_ERROR("daemon", "scrub: damaged %s in blob %" PRIu64 " at %" PRIu64, d.what.c_str(),
                      d.blob, d.offset);
          LOG_INFO("daemon", "scrub finished: %" PRIu64 " bytes checked, %" PRIu64 " errors",
                   r->bytes_checked, r->errors);
        } else {
          scrub_status_.store(-r.code());
          LOG_ERROR("daemon", "scrub failed: %s", r.error().msg);
        }
        scrub_finished_.store(true);
        scrub_running_.store(false);
      });
      return 0;
    }
    case ipc::Op::kScrubStatus: {
      ipc::ScrubStatusRep r;
      r.running = scrub_running_.load();
      r.finished = scrub_finished_.load();
      r.bytes_done = scrub_done_.load();
      r.bytes_total = scrub_total_.load();
      r.errors = scrub_errors_.load();
      r.status = scrub_status_.load();
      if (cap < sizeof r) return 0;
      memcpy(rep, &r, sizeof r);
      return sizeof r;
    }
    default:
      *status = -EPROTO;
      return 0;
  }
}

size_t Server::fill_stats(void* rep, size_t cap) {
  auto* out = static_cast<uint8_t*>(rep);
  ipc::StatsHeader h;
  engine::PoolStats ps = ctx_.pool->stats();
  h.pool_size = ps.size_bytes;
  h.pool_allocated = ps.allocated_bytes;
  h.pool_free = ps.free_bytes;
  h.blob_count = ps.blob_count;
  h.txg = ps.txg;
  h.synced_txg = ps.synced_txg;
  h.cache_bytes = ps.cache_bytes;
  h.cache_max_bytes = ps.cache_max_bytes;
  h.cache_hits = ps.cache_hits;
  h.cache_misses = ps.cache_misses;
  h.checksum_errors = ps.checksum_errors;
  h.io_errors = ps.io_errors;
  h.dirty_bytes = ps.dirty_bytes;
  h.uptime_ms = (ipc::now_ns() - ctx_.start_ns) / 1000000;
  h.open_handles = ctx_.blobs->total_opens();
  h.open_blobs = ctx_.blobs->open_blobs();
  h.bad_requests = ctx_.bad_requests.load();
  h.sessions_total = ctx_.sessions_total.load();
  h.daemon_pid = static_cast<uint32_t>(getpid());
  h.client_info_bytes = sizeof(ipc::ClientInfo);
  size_t pos = sizeof h;
  for (int op = 0; op < ipc::kOpMax; ++op) {
    ipc::OpStats os;
    if (pos + sizeof os > cap) break;
    if (!ctx_.stats.snapshot(static_cast<uint16_t>(op), &os)) continue;
    memcpy(out + pos, &os, sizeof os);
    pos += sizeof os;
    h.op_count++;
  }
  std::lock_guard<std::mutex> g(mu_);
  for (auto& s : sessions_) {
    if (s->finished() || !s->data_session() || h.client_count >= ipc::kMaxClientsInStats) continue;
    ipc::ClientInfo ci;
    if (pos + sizeof ci > cap) break;
    ci.session_id = s->id();
    ci.pid = s->pid();
    ci.uid = s->uid();
    ci.gid = s->gid();
    ci.handles = s->handle_count();
    ci.requests = s->requests();
    memcpy(out + pos, &ci, sizeof ci);
    pos += sizeof ci;
    h.client_count++;
  }
  ipc::StatsWrite w;
  w.dirty_max_bytes = ps.dirty_max_bytes;
  w.throttle_waits = ps.throttle_waits;
  w.throttle_delay_ns = ps.throttle_delay_ns;
  w.log_records = ps.log_records;
  w.log_blocks = ps.log_syncs;  // PoolStats counts log blocks there
  w.log_bytes = ps.log_bytes_written;
  w.behind_writes = ctx_.behind_writes.load(std::memory_order_relaxed);
  w.behind_syncs = ctx_.behind_syncs.load(std::memory_order_relaxed);
  if (pos + sizeof w <= cap) {
    memcpy(out + pos, &w, sizeof w);
    pos += sizeof w;
    ipc::StatsPool p;
    p.format_version = ps.format_version;
    p.block_size = ps.block_size;
    p.flags = ps.host_limited ? ipc::kStatsPoolHostLimited : 0;
    p.host_free_bytes = ps.host_free_bytes;
    p.fallocated_bytes = ps.fallocated_bytes;
    if (pos + sizeof p <= cap) {
      memcpy(out + pos, &p, sizeof p);
      pos += sizeof p;
    }
  }
  memcpy(out, &h, sizeof h);
  return pos;
}

}  // namespace zvfs::daemon
