// sock.cc — SEQPACKET Unix socket helpers with SCM_RIGHTS (see sock.h).
#include "ipc/sock.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

#include "common/config.h"
#include "ipc/shm.h"

namespace zvfs::ipc {

const char* default_socket_path() {
  const char* p = getenv("ZVFS_SOCKET");
  if (p && *p) return p;
  p = getenv("ZVFS_SOCKET_PATH");
  if (p && *p) return p;
  p = process_config().get("socket");
  if (p && *p) return p;
  return kDefaultSocketPath;
}

static int make_addr(const char* path, sockaddr_un* addr) {
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof(addr->sun_path)) return -ENAMETOOLONG;
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, path, n + 1);
  return 0;
}

int sock_connect(const char* path) {
  sockaddr_un addr;
  int r = make_addr(path, &addr);
  if (r < 0) return r;
  int s = fd_above_stdio(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (s < 0) return s < -1 ? s : -errno;
  if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(s);
    return -err;
  }
  return s;
}

int sock_listen(const char* path, unsigned mode, int backlog) {
  sockaddr_un addr;
  int r = make_addr(path, &addr);
  if (r < 0) return r;
  int s = fd_above_stdio(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (s < 0) return s < -1 ? s : -errno;
  // A stale socket file from a crashed daemon: remove it only if nobody answers on it.
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
    int probe = sock_connect(path);
    if (probe >= 0) {
      close(probe);
      close(s);
      return -EADDRINUSE;
    }
    unlink(path);
  }
  if (bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || chmod(path, mode) != 0 ||
      listen(s, backlog) != 0) {
    int err = errno;
    close(s);
    return -err;
  }
  return s;
}

int sock_send(int sock, const void* buf, size_t len, int pass_fd) {
  iovec iov{const_cast<void*>(buf), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
  if (pass_fd >= 0) {
    memset(ctl, 0, sizeof(ctl));
    msg.msg_control = ctl;
    msg.msg_controllen = sizeof(ctl);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  for (;;) {
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n) == len ? 0 : -EPROTO;
    if (errno != EINTR) return -errno;
  }
}

static void close_all_fds(msghdr* msg) {
  for (cmsghdr* c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      close(fd);
    }
  }
}

int sock_recv(int sock, void* buf, size_t cap, size_t* got, int* recv_fd, int timeout_ms) {
  *got = 0;
  *recv_fd = -1;
  if (timeout_ms >= 0) {
    pollfd p{sock, POLLIN, 0};
    int r;
    do {
      r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return -errno;
    if (r == 0) return -ETIMEDOUT;
  }
  iovec iov{buf, cap};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // Room for a few fds so a hostile sender's extras are received and closed, not leaked.
  alignas(cmsghdr) char ctl[CMSG_SPACE(4 * sizeof(int))];
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof(ctl);
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    close_all_fds(&msg);
    return -EMSGSIZE;
  }
  int fds = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      fds += static_cast<int>(k);
      if (k == 1) memcpy(recv_fd, CMSG_DATA(c), sizeof(int));
    }
  }
  if (fds > 1) {
    close_all_fds(&msg);
    *recv_fd = -1;
    return -EPROTO;
  }
  if (*recv_fd >= 0) {
    *recv_fd = fd_above_stdio(*recv_fd);
    if (*recv_fd < 0) {
      int err = *recv_fd;
      *recv_fd = -1;
      return err;
    }
  }
  *got = static_cast<size_t>(n);
  return 0;
}

int sock_peer(int sock, pid_t* pid, uid_t* uid, gid_t* gid) {
  ucred cr{};
  socklen_t len = sizeof(cr);
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) return -errno;
  *pid = cr.pid;
  *uid = cr.uid;
  *gid = cr.gid;
  return 0;
}

}  // namespace zvfs::ipc
