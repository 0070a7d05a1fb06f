// session.h — one client connection of the daemon.
//
// Owns: the connection's control socket, its shared-memory region (created at the hello), its
// handles (each an open file description the client attached: the daemon's own copy of the fd,
// the access mode, and a reference on an OpenBlob), and its threads: one control thread that
// reads the socket, and `session_workers` workers that serve the shared-memory slots (started
// once the hello is answered).
//
// Workers: each loops claiming a slot in state kRequest (CAS to kServing), copies the request
// out of shared memory, validates the copy, serves it, writes the reply and wakes the client
// only if it announced it sleeps. When idle (and while Context::spin_ok says a CPU is free: see
// load_monitor.h), at most Context::spinners_max workers daemon-wide
// spin for --poll-us (Options::poll_us), or at least kSpinAfterWakeNs right after waking a
// sleeping client (it needs a wake-up before it can send again), and only if the session saw a
// request within kSpinWindowNs; the
// rest announce themselves in daemon_sleepers and sleep on the doorbell futex (bounded waits).
// A spinning worker stays announced (daemon_spinners) while it serves quick requests
// (quick_request: answered from memory) of one spinning client thread, and withdraws before one
// that may wait for the device or that comes from a second slot or a sleeping client.
// Several workers per session let one client thread's slow sync not block another's read.
//
// Lifetime: the session ends when the client closes the socket (exit, kill -9) or the daemon
// stops. Then the workers finish the request they are serving, exit, and every handle is
// released (fd closed, blob reference dropped, deferred deletes done).
//
// Hostile clients: every byte read from the socket or the region is validated before use;
// a malformed socket message ends the session, a malformed slot request gets an error reply.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "daemon/context.h"
#include "ipc/protocol.h"
#include "ipc/shm.h"

namespace zvfs::daemon {

struct Handle {
  std::shared_ptr<OpenBlob> ob;
  int fd = -1;
  int accmode = 0;         // O_RDONLY / O_WRONLY / O_RDWR of the client's open file description
  uint64_t max_bytes = 0;  // the largest file the placeholder's file system allows (file_limit.h)
  BlobTable* table = nullptr;
  std::atomic<uint64_t>* cell = nullptr;  // this handle's size cell in the session's region
  ~Handle();
};

class Session {
 public:
  Session(Context& ctx, int sock, uint64_t id);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();     // starts the control thread
  void shutdown();  // asks the session to end (the daemon is stopping)
  void join();      // waits for its threads (after it ended)
  bool finished() const { return finished_.load(); }
  bool data_session() const { return data_session_.load(); }  // said hello

  uint64_t id() const { return id_; }
  pid_t pid() const { return pid_; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }
  size_t handle_count() const;
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  // Hands the daemon's spin verdict to the client through the region header.
  void publish_spin_hint(bool ok);
  // Hands the daemon's write-behind permission to the client (ipc/shm.h).
  void publish_behind_ok(bool ok);

  // Write-behind (write_behind.h; called by WriteBehind::settle under its lock, except
  // finish_behind). behind_pending: the client's count says some may be pending.
  bool behind_pending() const;
  // Claims (kRequest -> kServing) every write-behind in the slots and appends them to *out.
  void claim_behind(std::vector<WriteBehind::Item>* out);
  // Applies a claimed write-behind's write; its result goes to it->result.
  void apply_behind(WriteBehind::Item* it);
  // Its sync if the client asked for one, and its reply. The sync runs in the caller only if
  // sync_here; otherwise the slot is handed to this session's workers (run_deferred_syncs).
  void finish_behind(const WriteBehind::Item& it, bool sync_here);

  // Whether the session served a request since the last call (the load monitor's sampler).
  bool took_requests_since_last_call() {
    uint64_t n = requests_.load(std::memory_order_relaxed);
    return requests_seen_.exchange(n, std::memory_order_relaxed) != n;
  }

  // Set by the server: called for socket requests it serves itself (stats, scrub, shutdown).
  // Writes a reply body into `rep` (cap bytes) and returns its length, status in *status.
  using AdminFn = size_t (*)(void* server, Session& s, ipc::Op op, void* rep, size_t cap,
                             int32_t* status);
  void set_admin(AdminFn fn, void* server) {
    admin_ = fn;
    admin_arg_ = server;
  }

 private:
  void control_loop();
  bool handle_socket_message(const uint8_t* buf, size_t len, int fd);
  int32_t do_hello(const ipc::HelloReq& req, int* memfd_out, ipc::HelloRep* rep);
  int32_t do_attach(const ipc::AttachReq& req, int fd, ipc::AttachRep* rep);
  int32_t do_release_if_unlinked(int fd);
  // kStatFile: 1 and *rep for a file bound to a blob of this pool, 0 for any other; closes fd.
  int32_t do_stat_file(int fd, ipc::StatFileRep* rep);
  bool may_bind_empty_file(const struct stat& st, int accmode) const;
  Result<std::shared_ptr<OpenBlob>> open_bound_blob(int fd, const struct stat& st, int accmode,
                                                    bool may_bind);

  void worker_loop();
  // Runs the joined syncs that another worker handed to this session (finish_behind), and
  // replies to their write-behinds.
  void run_deferred_syncs();
  // The sync a client joined to its write-behind (whose write gave write_result): the sync's
  // failure, or write_result.
  int64_t joined_sync(uint32_t handle, int64_t write_result);
  // Claims a slot holding a request (kRequest -> kServing) and returns its index; -1 if there is
  // none; kBehindFound if there is a write-behind, which only WriteBehind::settle() claims.
  static constexpr int kBehindFound = -2;
  int find_request();
  bool quick_request(uint32_t i) const;
  uint64_t poll_after(uint64_t len, bool woke) const;
  // Serves slot i; *len = the request's length field. True if the client slept and was woken.
  bool serve_slot(uint32_t i, uint64_t* len);
  // Writes the reply of slot i's request (header h) and wakes the client if it sleeps. True if
  // it did. t0: when serving began (for the op statistics).
  bool reply_slot(uint32_t i, const ipc::MsgHeader& h, int64_t result, ipc::IoRep rep, uint64_t t0);
  // Serves slot i's request, already claimed and copied out (h, body). in_settle: called from
  // inside WriteBehind::settle() (the registry is held).
  bool serve_claimed(uint32_t i, const ipc::MsgHeader& h, ipc::IoReq body, uint64_t t0,
                     uint64_t* len, bool in_settle = false);
  int sync_handle(Handle& h);  // the blob's sync (and the placeholder's, the first time)
  int64_t serve_io(uint16_t op, const ipc::IoReq& r, uint8_t* data, ipc::IoRep* rep);
  std::shared_ptr<Handle> get_handle(uint32_t h) const;
  int add_handle(std::shared_ptr<Handle> h);
  bool remove_handle(uint32_t h);
  void start_workers();
  void stop_workers();

  Context& ctx_;
  int sock_;
  uint64_t id_;
  pid_t pid_ = 0;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  ipc::Region region_;
  // region_'s header while it is mapped (set after the hello, cleared before the unmap under
  // hint_mu_, which publish_spin_hint() holds while it writes there).
  std::atomic<ipc::RegionHeader*> header_{nullptr};
  std::mutex hint_mu_;
  bool hello_done_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> finished_{false};
  std::atomic<bool> data_session_{false};
  std::atomic<uint64_t> last_request_ns_{0};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> requests_seen_{0};
  std::atomic<int> session_spinner_{0};
  // The requests claim_behind() copied out of the slots (under WriteBehind's lock), and whether
  // each really was a write-behind (a client may change its slot between the look and the claim:
  // then it is served as an ordinary request by finish_behind).
  struct Claimed {
    ipc::MsgHeader hdr;
    ipc::IoReq req;
    bool behind = false;
    uint64_t t0 = 0;
    int64_t result = 0;  // of the applied write, while its sync waits in deferred_syncs_
  };
  Claimed claimed_[ipc::kMaxSlotCount];
  // Slots (bit i = slot i) whose write-behind is applied and whose joined sync and reply are
  // left to this session's workers: set by whichever worker settled them, taken (exchange) by
  // one of ours. The slot stays kServing until then, so its claimed_ entry stays put.
  std::atomic<uint64_t> deferred_syncs_{0};
  static_assert(ipc::kMaxSlotCount <= 64);
  std::thread control_;
  std::vector<std::thread> workers_;
  mutable std::shared_mutex handles_mu_;
  std::vector<std::shared_ptr<Handle>> handles_;  // index = handle number
  size_t live_handles_ = 0;
  AdminFn admin_ = nullptr;
  void* admin_arg_ = nullptr;
};

}  // namespace zvfs::daemon
