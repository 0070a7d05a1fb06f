// client.cc — the client side of the protocol (implements client.h).
//
// Owns: the process-wide session (control socket + mapped shared-memory region), the table of
// handles (one per open file description attached through this process), reconnection and
// re-attachment after a daemon restart or a fork, and the "unsynced writes were lost" report.
//
// State and locking:
//   - g_lock (rwlock, writer-preferring) guards the session. Every request holds it shared for
//     its whole round trip; replacing a dead or inherited session takes it exclusive, so a
//     region is never unmapped under a thread that uses it.
//   - Session::sock_mu serialises control-socket requests (one request/reply at a time).
//   - Handle entries live in a fixed table mapped once (no heap). A handle remembers the
//     session epoch it was attached in; a request on a handle from an older epoch first
//     re-attaches it with the remembered fd (g_reattach_mu makes that happen once).
//   - Data path: take this thread's parked slot back (one CAS on a process-private word; see
//     SlotOwner), fill it, publish, ring the doorbell (futex wake only if a daemon worker
//     sleeps), spin briefly then sleep on the slot's state word; park the slot again.
//   - Write-behind (shm.h): a small overwrite is published and answered at once; the slot's
//     SlotOwner remembers it, and it is waited for before the slot's next request and by any
//     fsync of its handle, which reports its failure (behind_err). An fsync that finds it still
//     pending in its own slot asks for the sync in the same round trip. ZVFS_WRITE_BEHIND=0
//     turns it off.
//
// Daemon death: a sleeping waiter wakes every kLivenessPollMs and polls the socket for HUP.
// The session is then marked dead and its epoch recorded in g_dead_epoch. Idempotent requests
// are re-sent once on a new session; append is not (it fails with EIO). A handle that had
// unsynced changes (dirty) when its session died gets `lost`: its next sync() returns EIO,
// once. While the daemon is unreachable, requests fail with EIO after ZVFS_TIMEOUT_MS (or the
// configuration file's `timeout-ms`; default 10000; 0 = wait forever).
//
// fork(): a pthread_atfork child handler drops the inherited session (unmaps the region and
// closes the child's copies of the descriptors; the parent's connection is untouched) and
// re-initialises the locks; handles re-attach lazily on the child's own session.
#include "ipc/client.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "common/config.h"
#include "common/copy.h"
#include "ipc/client_diag.h"
#include "ipc/doorbell.h"
#include "ipc/protocol.h"
#include "ipc/shm.h"
#include "ipc/sock.h"

namespace zvfs::ipc {
namespace {

constexpr int kMaxHandles = 1 << 16;
constexpr int kLivenessPollMs = 50;
// Client spin before sleeping on a reply: long enough for a spinning worker to serve a cached
// request; longer when the request had to wake a sleeping worker (50-60 us on the other CPU),
// or the client would fall asleep just before the reply and pay a second wake-up.
constexpr uint64_t kReplySpinNs = 40 * 1000;
constexpr uint64_t kReplySpinAfterWakeNs = 150 * 1000;
// A sync's spin: a log write and flush take 0.2-0.5 ms; past 2 ms the device is slow anyway.
constexpr uint64_t kSyncSpinNs = 2 * 1000 * 1000;
// Writes from this size on wait for their reply asleep (1 MiB O_DIRECT writes through fio:
// median 1999 -> 2193 MB/s in 7 alternating runs on 2 vCPUs).
constexpr uint64_t kBulkWriteBytes = 256 * 1024;
constexpr int kDefaultTimeoutMs = 10000;

struct HandleEntry {
  std::atomic<uint32_t> used;
  std::atomic<int> fd;
  int open_flags;
  std::atomic<uint64_t> epoch;  // session epoch of daemon_handle (0: never attached)
  std::atomic<int32_t> daemon_handle;
  std::atomic<uint64_t> write_gen;   // bumped by every acknowledged change
  std::atomic<uint64_t> synced_gen;  // write_gen covered by the last successful sync
  std::atomic<uint32_t> lost;        // had unsynced changes when its session died
  std::atomic<int32_t> behind_err;   // first failure of a write-behind, for the next sync
  int32_t fork_handle;               // handle in the child's session while a fork is prepared
};

// Which thread may use a slot: 0 (nobody), or a thread's token shifted left by one, with bit 0
// set while that thread has a request in the slot ("busy") and clear once it has read the reply
// ("parked"). A thread keeps its slot parked between requests and takes it back with one CAS on
// this word, which lives in the process's own memory and on a line of its own: the shared slot
// line is then written once per round trip (the request) instead of three times (claim,
// request, release), and each of those writes would have had to take the line back from the
// daemon's CPU first. A thread that finds no free slot takes over another's parked one.
// behind_id: the request id of a write-behind published in the slot whose reply nobody has
// taken yet (0: none), behind_entry the handle entry it wrote. The slot is not reused before
// its reply is taken: whoever takes it (the next thread to use the slot, or an fsync of that
// handle) reads the status while behind_id still holds the id, then CASes it to 0, and keeps a
// failure in the entry's behind_err.
struct alignas(64) SlotOwner {
  std::atomic<uint64_t> word{0};
  uint32_t last_id = 0;  // the slot's last request id (only its owning thread uses it)
  std::atomic<uint32_t> behind_id{0};
  std::atomic<int32_t> behind_entry{-1};
};

struct Session {
  int sock = -1;
  Region region;
  uint64_t epoch = 0;  // 0: no session
  std::atomic<bool> dead{false};
  pthread_mutex_t sock_mu = PTHREAD_MUTEX_INITIALIZER;
  uint64_t next_req = 1;
  SlotOwner owner[kMaxSlotCount];
  // Threads waiting for a slot, and the futex they sleep on (bumped when a slot is parked).
  alignas(64) std::atomic<uint32_t> slot_waiters{0};
  std::atomic<uint32_t> slot_seq{0};
};

pthread_rwlock_t g_lock;
pthread_mutex_t g_init_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_reattach_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_once_t g_once = PTHREAD_ONCE_INIT;
// The session in use and a spare: the atfork prepare handler opens a session for the child in
// the spare, and the child makes it current (see fork_prepare below).
Session g_session_store[2];
Session* g_cur = &g_session_store[0];
// The current session's control socket, for owns_fd() (read without the session lock).
std::atomic<int> g_owned_sock{-1};
// The child's session while a fork is being prepared (see atfork_prepare), else -1.
std::atomic<int> g_owned_fork_sock{-1};
pthread_mutex_t g_fork_mu = PTHREAD_MUTEX_INITIALIZER;
bool g_fork_prepared = false;  // g_fork_mu
// Entries [0, g_handle_high) may be in use (bounds the scans at fork).
std::atomic<int> g_handle_high{0};
// Set on a thread whose descriptor table is not the process's: it must never open a session.
__attribute__((tls_model("initial-exec"))) thread_local bool t_no_connect = false;
std::atomic<uint64_t> g_epoch_counter{0};
std::atomic<uint64_t> g_dead_epoch{0};  // newest session epoch seen to die
std::atomic<bool> g_connected_once{false};
HandleEntry* g_handles = nullptr;
int g_timeout_ms = kDefaultTimeoutMs;
// ZVFS_WRITE_BEHIND=0 (or write-behind = 0 in the configuration) turns write-behind off.
bool g_behind_enabled = true;
// Set at this process's first write-behind: until then fsync and close have no reply of one to
// look for (and, with the daemon's write-behind off, never do).
std::atomic<bool> g_wrote_behind{false};
// Size of one slot's data buffer in the current session (requests are split into such chunks).
std::atomic<uint32_t> g_chunk_bytes{kDefaultSlotDataBytes};

void init_rwlock() {
  pthread_rwlockattr_t a;
  pthread_rwlockattr_init(&a);
  pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&g_lock, &a);
  pthread_rwlockattr_destroy(&a);
}

void teardown_session(Session* s) {
  s->region.unmap();
  // No longer ours: the preload library's close() must let this one through.
  int expect = s->sock;
  g_owned_sock.compare_exchange_strong(expect, -1);
  expect = s->sock;
  g_owned_fork_sock.compare_exchange_strong(expect, -1);
  if (s->sock >= 0) close(s->sock);
  s->sock = -1;
  s->epoch = 0;
  s->dead.store(false);
}

Session* spare_session() {
  return g_cur == &g_session_store[0] ? &g_session_store[1] : &g_session_store[0];
}

int connect_session(Session* s);
int attach_in_session(Session* s, int fd, int open_flags, AttachInfo* info, int32_t* handle);

// fork(): the child inherits the process's descriptors, so it shares every open file
// description with the parent, but not the parent's session: its handles are re-opened on a
// session of its own. Done lazily, the child would have no reference on a blob until its first
// call, and a parent closing the last descriptor of an unlinked file meanwhile would free the
// blob under the child. So the prepare handler opens the child's session before the fork (in the
// spare Session) and attaches every handle's descriptor there; the child makes it current, the
// parent closes its copy of it. If the daemon cannot be reached, the child re-attaches lazily.
void atfork_prepare() {
  pthread_mutex_lock(&g_fork_mu);
  g_fork_prepared = false;
  int high = g_handle_high.load();
  bool any = false;
  for (int i = 0; g_handles && i < high && !any; ++i) any = g_handles[i].used.load() == 1;
  if (!any) return;
  Session* fs = spare_session();
  if (connect_session(fs) != 0) return;
  g_owned_fork_sock.store(fs->sock);
  for (int i = 0; i < high; ++i) {
    HandleEntry* e = &g_handles[i];
    e->fork_handle = -1;
    if (e->used.load() != 1) continue;
    // O_TRUNC and O_CREAT happened once, at the caller's open.
    int32_t h = -1;
    if (attach_in_session(fs, e->fd.load(), e->open_flags & ~(O_TRUNC | O_CREAT), nullptr, &h) == 1)
      e->fork_handle = h;
  }
  g_fork_prepared = true;
}

void atfork_parent() {
  if (g_fork_prepared) {
    // The child (if any) holds its own copy of the socket: the daemon sees the session close
    // only when the child is done with it.
    teardown_session(spare_session());
    for (int i = 0, high = g_handle_high.load(); i < high; ++i) g_handles[i].fork_handle = -1;
    g_fork_prepared = false;
  }
  pthread_mutex_unlock(&g_fork_mu);
}

void atfork_child() {
  // Only this thread exists now; locks may have been held by threads that are gone.
  init_rwlock();
  pthread_mutex_init(&g_init_mu, nullptr);
  pthread_mutex_init(&g_reattach_mu, nullptr);
  pthread_mutex_init(&g_fork_mu, nullptr);
  for (Session& s : g_session_store) pthread_mutex_init(&s.sock_mu, nullptr);
  teardown_session(g_cur);  // the child's copies only; the parent keeps its session
  if (!g_fork_prepared) return;
  g_fork_prepared = false;
  g_cur = spare_session();
  g_cur->region.header()->client_pid.store(static_cast<int32_t>(getpid()),
                                           std::memory_order_release);
  g_owned_sock.store(g_cur->sock);
  g_owned_fork_sock.store(-1);
  for (int i = 0, high = g_handle_high.load(); i < high; ++i) {
    HandleEntry* e = &g_handles[i];
    if (e->used.load() == 1 && e->fork_handle >= 0) {
      e->daemon_handle.store(e->fork_handle);
      e->epoch.store(g_cur->epoch);
    }
    e->fork_handle = -1;
  }
}

void global_init() {
  init_rwlock();
  const char* t = env_or_config("ZVFS_TIMEOUT_MS", "timeout-ms");
  if (t && *t) {
    char* end = nullptr;
    long v = strtol(t, &end, 10);
    if (end && *end == '\0' && v >= 0 && v <= 86400000) g_timeout_ms = static_cast<int>(v);
  }
  const char* wb = env_or_config("ZVFS_WRITE_BEHIND", "write-behind");
  if (wb && (strcmp(wb, "0") == 0 || strcmp(wb, "off") == 0 || strcmp(wb, "no") == 0 ||
             strcmp(wb, "false") == 0))
    g_behind_enabled = false;
  void* p = mmap(nullptr, sizeof(HandleEntry) * kMaxHandles, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p != MAP_FAILED) g_handles = static_cast<HandleEntry*>(p);  // zero pages: all unused
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

bool ensure_init() {
  pthread_once(&g_once, global_init);
  return g_handles != nullptr;
}

uint64_t deadline_from_now() {
  if (g_timeout_ms == 0) return UINT64_MAX;
  return now_ns() + static_cast<uint64_t>(g_timeout_ms) * 1000000ull;
}

void mark_dead(Session* s) {
  if (!s->dead.exchange(true)) {
    uint64_t e = s->epoch;
    uint64_t cur = g_dead_epoch.load();
    while (cur < e && !g_dead_epoch.compare_exchange_weak(cur, e)) {
    }
  }
}

bool peer_hung_up(int sock) {
  pollfd p{sock, POLLRDHUP, 0};
  int r = poll(&p, 1, 0);
  return r > 0 && (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) != 0;
}

// One control-socket round trip. Caller holds g_lock shared. Returns the reply status or -errno.
int sock_call(Session* s, Op op, const void* body, uint32_t body_len, int pass_fd, void* rep_body,
              size_t rep_cap, size_t* rep_len) {
  alignas(8) uint8_t out[sizeof(MsgHeader) + 64];
  alignas(8) uint8_t in[sizeof(MsgHeader) + 64];
  pthread_mutex_lock(&s->sock_mu);
  uint64_t id = s->next_req++;
  size_t n = encode_message(static_cast<uint16_t>(op), id, 0, body, body_len, out, sizeof(out));
  int r = n ? sock_send(s->sock, out, n, pass_fd) : -EINVAL;
  size_t got = 0;
  int rfd = -1;
  if (r == 0) r = sock_recv(s->sock, in, sizeof(in), &got, &rfd, g_timeout_ms ? 60000 : -1);
  pthread_mutex_unlock(&s->sock_mu);
  if (rfd >= 0) close(rfd);
  if (r < 0 || got == 0) {
    mark_dead(s);
    return -EIO;
  }
  MsgHeader h;
  if (got < sizeof(h)) return -EPROTO;
  memcpy(&h, in, sizeof(h));
  if (h.magic != kMagic || h.opcode != (static_cast<uint16_t>(op) | kReplyBit) ||
      h.request_id != id || got != sizeof(h) + h.payload_len)
    return -EPROTO;
  if (rep_len) *rep_len = h.payload_len;
  if (rep_body) memcpy(rep_body, in + sizeof(h), h.payload_len < rep_cap ? h.payload_len : rep_cap);
  return h.status;
}

// Connects and performs the handshake. Caller holds g_lock exclusive.
int connect_session(Session* s) {
  int sock = sock_connect(default_socket_path());
  if (sock < 0) return sock;
  alignas(8) uint8_t out[sizeof(MsgHeader) + sizeof(HelloReq)];
  alignas(8) uint8_t in[sizeof(MsgHeader) + sizeof(HelloRep)];
  HelloReq req;
  req.pid = static_cast<uint32_t>(getpid());
  size_t n =
      encode_message(static_cast<uint16_t>(Op::kHello), 0, 0, &req, sizeof(req), out, sizeof(out));
  int r = sock_send(sock, out, n, -1);
  size_t got = 0;
  int memfd = -1;
  if (r == 0) r = sock_recv(sock, in, sizeof(in), &got, &memfd, 5000);
  MsgHeader h;
  HelloRep rep;
  if (r == 0 && got == sizeof(in)) {
    memcpy(&h, in, sizeof(h));
    memcpy(&rep, in + sizeof(h), sizeof(rep));
    if (h.status < 0)
      r = h.status;
    else if (h.opcode != (static_cast<uint16_t>(Op::kHello) | kReplyBit) || memfd < 0)
      r = -EPROTO;
    else
      r = s->region.attach(memfd, rep.slot_count, rep.slot_data_bytes, rep.region_bytes);
  } else if (r == 0) {
    r = got >= sizeof(h) && reinterpret_cast<MsgHeader*>(in)->status < 0
            ? reinterpret_cast<MsgHeader*>(in)->status
            : -EPROTO;
  }
  if (memfd >= 0) close(memfd);
  if (r < 0) {
    close(sock);
    return r;
  }
  s->sock = sock;
  for (auto& o : s->owner) {
    o.word.store(0);
    o.last_id = 0;         // the new region's reply lines hold done = 0
    o.behind_id.store(0);  // write-behinds of a dead session: its handles' next sync says EIO
  }
  // The daemon's placeholder guard lets this process open placeholders (shm.h).
  s->region.header()->client_pid.store(static_cast<int32_t>(getpid()), std::memory_order_release);
  s->epoch = g_epoch_counter.fetch_add(1) + 1;
  s->dead.store(false);
  s->next_req = 1;
  g_chunk_bytes.store(rep.slot_data_bytes);
  g_connected_once.store(true);
  return 0;
}

// Makes the current session live if it is not: one attempt. Returns 0 or -errno.
int connect_current() {
  pthread_rwlock_wrlock(&g_lock);
  int r = 0;
  if (g_cur->epoch == 0 || g_cur->dead.load()) {
    if (g_cur->dead.load()) teardown_session(g_cur);
    r = connect_session(g_cur);
    if (r == 0) g_owned_sock.store(g_cur->sock);
  }
  pthread_rwlock_unlock(&g_lock);
  return r;
}

// Returns with g_lock held shared and a live session, or -EIO after the deadline. *deadline
// 0 means "not yet computed": the clock is read only when the session is not live.
int acquire_session(uint64_t* deadline) {
  for (;;) {
    pthread_rwlock_rdlock(&g_lock);
    if (g_cur->epoch != 0 && !g_cur->dead.load(std::memory_order_acquire)) return 0;
    pthread_rwlock_unlock(&g_lock);
    // A socket opened (or closed) in a private descriptor table would not be the process's.
    if (t_no_connect) return -EIO;
    int r = connect_current();
    // Refusals that waiting will not cure: a version mismatch, or the daemon's per-user session
    // limit (--max-sessions-per-user). Reported at once, not as an absent daemon.
    if (r == -EPROTONOSUPPORT || r == -EUSERS) return r;
    if (r == 0) continue;
    if (*deadline == 0) *deadline = deadline_from_now();
    if (now_ns() >= *deadline) return -EIO;
    struct timespec ts {
      0, 20 * 1000 * 1000
    };
    nanosleep(&ts, nullptr);
  }
}

void release_session() {
  pthread_rwlock_unlock(&g_lock);
}

HandleEntry* entry(int handle) {
  if (handle < 0 || handle >= kMaxHandles || !g_handles) return nullptr;
  HandleEntry* e = &g_handles[handle];
  return e->used.load(std::memory_order_acquire) == 1 ? e : nullptr;
}

// Attaches fd in session s: 1 and *handle if it is a ZVFS file, 0 if not, or -errno.
int attach_in_session(Session* s, int fd, int open_flags, AttachInfo* info, int32_t* handle) {
  AttachReq req;
  req.open_flags = open_flags;
  req.may_bind = (open_flags & O_CREAT) ? 1 : 0;
  AttachRep rep;
  size_t len = 0;
  int r = sock_call(s, Op::kAttach, &req, sizeof(req), fd, &rep, sizeof(rep), &len);
  if (r < 0) return r;
  if (len != sizeof(rep)) return -EPROTO;
  if (info) {
    info->zvfs = rep.zvfs != 0;
    info->size = rep.size;
    info->blob_id = rep.blob_id;
  }
  if (!rep.zvfs) return 0;
  *handle = rep.handle;
  return 1;
}

// Attaches e->fd in the current session. Caller holds g_lock shared.
int attach_entry(HandleEntry* e, int open_flags, AttachInfo* info) {
  int32_t h = -1;
  int r = attach_in_session(g_cur, e->fd.load(), open_flags, info, &h);
  if (r != 1) return r;
  e->daemon_handle.store(h);
  e->epoch.store(g_cur->epoch, std::memory_order_release);
  return 1;
}

// Makes sure e is attached in the current session. Caller holds g_lock shared.
int ensure_attached(HandleEntry* e) {
  if (e->epoch.load(std::memory_order_acquire) == g_cur->epoch) return 0;
  pthread_mutex_lock(&g_reattach_mu);
  int r = 0;
  uint64_t old = e->epoch.load();
  if (old != g_cur->epoch) {
    uint64_t w = e->write_gen.load();
    if (old <= g_dead_epoch.load() && e->synced_gen.load() != w) {
      e->lost.store(1);
      e->synced_gen.store(w);
    }
    // O_TRUNC and O_CREAT happened once, at the caller's open: never again on a re-attach.
    r = attach_entry(e, e->open_flags & ~(O_TRUNC | O_CREAT), nullptr);
    if (r == 0) r = -EIO;  // no longer a ZVFS file (binding gone): nothing to reach
  }
  pthread_mutex_unlock(&g_reattach_mu);
  return r < 0 ? r : 0;
}

// initial-exec: no __tls_get_addr (and no allocation) on the data path of the preload library.
__attribute__((tls_model("initial-exec"))) thread_local uint32_t t_slot_hint = 0;
__attribute__((tls_model("initial-exec"))) thread_local uint64_t t_token = 0;
std::atomic<uint64_t> g_token_counter{0};

// This thread's owner word for a parked slot (SlotOwner): a token that no other thread of the
// process ever had.
uint64_t parked_word() {
  if (t_token == 0) t_token = g_token_counter.fetch_add(1) + 1;
  return t_token << 1;
}

// Takes a slot for this thread: its own parked slot, else a free one, else another thread's
// parked one; sleeps while every slot is busy. Returns its index, or -EIO if the session died
// while waiting.
int claim_slot(Session* s) {
  uint32_t n = s->region.slot_count();
  const uint64_t mine = parked_word();
  uint32_t hint = t_slot_hint < n ? t_slot_hint : 0;
  uint64_t expect = mine;
  if (s->owner[hint].word.compare_exchange_strong(expect, mine | 1, std::memory_order_acquire))
    return static_cast<int>(hint);
  for (;;) {
    for (int pass = 0; pass < 2; ++pass) {
      for (uint32_t k = 0; k < n; ++k) {
        uint32_t i = (hint + k) % n;
        uint64_t w = s->owner[i].word.load(std::memory_order_relaxed);
        // Pass 0 takes free slots, pass 1 parked ones (busy ones have bit 0 set).
        if (pass == 0 ? w != 0 : (w & 1) != 0) continue;
        if (s->owner[i].word.compare_exchange_strong(w, mine | 1, std::memory_order_acquire)) {
          t_slot_hint = i;
          return static_cast<int>(i);
        }
      }
    }
    uint32_t seq = s->slot_seq.load();
    s->slot_waiters.fetch_add(1);
    bool any = false;
    for (uint32_t i = 0; i < n && !any; ++i) any = (s->owner[i].word.load() & 1) == 0;
    if (!any) futex_wait(&s->slot_seq, seq, kLivenessPollMs * 1000000ll);
    s->slot_waiters.fetch_sub(1);
    if (s->dead.load() || peer_hung_up(s->sock)) {
      mark_dead(s);
      return -EIO;
    }
  }
}

// Takes a free slot (never one another thread has parked) for this thread, or returns -1.
int claim_free_slot(Session* s) {
  const uint64_t mine = parked_word() | 1;
  for (uint32_t i = 0; i < s->region.slot_count(); ++i) {
    uint64_t w = 0;
    if (s->owner[i].word.load(std::memory_order_relaxed) == 0 &&
        s->owner[i].word.compare_exchange_strong(w, mine, std::memory_order_acquire))
      return static_cast<int>(i);
  }
  return -1;
}

// Parks slot i (the reply has been read): this thread will take it back with one CAS.
void park_slot(Session* s, uint32_t i) {
  s->owner[i].word.store(parked_word(), std::memory_order_seq_cst);
  if (s->slot_waiters.load(std::memory_order_seq_cst) > 0) {
    s->slot_seq.fetch_add(1);
    futex_wake(&s->slot_seq, 1);
  }
}

// Waits for the reply to request `id` in slot i. Returns 0, or -EIO if the daemon died.
int wait_reply(Session* s, uint32_t i, uint32_t id, uint64_t spin_ns) {
  ReplyLine* sl = &s->region.slot(i)->reply;
  RegionHeader* h = s->region.header();
  auto ready = [sl, id] { return sl->done.load(std::memory_order_acquire) == id; };
  // One spinning thread per process: with 2 CPUs, more spinners would starve the daemon.
  uint32_t zero = 0;
  if (h->client_spinners.compare_exchange_strong(zero, 1)) {
    bool done = spin_until(ready, spin_ns);
    h->client_spinners.store(0);
    if (done) return 0;
  }
  for (;;) {
    uint32_t st = sl->done.load();
    if (st == id) break;
    // A count: the slot's user and an fsync taking its write-behind's reply may both wait.
    sl->client_sleeping.fetch_add(1);
    st = sl->done.load();
    if (st != id) futex_wait(&sl->done, st, kLivenessPollMs * 1000000ll);
    sl->client_sleeping.fetch_sub(1);
    if (ready()) break;
    if (s->dead.load() || peer_hung_up(s->sock)) {
      mark_dead(s);
      return -EIO;
    }
  }
  return 0;
}

// Waits until the write-behind `id` in slot i has its reply or somebody else took it (the
// slot's behind_id moved on). Returns 1 when the reply is there, 0 when taken, -EIO when the
// session died.
int wait_behind(Session* s, uint32_t i, uint32_t id) {
  ReplyLine* sl = &s->region.slot(i)->reply;
  std::atomic<uint32_t>& mine = s->owner[i].behind_id;
  for (;;) {
    if (sl->done.load(std::memory_order_acquire) == id) return 1;
    if (mine.load() != id) return 0;
    sl->client_sleeping.fetch_add(1);
    uint32_t st = sl->done.load();
    if (st != id && mine.load() == id) futex_wait(&sl->done, st, kLivenessPollMs * 1000000ll);
    sl->client_sleeping.fetch_sub(1);
    if (s->dead.load() || peer_hung_up(s->sock)) {
      mark_dead(s);
      return -EIO;
    }
  }
}

// Takes the reply of the write-behind `id` in slot i (it has arrived): a failure goes to its
// handle entry's behind_err, for the next sync. Returns the reply's status, or 0 if somebody
// else took it first (and kept any failure).
int32_t take_behind(Session* s, uint32_t i, uint32_t id) {
  SlotOwner& o = s->owner[i];
  const int32_t st = s->region.slot(i)->reply.hdr.status;
  const int32_t ent = o.behind_entry.load();
  uint32_t expect = id;
  if (!o.behind_id.compare_exchange_strong(expect, 0)) return 0;
  if (st < 0 && ent >= 0 && ent < kMaxHandles) {
    int32_t none = 0;
    g_handles[ent].behind_err.compare_exchange_strong(none, st);
  }
  return st;
}

// The session died before the write-behind `id` in slot i was answered: it is forgotten (its
// handle's next sync reports EIO, as for any unsynced write of a dead session).
void forget_behind(Session* s, uint32_t i, uint32_t id) {
  uint32_t expect = id;
  s->owner[i].behind_id.compare_exchange_strong(expect, 0);
}

// Before a thread reuses slot i: the reply of a write-behind still pending there first.
void settle_slot(Session* s, uint32_t i) {
  const uint32_t id = s->owner[i].behind_id.load();
  if (id == 0) return;
  // As for any reply: no spinning while the daemon says the CPUs are taken.
  const bool spin = s->region.header()->spin_ok.load(std::memory_order_relaxed) != 0;
  if (wait_reply(s, i, id, spin ? kReplySpinNs : 0) == 0)
    (void)take_behind(s, i, id);
  else
    forget_behind(s, i, id);
}

// Waits for the replies of every write-behind of handle entry e, whichever slot holds them
// (an fsync covers all writes that returned before it, and reports their failures).
void settle_entry(Session* s, HandleEntry* e) {
  const int32_t ent = static_cast<int32_t>(e - g_handles);
  for (uint32_t i = 0; i < s->region.slot_count(); ++i) {
    const uint32_t id = s->owner[i].behind_id.load();
    if (id == 0 || s->owner[i].behind_entry.load() != ent) continue;
    int r = wait_behind(s, i, id);
    if (r == 1) (void)take_behind(s, i, id);
    if (r < 0) return;
  }
}

struct Io {
  Op op;
  int32_t arg = 0;
  uint64_t off = 0;
  uint64_t len = 0;
  const void* src = nullptr;  // copied into the slot's data buffer (len bytes)
  void* dst = nullptr;        // filled from the slot's data buffer (result bytes)
  bool retry = true;          // idempotent: may be re-sent once on a new session
  bool syncs = false;         // includes a sync: waits for the device (spin as for a sync)
  bool behind = false;        // a write that may return once published (write-behind, shm.h)
};

// Whether a write of io (already attached as e) may be answered before it is applied: the
// daemon allows it (behind_ok), it is small, writable and stays inside the file's size (so
// no size that a SEEK_END or fstat reads is behind), and the session has room for one more.
bool may_write_behind(Session* s, HandleEntry* e, const Io& io) {
  if (!io.behind || io.len == 0 || io.len > kBehindMaxBytes) return false;
  if ((e->open_flags & O_ACCMODE) == O_RDONLY) return false;
  RegionHeader* h = s->region.header();
  if (h->behind_ok.load(std::memory_order_relaxed) != 1) return false;
  const int32_t dh = e->daemon_handle.load();
  if (dh < 0 || static_cast<uint32_t>(dh) >= kSizeCells) return false;
  const uint64_t size = s->region.size_cell(static_cast<uint32_t>(dh))->load();
  return io.off <= size && io.len <= size - io.off;
}

// One data-path round trip on handle entry e (or no handle for kNull). Returns the reply's
// result (>= 0) or -errno; *rep gets the reply body.
int64_t slot_call(HandleEntry* e, const Io& io, IoRep* rep) {
  uint64_t deadline = 0;
  for (int attempt = 0;; ++attempt) {
    int r = acquire_session(&deadline);
    if (r < 0) return r;
    Session* s = g_cur;
    if (e && (r = ensure_attached(e)) < 0) {
      release_session();
      if (s->dead.load() && attempt == 0) continue;
      return r;
    }
    int idx = claim_slot(s);
    if (idx < 0) {
      release_session();
      if (attempt == 0 && io.retry) continue;
      return -EIO;
    }
    uint32_t i = static_cast<uint32_t>(idx);
    // The slot's write-behind not yet answered: rather than wait for that reply and then send
    // (two wake-ups of a sleeping worker), send from a free slot; the daemon applies the write
    // before it serves this request anyway.
    const uint32_t pend = s->owner[i].behind_id.load();
    if (pend != 0 && s->region.slot(i)->reply.done.load(std::memory_order_acquire) != pend) {
      int j = claim_free_slot(s);
      if (j >= 0) {
        park_slot(s, i);
        i = static_cast<uint32_t>(j);
      }
    }
    settle_slot(s, i);
    Slot* slot = s->region.slot(i);
    RequestLine* sl = &slot->request;
    RegionHeader* h = s->region.header();
    bool behind = e && may_write_behind(s, e, io);
    if (behind && h->behind_pending.fetch_add(1) >= kBehindMaxPending) {
      h->behind_pending.fetch_sub(1);
      behind = false;
    }
    if (io.src && io.len) copy_bytes(s->region.data(i), io.src, io.len);
    // A new id for each request of the slot (never 0, the reply line's initial `done`).
    uint32_t id = s->owner[i].last_id + 1;
    if (id == 0) id = 1;
    s->owner[i].last_id = id;
    MsgHeader hd;
    hd.opcode = static_cast<uint16_t>(io.op);
    hd.request_id = id;
    hd.payload_len = sizeof(IoReq);
    IoReq body;
    body.handle = e ? static_cast<uint32_t>(e->daemon_handle.load()) : 0;
    body.arg = behind ? io.arg | kWriteBehind : io.arg;
    body.off = io.off;
    body.len = io.len;
    sl->sync_after.store(0, std::memory_order_relaxed);
    sl->hdr = hd;  // the state word's line: one transfer carries state and request
    sl->req = body;
    if (behind) {
      if (!g_wrote_behind.load(std::memory_order_relaxed)) g_wrote_behind.store(true);
      // Taken after every write that returned before this one was called, so it orders them.
      sl->stamp = now_ns();
      s->owner[i].behind_entry.store(static_cast<int32_t>(e - g_handles));
      s->owner[i].behind_id.store(id);
    }
    sl->state.store(kRequest, std::memory_order_seq_cst);
    // Ring only if a worker announced that it sleeps: a worker announces (daemon_sleepers++)
    // before its last scan, so with seq_cst either that scan sees kRequest or we see it.
    // Nor while a worker spins: it will see the request, and a woken second worker would land
    // on this CPU and preempt us. A spinner withdraws before it re-scans and sleeps, so either
    // we see no spinner or its re-scan sees kRequest.
    bool woke = h->daemon_sleepers.load(std::memory_order_seq_cst) > 0 &&
                h->daemon_spinners.load(std::memory_order_seq_cst) == 0;
    if (woke) {
      h->doorbell.fetch_add(1, std::memory_order_seq_cst);
      futex_wake(&h->doorbell, 1);
    }
    if (behind) {  // answered now; the slot is reused (or an fsync waits) after its reply
      park_slot(s, i);
      release_session();
      rep->result = static_cast<int64_t>(io.len);
      return rep->result;
    }
    // No spinning while the daemon says spinners would take CPUs that work needs (several
    // client processes on oversubscribed CPUs: daemon/load_monitor.h). Otherwise a sync, which
    // waits for a device write and flush (hundreds of us), spins through it too: the wake-up
    // it saves is 20-60% of a 4 KiB write + fdatasync here. A bulk write without a sync sleeps
    // at once: the worker copies it into the cache for longer than a wake-up takes, and the
    // CPU is better left to the txg commit that checksums and writes such data.
    const uint64_t spin = h->spin_ok.load(std::memory_order_relaxed) == 0  ? 0
                          : io.op == Op::kSync || io.syncs                 ? kSyncSpinNs
                          : io.src != nullptr && io.len >= kBulkWriteBytes ? 0
                          : woke                                           ? kReplySpinAfterWakeNs
                                                                           : kReplySpinNs;
    r = wait_reply(s, i, id, spin);
    if (r < 0) {
      release_session();
      if (attempt == 0 && io.retry) continue;
      return -EIO;
    }
    const ReplyLine& rl = slot->reply;
    MsgHeader rh = rl.hdr;
    *rep = rl.rep;
    int64_t result = rh.status < 0 ? rh.status : rep->result;
    if (result > 0 && io.dst) {
      uint64_t n = static_cast<uint64_t>(result);
      if (n > io.len) n = io.len;  // never trust the peer with our buffer's size
      copy_bytes(io.dst, s->region.data(i), n);
    }
    park_slot(s, i);
    release_session();
    return result;
  }
}

int handle_call(int handle, const Io& io, IoRep* rep, int64_t* result) {
  HandleEntry* e = entry(handle);
  if (!e) return -EBADF;
  int64_t r = slot_call(e, io, rep);
  if (r < 0) return static_cast<int>(r);
  *result = r;
  return 0;
}

uint32_t chunk_bytes() {
  return g_chunk_bytes.load(std::memory_order_relaxed);
}

// Takes the replies of every write-behind of e (if the session is live; a dead one's are lost
// and reported as EIO by the handle's next sync).
void settle_handle(HandleEntry* e) {
  if (!g_wrote_behind.load()) return;
  pthread_rwlock_rdlock(&g_lock);
  if (g_cur->epoch != 0 && !g_cur->dead.load()) settle_entry(g_cur, e);
  pthread_rwlock_unlock(&g_lock);
}

// An fsync that finds the write-behind of its own handle still pending in this thread's slot
// asks the daemon to sync right after applying it (sync_after): one round trip for the write
// and the sync, as for an O_DSYNC write. Returns true with *result when it did so.
bool sync_with_behind(HandleEntry* e, int* result) {
  if (!g_wrote_behind.load()) return false;
  uint64_t deadline = 0;
  if (acquire_session(&deadline) < 0) return false;
  Session* s = g_cur;
  const uint32_t i = t_slot_hint;
  if (i >= s->region.slot_count()) {
    release_session();
    return false;
  }
  SlotOwner& o = s->owner[i];
  uint64_t expect = parked_word();
  const uint32_t id = o.behind_id.load();
  if (id == 0 || e->epoch.load() != s->epoch ||
      o.behind_entry.load() != static_cast<int32_t>(e - g_handles) ||
      !o.word.compare_exchange_strong(expect, expect | 1, std::memory_order_acquire)) {
    release_session();
    return false;
  }
  uint32_t zero = 0;
  bool asked = o.behind_id.load() == id &&
               s->region.slot(i)->request.sync_after.compare_exchange_strong(zero, kSyncAsked);
  if (asked) {
    const bool spin = s->region.header()->spin_ok.load(std::memory_order_relaxed) != 0;
    if (wait_reply(s, i, id, spin ? kSyncSpinNs : 0) == 0) {
      *result = take_behind(s, i, id);
    } else {
      forget_behind(s, i, id);
      *result = -EIO;
    }
  }
  park_slot(s, i);
  release_session();
  return asked;
}

}  // namespace

long with_kernel_probe(long (*fn)(void* arg), void* arg) {
  uint64_t deadline = 0;
  if (acquire_session(&deadline) != 0) return fn(arg);  // no daemon: no guard either
  RegionHeader* h = g_cur->region.header();
  std::atomic<uint32_t>& probes = h->kernel_probes;
  h->client_pid.store(static_cast<int32_t>(getpid()), std::memory_order_relaxed);
  probes.fetch_add(1, std::memory_order_seq_cst);
  long r = fn(arg);
  int e = errno;
  probes.fetch_sub(1, std::memory_order_seq_cst);
  release_session();
  errno = e;
  return r;
}

int attach(int fd, int open_flags, AttachInfo* info) {
  if (!ensure_init()) return -ENOMEM;
  AttachInfo local;
  if (!info) info = &local;
  *info = AttachInfo{};
  int idx = -1;
  pthread_mutex_lock(&g_init_mu);
  static int hint = 0;
  for (int k = 0; k < kMaxHandles; ++k) {
    int i = (hint + k) % kMaxHandles;
    if (!g_handles[i].used.load()) {
      idx = i;
      hint = i + 1;
      HandleEntry* e = &g_handles[i];
      e->fd.store(fd);
      e->open_flags = open_flags;
      e->epoch.store(0);
      e->daemon_handle.store(-1);
      e->write_gen.store(0);
      e->synced_gen.store(0);
      e->lost.store(0);
      e->behind_err.store(0);
      e->fork_handle = -1;
      e->used.store(2);  // reserved until the daemon answers
      if (i + 1 > g_handle_high.load()) g_handle_high.store(i + 1);
      break;
    }
  }
  pthread_mutex_unlock(&g_init_mu);
  if (idx < 0) return -EMFILE;
  HandleEntry* e = &g_handles[idx];
  uint64_t deadline = 0;
  int r;
  for (int attempt = 0;; ++attempt) {
    r = acquire_session(&deadline);
    if (r < 0) break;
    r = attach_entry(e, open_flags, info);
    bool dead = g_cur->dead.load();
    release_session();
    if (r == -EIO && dead && attempt == 0) continue;
    break;
  }
  if (r <= 0) {
    e->used.store(0, std::memory_order_release);
    info->zvfs = false;
    return r < 0 ? r : -1;
  }
  e->used.store(1, std::memory_order_release);
  return idx;
}

int detach(int handle) {
  HandleEntry* e = entry(handle);
  if (!e) return -EBADF;
  int r = 0;
  pthread_rwlock_rdlock(&g_lock);
  bool live = g_cur->epoch != 0 && !g_cur->dead.load() && e->epoch.load() == g_cur->epoch;
  pthread_rwlock_unlock(&g_lock);
  if (live) {
    settle_handle(e);  // its write-behinds' failures die with it, as close(2) does not report
    IoRep rep;
    Io io{Op::kDetach};
    io.retry = false;
    int64_t res = slot_call(e, io, &rep);
    if (res < 0 && res != -EIO) r = static_cast<int>(res);
  }
  e->used.store(0, std::memory_order_release);
  return r;
}

int set_fd(int handle, int fd) {
  HandleEntry* e = entry(handle);
  if (!e) return -EBADF;
  e->fd.store(fd);
  return 0;
}

ssize_t pread(int handle, void* buf, size_t len, uint64_t off) {
  if (!entry(handle)) return -EBADF;
  size_t done = 0;
  while (done < len) {
    uint64_t chunk = len - done < chunk_bytes() ? len - done : chunk_bytes();
    Io io{Op::kRead};
    io.off = off + done;
    io.len = chunk;
    io.dst = static_cast<uint8_t*>(buf) + done;
    IoRep rep;
    int64_t got = 0;
    int r = handle_call(handle, io, &rep, &got);
    if (r < 0) return done ? static_cast<ssize_t>(done) : r;
    done += static_cast<size_t>(got);
    if (static_cast<uint64_t>(got) < chunk) break;
  }
  return static_cast<ssize_t>(done);
}

ssize_t pwrite(int handle, const void* buf, size_t len, uint64_t off) {
  HandleEntry* e = entry(handle);
  if (!e) return -EBADF;
  size_t done = 0;
  while (done < len) {
    uint64_t chunk = len - done < chunk_bytes() ? len - done : chunk_bytes();
    Io io{Op::kWrite};
    io.off = off + done;
    io.len = chunk;
    io.src = static_cast<const uint8_t*>(buf) + done;
    io.behind = g_behind_enabled && chunk == len;
    IoRep rep;
    int64_t put = 0;
    int r = handle_call(handle, io, &rep, &put);
    if (r < 0) return done ? static_cast<ssize_t>(done) : r;
    e->write_gen.fetch_add(1);
    done += static_cast<size_t>(put);
    if (put == 0) break;
  }
  return static_cast<ssize_t>(done);
}

namespace {
// A sync succeeded that covers the handle's writes up to write generation gen.
void mark_synced(HandleEntry* e, uint64_t gen) {
  uint64_t cur = e->synced_gen.load();
  while (cur < gen && !e->synced_gen.compare_exchange_weak(cur, gen)) {
  }
}
}  // namespace

ssize_t pwrite_sync(int handle, const void* buf, size_t len, uint64_t off, bool datasync) {
  HandleEntry* e = entry(handle);
  if (!e) return -EBADF;
  if (len == 0 || len > chunk_bytes()) {
    ssize_t n = pwrite(handle, buf, len, off);
    if (n <= 0) return n;
    int s = sync(handle, datasync);
    return s < 0 ? s : n;
  }
  Io io{Op::kWrite};
  io.off = off;
  io.len = len;
  io.src = buf;
  io.arg = 1;  // sync after the write, in the same round trip
  io.syncs = true;
  IoRep rep;
  int64_t put = 0;
  int r = handle_call(handle, io, &rep, &put);
  // Written, perhaps, even when the sync failed: a later sync must not count it as synced.
  uint64_t gen = e->write_gen.fetch_add(1) + 1;
  if (e->lost.exchange(0)) return -EIO;
  if (r < 0) return r;
  mark_synced(e, gen);
  return static_cast<ssize_t>(put);
}

ssize_t append(int handle, const void* buf, size_t len, uint64_t* end_out) {
  HandleEntry* e = entry(handle);
  if (!e) return -EBADF;
  IoRep rep;
  int64_t off = 0;
  if (len <= chunk_bytes()) {
    Io io{Op::kAppend};
    io.len = len;
    io.src = buf;
    io.retry = false;
    int r = handle_call(handle, io, &rep, &off);
    if (r < 0) return r;
    e->write_gen.fetch_add(1);
    if (end_out) *end_out = static_cast<uint64_t>(off) + len;
    return static_cast<ssize_t>(len);
  }
  // Larger than a slot: reserve the range atomically, then fill it.
  Io io{Op::kAppendReserve};
  io.len = len;
  io.retry = false;
  int r = handle_call(handle, io, &rep, &off);
  if (r < 0) return r;
  e->write_gen.fetch_add(1);
  ssize_t w = pwrite(handle, buf, len, static_cast<uint64_t>(off));
  if (w < 0) return w;
  if (end_out) *end_out = static_cast<uint64_t>(off) + static_cast<uint64_t>(w);
  return w;
}

int truncate(int handle, uint64_t size) {
  HandleEntry* e = entry(handle);
  if (!e) return -EBADF;
  Io io{Op::kTruncate};
  io.off = size;
  IoRep rep;
  int64_t res = 0;
  int r = handle_call(handle, io, &rep, &res);
  if (r == 0) e->write_gen.fetch_add(1);
  return r;
}

int fallocate(int handle, int mode, uint64_t off, uint64_t len) {
  HandleEntry* e = entry(handle);
  if (!e) return -EBADF;
  Io io{Op::kFallocate};
  io.arg = mode;
  io.off = off;
  io.len = len;
  IoRep rep;
  int64_t res = 0;
  int r = handle_call(handle, io, &rep, &res);
  if (r == 0 && mode != FALLOC_FL_KEEP_SIZE) e->write_gen.fetch_add(1);
  return r;
}

int sync(int handle, bool datasync) {
  HandleEntry* e = entry(handle);
  if (!e) return -EBADF;
  uint64_t gen = e->write_gen.load();
  int r = 0;
  if (!sync_with_behind(e, &r)) {
    Io io{Op::kSync};
    io.arg = datasync ? 1 : 0;
    IoRep rep;
    int64_t res = 0;
    r = handle_call(handle, io, &rep, &res);
  }
  // The daemon applied every write-behind before the sync; their failures are reported now.
  settle_handle(e);
  if (e->lost.exchange(0)) return -EIO;
  const int32_t werr = e->behind_err.exchange(0);
  if (r == 0 && werr < 0) r = werr;
  if (r == 0) mark_synced(e, gen);
  return r;
}

int stat(int handle, BlobStatInfo* out) {
  Io io{Op::kStat};
  IoRep rep;
  int64_t res = 0;
  int r = handle_call(handle, io, &rep, &res);
  if (r < 0) return r;
  out->size = rep.aux0;
  out->allocated_bytes = rep.aux1;
  return 0;
}

int end_of_file(int handle, uint64_t* size) {
  HandleEntry* e = entry(handle);
  if (!e) return -EBADF;
  uint64_t deadline = 0;
  int r = acquire_session(&deadline);
  if (r < 0) return r;  // it waited for the daemon already
  if ((r = ensure_attached(e)) == 0) {
    int32_t dh = e->daemon_handle.load();
    if (dh >= 0 && static_cast<uint32_t>(dh) < kSizeCells) {
      *size = g_cur->region.size_cell(static_cast<uint32_t>(dh))->load(std::memory_order_acquire);
    } else {
      r = -EBADF;
    }
  }
  release_session();
  if (r == 0) return 0;
  // Not attached in this session (e.g. the daemon just restarted): ask, which re-attaches and
  // retries like any request.
  BlobStatInfo bs;
  r = stat(handle, &bs);
  if (r < 0) return r;
  *size = bs.size;
  return 0;
}

int seek(int handle, uint64_t off, int whence, uint64_t* result) {
  if (whence != SEEK_DATA && whence != SEEK_HOLE) return -EINVAL;
  Io io{Op::kSeek};
  io.off = off;
  io.arg = whence;
  IoRep rep;
  int64_t res = 0;
  int r = handle_call(handle, io, &rep, &res);
  if (r < 0) return r;
  *result = static_cast<uint64_t>(res);
  return 0;
}

int note_mtime_set(int handle) {
  Io io{Op::kMtimeSet};
  IoRep rep;
  int64_t res = 0;
  return handle_call(handle, io, &rep, &res);
}

namespace {

// A socket request carrying `fd` and no body, on the current session: once more on a new
// session if the daemon went away meanwhile (a restart), as attach does. Both such requests
// can be repeated. Returns the reply's status.
int fd_call(Op op, int fd, void* rep, size_t rep_cap, size_t* rep_len) {
  if (!ensure_init()) return -ENOMEM;
  uint64_t deadline = 0;
  int r;
  for (int attempt = 0;; ++attempt) {
    r = acquire_session(&deadline);
    if (r < 0) return r;
    r = sock_call(g_cur, op, nullptr, 0, fd, rep, rep_cap, rep_len);
    bool dead = g_cur->dead.load();
    release_session();
    if (r == -EIO && dead && attempt == 0) continue;
    return r;
  }
}

}  // namespace

int release_if_unlinked(int opath_fd) {
  int r = fd_call(Op::kReleaseIfUnlinked, opath_fd, nullptr, 0, nullptr);
  return r < 0 ? r : 0;
}

int stat_file(int fd, BlobStatInfo* out) {
  StatFileRep rep;
  size_t got = 0;
  int r = fd_call(Op::kStatFile, fd, &rep, sizeof rep, &got);
  if (r == 1 && got != sizeof rep) return -EPROTO;
  if (r == 1) {
    out->size = rep.size;
    out->allocated_bytes = rep.allocated_bytes;
  }
  return r;
}

bool owns_fd(int fd) {
  return fd >= 0 && (fd == g_owned_sock.load(std::memory_order_relaxed) ||
                     fd == g_owned_fork_sock.load(std::memory_order_relaxed));
}

int owned_fds(int* out, int cap) {
  int n = 0;
  int a = g_owned_sock.load();
  int b = g_owned_fork_sock.load();
  if (a >= 0 && n < cap) out[n++] = a;
  if (b >= 0 && b != a && n < cap) out[n++] = b;
  return n;
}

int move_owned_fd(int fd) {
  if (!owns_fd(fd)) return 0;
  // The fork session is only open inside fork() itself (g_fork_mu); the current session's
  // socket changes under g_lock held exclusive, so no request is using it meanwhile.
  pthread_mutex_lock(&g_fork_mu);
  pthread_rwlock_wrlock(&g_lock);
  int r = 0;
  if (g_cur->sock == fd && g_owned_sock.load() == fd) {
    int saved = errno;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (nfd < 0) {
      r = -errno;
    } else {
      g_cur->sock = nfd;
      g_owned_sock.store(nfd);
      close(fd);  // no longer owned: goes through
    }
    errno = saved;
  }
  pthread_rwlock_unlock(&g_lock);
  pthread_mutex_unlock(&g_fork_mu);
  return r;
}

int ensure_session() {
  if (!ensure_init()) return -ENOMEM;
  uint64_t deadline = 0;
  int r = acquire_session(&deadline);
  if (r < 0) return r;
  release_session();
  return 0;
}

bool has_session() {
  return g_owned_sock.load(std::memory_order_relaxed) >= 0;
}

int try_session() {
  // After a failed attempt (no daemon), none for a second: the callers are opens.
  static std::atomic<uint64_t> next_try{0};
  if (t_no_connect) return -EIO;
  if (!ensure_init()) return -ENOMEM;
  uint64_t now = now_ns();
  if (now < next_try.load(std::memory_order_relaxed)) return -EAGAIN;
  int r = connect_current();
  if (r != 0) next_try.store(now + 1000000000ull, std::memory_order_relaxed);
  return r;
}

void set_thread_private_fds(bool on) {
  t_no_connect = on;
}

bool connected() {
  return g_connected_once.load();
}

// Not in client.h: a null round trip through a slot, for benchmarks and tests.
int null_request() {
  if (!ensure_init()) return -ENOMEM;
  IoRep rep;
  Io io{Op::kNull};
  int64_t r = slot_call(nullptr, io, &rep);
  return r < 0 ? static_cast<int>(r) : 0;
}

int64_t doorbell_rings() {
  if (!ensure_init()) return -ENOMEM;
  uint64_t deadline = 0;
  int r = acquire_session(&deadline);
  if (r < 0) return r;
  int64_t n = g_cur->region.header()->doorbell.load();
  release_session();
  return n;
}

}  // namespace zvfs::ipc
