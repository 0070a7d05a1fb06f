// admin.cc — one-shot control requests for the command line (see client_diag.h).
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

#include "ipc/client_diag.h"
#include "ipc/sock.h"

namespace zvfs::ipc {

int admin_call(const char* socket_path, Op op, const void* body, uint32_t body_len, void* rep,
               size_t cap, size_t* rep_len, int timeout_ms) {
  constexpr size_t kBufBytes = sizeof(MsgHeader) + kMaxSocketPayload;
  // Not the data path: a heap buffer keeps a 64 KiB message off small thread stacks.
  std::unique_ptr<uint8_t[]> holder(new (std::nothrow) uint8_t[kBufBytes]);
  uint8_t* buf = holder.get();
  if (!buf) return -ENOMEM;
  int s = sock_connect(socket_path ? socket_path : default_socket_path());
  if (s < 0) return s;
  size_t n = encode_message(static_cast<uint16_t>(op), 1, 0, body, body_len, buf, kBufBytes);
  int r = n ? sock_send(s, buf, n, -1) : -EINVAL;
  size_t got = 0;
  int fd = -1;
  if (r == 0) r = sock_recv(s, buf, kBufBytes, &got, &fd, timeout_ms);
  close(s);
  if (fd >= 0) close(fd);
  if (r < 0) return r;
  MsgHeader h;
  if (got < sizeof(h)) return -ECONNRESET;
  std::memcpy(&h, buf, sizeof(h));
  if (h.magic != kMagic || h.opcode != (static_cast<uint16_t>(op) | kReplyBit) ||
      got != sizeof(h) + h.payload_len)
    return -EPROTO;
  size_t len = h.payload_len < cap ? h.payload_len : cap;
  if (rep && len) std::memcpy(rep, buf + sizeof(h), len);
  if (rep_len) *rep_len = len;
  return h.status;
}

}  // namespace zvfs::ipc
