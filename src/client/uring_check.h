// uring_check.h — what io_uring may not be handed: ZVFS descriptors.
//
// io_uring moves file data inside the kernel, which would read and write a ZVFS file's empty
// placeholder. Both ways a program drives a ring that the library can see — liburing's entry
// points (hook_uring.cc) and system calls through libc's syscall() (hook_uring_raw.cc) — ask
// these before anything reaches the kernel. Each refusal is logged.
#pragma once

struct io_uring_sqe;

namespace zvfs::client {

// fd is a ZVFS descriptor (never for fd < 0 or before the library is initialised).
bool uring_refuses_fd(int fd, const char* what);
// A submission entry naming a ZVFS descriptor: its file (unless a fixed-file index), or the
// input of a splice or tee (unless fixed).
bool uring_refuses_entry(const io_uring_sqe& e);
// A fixed-file registration naming a ZVFS descriptor among fds[0..nr) (-1 entries are holes).
bool uring_refuses_fds(const int* fds, unsigned nr);

}  // namespace zvfs::client
