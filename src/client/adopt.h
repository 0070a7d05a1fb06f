// adopt.h — deciding whether a freshly opened (or inherited) descriptor is a ZVFS file.
//
// A descriptor becomes a ZVFS file only after the kernel has opened it: it must be a regular
// file, the kernel's name for it must lie under a prefix, and the daemon (which reads the
// binding from the descriptor itself) must say it is bound. Everything else passes through.
#pragma once

namespace zvfs::client {

// `flags` are the open flags the application used (or F_GETFL of an inherited descriptor);
// `may_bind` lets the daemon bind an empty unbound file to a new blob (open_may_bind, prefix.h).
// Returns 1 if fd is now a ZVFS file in the table, 0 if it passes through, -errno if it could
// not be decided (daemon unreachable: -EIO).
int adopt_fd(int fd, int flags, bool may_bind);

// Whether this process may hold an O_PATH descriptor of a regular file on a file system that
// holds a prefix: one it opened through the library, or inherited (adopt_inherited_fds). Such a
// descriptor is never in the table, so fstat must ask the kernel for its flags (one fcntl) to
// tell it from an ordinary small file; a process that never had one skips that question.
// O_PATH descriptors that arrive otherwise (a recvmsg issued with inline instructions) are not
// seen: an fstat of one describes the placeholder.
bool opath_files_may_exist();

// The process's open descriptors as /proc/self/fd lists them (up to cap): the count, or -errno.
int list_open_fds(int* out, int cap);

// A descriptor that came into the process other than by an open the library saw (inherited
// across exec, received in an SCM_RIGHTS message): shares the OpenFile of a descriptor of the
// same open file description already in the table, else classifies it as adopt_fd does. The
// same results as adopt_fd.
int adopt_received_fd(int fd);

// Re-discovers ZVFS descriptors inherited across exec (start-up only).
void adopt_inherited_fds();

// Runs fn(handle) on a writable handle of the file that `fd` (a descriptor of this process, any
// access mode or O_PATH) refers to, for a change the daemon accepts only from a writer (truncate
// after open(O_RDONLY|O_TRUNC) or truncate(path)). The file is reopened for writing by a helper
// thread that first unshares its descriptor table: closing that descriptor cannot drop the POSIX
// record locks this process holds on the file (the kernel ties them to the descriptor table), and
// the application never sees a descriptor come and go. Returns fn's result, 0 if the file is not
// a ZVFS file, or -errno.
int with_write_reopen(int fd, int (*fn)(int handle, void* arg), void* arg);

// Tell the IPC session about a slot emptied by fd_remove/fd_install (see fd_table.h).
struct Released;
void finish_release(const Released& r);

}  // namespace zvfs::client
