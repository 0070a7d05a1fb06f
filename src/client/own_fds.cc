// own_fds.cc — see own_fds.h.
#include "client/own_fds.h"

#include "client/zlog.h"
#include "ipc/client.h"

namespace zvfs::client {

bool own_fd(int fd) {
  return fd >= 3 && (ipc::owns_fd(fd) || fd == zlog_fd());
}

int own_fds(int* out, int cap) {
  int n = ipc::owned_fds(out, cap);
  int log = zlog_fd();
  if (log >= 3 && n < cap) out[n++] = log;
  for (int i = 1; i < n; ++i)  // insertion sort: n <= 3
    for (int j = i; j > 0 && out[j - 1] > out[j]; --j) {
      int t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  return n;
}

void own_fd_make_room(int fd) {
  if (fd < 3) return;
  if (ipc::owns_fd(fd)) {
    int r = ipc::move_owned_fd(fd);
    if (r < 0) zlog("cannot move the session's descriptor %d out of the way: %d", fd, r);
  }
  if (fd == zlog_fd()) zlog_move_fd();
}

}  // namespace zvfs::client
