// hook_socket.cc — descriptors that arrive from another process: through a Unix socket
// (SCM_RIGHTS in recvmsg and recvmmsg) or taken with pidfd_getfd (each also through syscall():
// hook_syscall.cc).
//
// A descriptor another process sends is a new descriptor of the sender's open file description,
// installed by the kernel without any open this process made. When it names a ZVFS file it is
// classified here as an inherited one is (adopt_received_fd): shared with a descriptor of the
// same description already in the table, else attached to the daemon, so that reads and writes
// reach the blob and not the placeholder. Everything else passes through. The library's own
// session socket is left alone: the daemon sends it nothing that could be a ZVFS file, and its
// replies are read with the session's lock held.
//
// A descriptor that cannot be attached (daemon unreachable) stays in the process, logged: the
// message has been taken off the socket and cannot be given back. Its accesses then fail as an
// unattached placeholder's do (the daemon's guard refuses them).
#include <string.h>
#include <sys/socket.h>

#include "client/adopt.h"
#include "client/hook.h"
#include "client/own_fds.h"
#include "client/real.h"
#include "client/zlog.h"

namespace zvfs::client {
namespace {

// A descriptor the kernel just installed in this process: drop a stale slot left at its number
// by a descriptor closed behind the library's back, then classify it.
void take_fd(int fd, const char* how) {
  note_new_fd(fd, nullptr);
  int rc = adopt_received_fd(fd);
  if (rc < 0) zlog("fd %d %s could not be attached: %d", fd, how, rc);
}

}  // namespace

void after_recvmsg(int sock, msghdr* msg) {
  if (msg == nullptr || msg->msg_control == nullptr || own_fd(sock)) return;
  int saved = errno;
  for (cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      take_fd(fd, "received over a socket");
    }
  }
  errno = saved;
}

void after_recvmmsg(int sock, mmsghdr* msgs, int received) {
  for (int i = 0; i < received; ++i) after_recvmsg(sock, &msgs[i].msg_hdr);
}

int after_getfd(int fd) {
  if (fd < 0) return fd;
  int saved = errno;
  take_fd(fd, "taken from another process");
  errno = saved;
  return fd;
}

}  // namespace zvfs::client

using namespace zvfs::client;

ZVFS_HOOK ssize_t recvmsg(int sock, struct msghdr* msg, int flags) {
  ssize_t r = REAL(recvmsg)(sock, msg, flags);
  if (r >= 0) after_recvmsg(sock, msg);
  return r;
}

ZVFS_HOOK int recvmmsg(int sock, struct mmsghdr* msgs, unsigned int vlen, int flags,
                       struct timespec* timeout) {
  int r = REAL(recvmmsg)(sock, msgs, vlen, flags, timeout);
  after_recvmmsg(sock, msgs, r);
  return r;
}

ZVFS_HOOK int pidfd_getfd(int pidfd, int targetfd, unsigned int flags) noexcept {
  return after_getfd(REAL(pidfd_getfd)(pidfd, targetfd, flags));
}
