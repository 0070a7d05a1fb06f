// server.h — zvfsd's listening socket, its sessions, and the requests the daemon answers as a
// whole (stats, scrub, shutdown).
//
// Owns: the listening socket (SOCK_SEQPACKET, mode --socket-mode, group --socket-group), the
// list of sessions (bounded by --max-sessions: further connections are closed at once; and by
// --max-sessions-per-user per uid: further connections of that uid get EUSERS, see
// refusals.h), the background scrub, and the orderly stop.
//
// Stop (SIGTERM/SIGINT via signalfd, or a shutdown request from the daemon's own uid or root):
// stop accepting, remove the socket file, end every session (each finishes the request it is
// serving, then releases its handles), and return; main() then exports the pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

#include "daemon/context.h"
#include "daemon/placeholder_guard.h"
#include "daemon/refusals.h"
#include "daemon/session.h"
#include "zvfs/status.h"

namespace zvfs::daemon {

class Server {
 public:
  explicit Server(Context& ctx) : ctx_(ctx) {}
  ~Server();

  // Creates the socket directory if needed and starts listening.
  Status listen();
  // Serves until a stop; signal_fd (a signalfd for SIGTERM/SIGINT) may be -1.
  void run(int signal_fd);
  void request_stop();

 private:
  static size_t admin_thunk(void* self, Session& s, ipc::Op op, void* rep, size_t cap,
                            int32_t* status);
  size_t admin(Session& s, ipc::Op op, void* rep, size_t cap, int32_t* status);
  size_t fill_stats(void* rep, size_t cap);
  void accept_one();
  void reap(bool all);
  // Live sessions of `uid`. Caller holds mu_.
  uint32_t user_sessions(uid_t uid) const;
  Context& ctx_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd
  std::mutex mu_;
  std::list<std::unique_ptr<Session>> sessions_;  // guarded by mu_
  uint64_t next_session_ = 1;
  Refusals refusals_;          // accept thread only
  uint32_t active_sessions();  // with requests since the last call; takes mu_
  // Hands the spin verdict and the write-behind permission to every session; takes mu_.
  void publish_hints(bool spin_ok);
  bool behind_allowed();           // the pool has room for every write-behind that may be pending
  uint64_t refused_per_user_ = 0;  // accept thread only

  std::unique_ptr<PlaceholderGuard> guard_;  // from run() until its sessions are gone
  std::mutex scrub_mu_;
  std::thread scrub_thread_;
  std::atomic<bool> scrub_running_{false};
  std::atomic<bool> scrub_finished_{false};
  std::atomic<uint64_t> scrub_done_{0}, scrub_total_{0}, scrub_errors_{0};
  std::atomic<int32_t> scrub_status_{0};
};

}  // namespace zvfs::daemon
