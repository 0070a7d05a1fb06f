// hook_uring.cc — liburing on ZVFS descriptors: refused with EINVAL and a log line.
//
// io_uring moves file data inside the kernel, which would read and write the empty placeholder.
// A program using liburing reaches these definitions first: before the queued submission
// entries are handed to the kernel, an entry naming a ZVFS descriptor (its fd, or splice's
// input) makes the submit fail with -EINVAL, nothing of the batch submitted; registering a ZVFS
// descriptor as a fixed file fails the same way (so fixed-file entries cannot name one). Rings
// driven without liburing through libc's syscall() are watched by hook_uring_raw.cc; rings driven
// by inline system call instructions (fio's io_uring engine) cannot be intercepted and stay
// unsupported. If the process has no liburing loaded (nothing to forward to), the hooks answer
// -ENOSYS, as a liburing call answers an unavailable system call.
#include <dlfcn.h>
#include <errno.h>
#include <liburing.h>

#include "client/hook.h"
#include "client/real.h"
#include "client/uring_check.h"

namespace zvfs::client {
namespace {

// The entries queued since the last submit: [sqe_head, sqe_tail).
bool queued_zvfs_entry(struct io_uring* ring) {
  if (ring == nullptr) return false;
  const io_uring_sq& sq = ring->sq;
  for (unsigned i = sq.sqe_head; i != sq.sqe_tail; ++i)
    if (uring_refuses_entry(sq.sqes[i & sq.ring_mask])) return true;
  return false;
}

}  // namespace
}  // namespace zvfs::client

using namespace zvfs::client;

// Each forwards to liburing's definition (looked up on first use).
#define ZVFS_URING_FORWARD(name, ...)         \
  static auto real = next_as(&::name, #name); \
  if (real == nullptr) return -ENOSYS;        \
  return real(__VA_ARGS__)

ZVFS_HOOK int io_uring_submit(struct io_uring* ring) {
  if (queued_zvfs_entry(ring)) return -EINVAL;
  ZVFS_URING_FORWARD(io_uring_submit, ring);
}

ZVFS_HOOK int io_uring_submit_and_wait(struct io_uring* ring, unsigned wait_nr) {
  if (queued_zvfs_entry(ring)) return -EINVAL;
  ZVFS_URING_FORWARD(io_uring_submit_and_wait, ring, wait_nr);
}

ZVFS_HOOK int io_uring_submit_and_wait_timeout(struct io_uring* ring, struct io_uring_cqe** cqe,
                                               unsigned wait_nr, struct __kernel_timespec* ts,
                                               sigset_t* sigmask) {
  if (queued_zvfs_entry(ring)) return -EINVAL;
  ZVFS_URING_FORWARD(io_uring_submit_and_wait_timeout, ring, cqe, wait_nr, ts, sigmask);
}

ZVFS_HOOK int io_uring_submit_and_get_events(struct io_uring* ring) {
  if (queued_zvfs_entry(ring)) return -EINVAL;
  ZVFS_URING_FORWARD(io_uring_submit_and_get_events, ring);
}

ZVFS_HOOK int io_uring_register_files(struct io_uring* ring, const int* files, unsigned nr) {
  if (uring_refuses_fds(files, nr)) return -EINVAL;
  ZVFS_URING_FORWARD(io_uring_register_files, ring, files, nr);
}

ZVFS_HOOK int io_uring_register_files_tags(struct io_uring* ring, const int* files,
                                           const __u64* tags, unsigned nr) {
  if (uring_refuses_fds(files, nr)) return -EINVAL;
  ZVFS_URING_FORWARD(io_uring_register_files_tags, ring, files, tags, nr);
}

ZVFS_HOOK int io_uring_register_files_update(struct io_uring* ring, unsigned off, const int* files,
                                             unsigned nr) {
  if (uring_refuses_fds(files, nr)) return -EINVAL;
  ZVFS_URING_FORWARD(io_uring_register_files_update, ring, off, files, nr);
}

ZVFS_HOOK int io_uring_register_files_update_tag(struct io_uring* ring, unsigned off,
                                                 const int* files, const __u64* tags, unsigned nr) {
  if (uring_refuses_fds(files, nr)) return -EINVAL;
  ZVFS_URING_FORWARD(io_uring_register_files_update_tag, ring, off, files, tags, nr);
}
