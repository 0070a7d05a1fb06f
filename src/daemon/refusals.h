// refusals.h — connections the daemon refuses with a reply, answered from the accept thread.
//
// A client expects an answer to its first message (hello, or the admin request of `zvfs status`).
// Closing a refused connection at once would make that send fail with EPIPE and leave the
// client guessing why, so the accept thread keeps the refused socket open until its first
// message arrives, replies to it with the refusal status (no body), and closes it. The sockets
// are watched by the accept loop's poll: no thread each. At most kMaxPending wait at a time
// (beyond that a refused connection is closed at once, without a reply), and each is closed
// without a reply once it has sent nothing for the handshake time.
#pragma once

#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zvfs::daemon {

class Refusals {
 public:
  static constexpr size_t kMaxPending = 64;

  Refusals() = default;
  ~Refusals();
  Refusals(const Refusals&) = delete;
  Refusals& operator=(const Refusals&) = delete;

  // Takes `fd`: its first message will be answered with `status` (-errno). False if too many
  // wait already (fd closed).
  bool add(int fd, int32_t status, uint64_t deadline_ns);
  // Appends one pollfd per waiting socket to `p`.
  void poll_fds(std::vector<pollfd>* p) const;
  // After poll: `ready` holds the pollfds poll_fds() appended, in order. Answers and closes the
  // sockets that have a message (or closes those whose peer left), and closes the ones past
  // their deadline.
  void service(const pollfd* ready, size_t n, uint64_t now_ns);
  size_t pending() const { return waiting_.size(); }

 private:
  struct Waiting {
    int fd;
    int32_t status;
    uint64_t deadline_ns;
  };
  static void answer(const Waiting& w);
  std::vector<Waiting> waiting_;
};

}  // namespace zvfs::daemon
