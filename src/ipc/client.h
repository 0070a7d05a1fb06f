// client.h — the client side of the ZVFS protocol, as used by libzvfs.so (and the CLI, tests).
//
// One process-wide session with the daemon, opened lazily on first use. Safe for the preload
// library: no exceptions; no heap allocation on the data path (read/write/sync/stat); the
// session's own descriptors are >= 3 (never 0-2) and close-on-exec; after fork() the child
// gets a session of its own, opened for it by the parent before the fork and holding its own
// reference on every handle (so a parent closing the last descriptor of an unlinked file cannot
// free the blob under the child); the parent's session is never touched by the child.
// Thread-safe: every thread may have a request in flight at once.
//
// Handles. attach() registers an open Linux fd with the daemon (the fd itself travels by
// SCM_RIGHTS; the daemon reads the binding from it, so authorization comes from the kernel).
// A handle names one open file description (OFD) within this process; dup'd fds share the
// handle (the caller keeps its own reference counts and calls detach() once, at the last close).
// The client remembers, per handle, one fd of this process that refers to the OFD (set by attach
// and updated by set_fd when that fd is closed or replaced). It uses that fd to re-open the
// handle transparently after a daemon restart or in a forked child. If the daemon died while a
// handle had writes not yet synced, that handle's next sync() fails with EIO, once.
//
// Every function returns >= 0 on success, -errno on failure (EIO when the daemon cannot be
// reached within the configured wait, ZVFS_TIMEOUT_MS; EBADF for an unknown handle).
// Requests larger than the shared-memory buffers are split transparently; a single pwrite
// of 1 GiB works.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace zvfs::ipc {

struct AttachInfo {
  bool zvfs = false;     // false: a plain Linux file, pass through (handle is -1)
  uint64_t size = 0;     // logical size (when zvfs)
  uint64_t blob_id = 0;  // for logs and tests
};

struct BlobStatInfo {
  uint64_t size = 0;
  uint64_t allocated_bytes = 0;
};

// O_CREAT in `open_flags`: the file may become a ZVFS file if it is unbound and empty (the
// daemon binds it to a new blob; see docs/PROTOCOL.md for who may). Returns handle >= 0, or -1
// with info->zvfs == false for a plain file, or -errno.
int attach(int fd, int open_flags, AttachInfo* info);
int detach(int handle);
int set_fd(int handle, int fd);

ssize_t pread(int handle, void* buf, size_t len, uint64_t off);
ssize_t pwrite(int handle, const void* buf, size_t len, uint64_t off);
// pwrite then sync (an O_SYNC / O_DSYNC write): one round trip when len fits a slot.
ssize_t pwrite_sync(int handle, const void* buf, size_t len, uint64_t off, bool datasync);
// O_APPEND: the daemon picks the offset atomically. *end_out = offset after the write.
ssize_t append(int handle, const void* buf, size_t len, uint64_t* end_out);
int truncate(int handle, uint64_t size);
// mode as fallocate(2): 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|KEEP_SIZE,
// FALLOC_FL_ZERO_RANGE.
int fallocate(int handle, int mode, uint64_t off, uint64_t len);
int sync(int handle, bool datasync);
int stat(int handle, BlobStatInfo* out);
// The blob's logical size without a round trip: the daemon keeps it in the session's size
// cell of the handle (ipc/shm.h) before answering any request that changes it.
int end_of_file(int handle, uint64_t* size);
// whence: SEEK_DATA or SEEK_HOLE. Returns 0 and *result, or -ENXIO.
int seek(int handle, uint64_t off, int whence, uint64_t* result);
// Tells the daemon that the program just set the file's mtime (a futimens or utimensat of this
// handle's file succeeded): the set then counts after the file's changes the daemon has seen
// and before any later one (daemon/blob_table.h).
int note_mtime_set(int handle);

// After the caller unlinked or renamed over a name: `opath_fd` is an O_PATH fd the caller opened
// on the victim before the operation. If it was a ZVFS file whose last link is gone, the blob is
// freed once the last handle on it (in any process) is closed.
int release_if_unlinked(int opath_fd);
// The size and allocation of the blob the file open as `fd` (any descriptor, O_PATH included)
// is bound to, without a handle: what stat(2) shows of a ZVFS file. Returns 1 with *out filled
// for a ZVFS file, 0 for any other file, -errno on failure.
int stat_file(int fd, BlobStatInfo* out);

// The descriptors the session owns in this process (its control socket; during fork(), also
// the child's). They are >= 3 and close-on-exec. The preload library keeps the application from
// closing them (close, close_range, closefrom) and, before a dup2/dup3 onto one of them, calls
// move_owned_fd so the application gets the number it asked for. owns_fd is one or two atomic
// loads. owned_fds stores up to cap of them in out and returns how many.
bool owns_fd(int fd);
int owned_fds(int* out, int cap);
// If fd is owned, moves the session to another descriptor (>= 3, close-on-exec) and closes fd.
// Returns 0 or -errno.
int move_owned_fd(int fd);

// Opens the session now if there is none. Returns 0 or -errno.
int ensure_session();
// Whether this process has a current session (one load; a hint: it may have died since).
bool has_session();
// Opens the session if there is none, with one attempt and no wait (none at all for a second
// after one failed). Returns 0 or -errno.
int try_session();

// Calls fn(arg), a system call that the library makes on a ZVFS placeholder itself (a
// zero-length copy_file_range or sendfile so that the kernel checks its arguments; the
// ftruncate or truncate that sets its st_size), with the session's kernel_probes count raised
// (see shm.h): the daemon's placeholder guard refuses any other access to a placeholder.
// Returns fn's result, with fn's errno.
long with_kernel_probe(long (*fn)(void* arg), void* arg);
// For a thread that unshared its descriptor table (unshare(CLONE_FILES)): while set, requests
// from this thread never open or close a session (a socket in that table would not be the
// process's); they fail with EIO if the session is not live. Call ensure_session() first.
void set_thread_private_fds(bool on);

// True once a session has been established in this process (for tests and diagnostics).
bool connected();

}  // namespace zvfs::ipc
