// refusals.cc — see refusals.h.
#include "daemon/refusals.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ipc/protocol.h"

namespace zvfs::daemon {

Refusals::~Refusals() {
  for (const Waiting& w : waiting_) close(w.fd);
}

bool Refusals::add(int fd, int32_t status, uint64_t deadline_ns) {
  if (waiting_.size() >= kMaxPending) {
    close(fd);
    return false;
  }
  waiting_.push_back({fd, status, deadline_ns});
  return true;
}

void Refusals::poll_fds(std::vector<pollfd>* p) const {
  for (const Waiting& w : waiting_) p->push_back({w.fd, POLLIN, 0});
}

// Replies to the first message, if it has a protocol header, with the same opcode and request
// id. Never blocks: the message is there (poll said so) and a fresh connection's queue has room
// for one header; anything else just closes the connection.
void Refusals::answer(const Waiting& w) {
  alignas(8) uint8_t in[sizeof(ipc::MsgHeader) + 64];
  // No control buffer: a descriptor the client attached is discarded by the kernel.
  ssize_t got = recv(w.fd, in, sizeof in, MSG_DONTWAIT);
  if (got < static_cast<ssize_t>(sizeof(ipc::MsgHeader))) return;
  ipc::MsgHeader h;
  memcpy(&h, in, sizeof h);
  if (h.magic != ipc::kMagic) return;
  alignas(8) uint8_t out[sizeof(ipc::MsgHeader)];
  size_t n = ipc::encode_message(static_cast<uint16_t>(h.opcode | ipc::kReplyBit), h.request_id,
                                 w.status, nullptr, 0, out, sizeof out);
  if (n) (void)!send(w.fd, out, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void Refusals::service(const pollfd* ready, size_t n, uint64_t now_ns) {
  size_t keep = 0;
  for (size_t i = 0; i < waiting_.size(); ++i) {
    const Waiting& w = waiting_[i];
    bool polled = i < n && ready[i].fd == w.fd;
    if (polled && (ready[i].revents & POLLIN)) {
      answer(w);
      close(w.fd);
    } else if ((polled && ready[i].revents) || now_ns >= w.deadline_ns) {
      close(w.fd);  // the peer left, or it never said anything
    } else {
      waiting_[keep++] = w;
    }
  }
  waiting_.resize(keep);
}

}  // namespace zvfs::daemon
