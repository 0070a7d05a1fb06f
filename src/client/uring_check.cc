// uring_check.cc — see uring_check.h.
#include "client/uring_check.h"

#include <linux/io_uring.h>

#include "client/fd_table.h"
#include "client/zlog.h"

namespace zvfs::client {

bool uring_refuses_fd(int fd, const char* what) {
  if (fd < 0 || g_fd_table == nullptr || fd_lookup(fd) == nullptr) return false;
  zlog("%s on ZVFS fd %d: io_uring is not supported on ZVFS files", what, fd);
  return true;
}

bool uring_refuses_entry(const io_uring_sqe& e) {
  if ((e.flags & IOSQE_FIXED_FILE) == 0 && uring_refuses_fd(e.fd, "io_uring submission"))
    return true;
  return (e.opcode == IORING_OP_SPLICE || e.opcode == IORING_OP_TEE) &&
         (e.splice_flags & SPLICE_F_FD_IN_FIXED) == 0 &&
         uring_refuses_fd(e.splice_fd_in, "io_uring splice");
}

bool uring_refuses_fds(const int* fds, unsigned nr) {
  for (unsigned i = 0; fds != nullptr && i < nr; ++i)
    if (uring_refuses_fd(fds[i], "io_uring file registration")) return true;
  return false;
}

}  // namespace zvfs::client
