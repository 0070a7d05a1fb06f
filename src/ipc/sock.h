// sock.h — the control socket: SOCK_SEQPACKET Unix socket, one protocol message per packet,
// with at most one file descriptor attached by SCM_RIGHTS.
//
// SEQPACKET (rather than a byte stream) keeps message boundaries in the kernel: a message is
// received whole or reported truncated (MSG_TRUNC), so a hostile peer cannot desynchronise the
// framing, and an attached fd always arrives with the message it belongs to.
// All descriptors created here are close-on-exec and >= 3. Nothing allocates.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace zvfs::ipc {

// The socket path clients use: $ZVFS_SOCKET, else $ZVFS_SOCKET_PATH, else the configuration
// file's `socket` (common/config.h), else the default.
const char* default_socket_path();
inline constexpr const char* kDefaultSocketPath = "/run/zvfs/zvfs.sock";

// Client: connects to path (non-blocking connect is not needed for Unix sockets). -errno.
int sock_connect(const char* path);
// Daemon: binds and listens on path (replacing a stale socket file), mode applied with chmod.
int sock_listen(const char* path, unsigned mode, int backlog);

// Sends one packet [buf, buf+len) with pass_fd attached if >= 0. Returns 0 or -errno.
int sock_send(int sock, const void* buf, size_t len, int pass_fd);
// Receives one packet into buf (cap bytes). *got = bytes received (0 = peer closed);
// *recv_fd = attached fd (close-on-exec, >= 3) or -1. A packet longer than cap, or carrying
// more than one fd, is discarded (fds closed) and reported as -EMSGSIZE / -EPROTO.
// timeout_ms < 0 waits forever. Returns 0 or -errno (-ETIMEDOUT).
int sock_recv(int sock, void* buf, size_t cap, size_t* got, int* recv_fd, int timeout_ms);

// Peer credentials of a connected socket (SO_PEERCRED).
int sock_peer(int sock, pid_t* pid, uid_t* uid, gid_t* gid);

}  // namespace zvfs::ipc
