// own_fds.h — the descriptors libzvfs.so itself holds inside the application: the IPC
// session's control socket (and, during fork, the child's) and the log file of ZVFS_LOG.
//
// Applications close "everything" (close_range(3, ~0U, 0), a close() loop, closefrom, dup2 onto
// a number): the hooks keep these alive while behaving for the application as if they were
// gone. close() of one returns 0; close_range/closefrom close the rest of the range around them;
// a dup2/dup3 onto one first moves the library's descriptor elsewhere, so the application gets
// the number it asked for. All of them are >= 3 and close-on-exec.
#pragma once

namespace zvfs::client {

// True if fd is one of the library's own descriptors (a few atomic loads).
bool own_fd(int fd);
// Stores the library's descriptors in out, ascending; returns how many (at most cap).
int own_fds(int* out, int cap);
// Before the application puts something at number fd: if the library holds fd, moves it.
void own_fd_make_room(int fd);

}  // namespace zvfs::client
