// hook.h — shared helpers of the interposed entry points (hook_*.cc).
//
// Every hook follows one pattern: look the descriptor up (one load), forward to the real
// function if it is not a ZVFS file, otherwise run the file_ops version and turn its -errno into
// -1/errno. errno is left untouched on success, as the kernel leaves it.
#pragma once

#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "client/fd_table.h"

#define ZVFS_HOOK extern "C" __attribute__((visibility("default")))

namespace zvfs::client {

template <class T>
inline T set_errno_result(T r) {
  if (r < 0) {
    errno = static_cast<int>(-r);
    return static_cast<T>(-1);
  }
  return r;
}

// After the kernel handed out descriptor `fd` (open, dup, accept, ...): point its slot at `of`
// (nullptr: not a ZVFS file), dropping whatever a descriptor closed behind our back left there.
void note_new_fd(int fd, OpenFile* of);

// After the kernel opened `fd` (or failed: fd < 0) with open flags `flags`, under the name
// `path` the program gave (nullptr if none): classifies it as every open does (binding a new
// file unless its name stays plain, O_TRUNC of a blob). Returns fd, or -1 with errno.
int after_open(int fd, int flags, const char* path);

// Descriptor `fd` is of a file the failing open made, and the daemon refused it or could not
// be asked: removes the file again if its name still names that empty, unbound inode (a file
// bound meanwhile is left to the program). errno may change.
void undo_create(int fd);

// After a successful utimensat-like call on (dirfd, path) (a null path or "" with
// AT_EMPTY_PATH: dirfd itself; at_flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH) with `times` as
// utimensat takes them (nullptr: both set to now): if it set the mtime of a ZVFS file this
// process has open, tells the daemon (hook_times.cc). errno is kept.
void after_times_set(int dirfd, const char* path, int at_flags, const struct timespec* times);

// io_uring through syscall() (hook_uring_raw.cc): whether io_uring_enter(fd, to_submit, ...)
// or io_uring_register(.., opcode, arg, nr) would hand the kernel a ZVFS descriptor (logged),
// and the start of watching a ring io_uring_setup just made (params: its io_uring_params).
bool raw_ring_submission_refused(int fd, long to_submit);
bool raw_ring_registration_refused(unsigned opcode, const void* arg, unsigned nr);
void raw_ring_created(int fd, const void* params);

// A descriptor is being closed: if it is a raw io_uring ring the library watches
// (hook_uring_raw.cc), stop watching it. One load when no ring is watched.
void raw_ring_closed(int fd);

// After pidfd_getfd gave this process descriptor fd (or failed: fd < 0): classifies it as a
// received descriptor (hook_socket.cc). Returns fd; errno is kept.
int after_getfd(int fd);
// After a successful recvmsg / recvmmsg (`received` messages) on sock: classifies the
// descriptors of their SCM_RIGHTS messages the same way. errno is kept.
void after_recvmsg(int sock, msghdr* msg);
void after_recvmmsg(int sock, mmsghdr* msgs, int received);

// A call naming the binding xattr (hook_xattr.cc) on a file given by a path (followed or not)
// or by fd: fails with the kernel's own error for that file if there is one (ENOENT, EBADF,
// ...), else with `err` (ENODATA for reads, EPERM for changes). Returns -1 with errno set.
enum class XattrTarget { kPath, kPathNoFollow, kFd };
int binding_xattr_refused(XattrTarget target, const char* path, int fd, const char* name, int err);

// Closes a ZVFS descriptor: empties its slot, tells the IPC session, then really closes it.
int close_zvfs_fd(int fd);

// Reads/writes through whichever path fd needs (ZVFS or the real call). Return -errno.
ssize_t any_read(int fd, void* buf, size_t n);
ssize_t any_write(int fd, const void* buf, size_t n);
ssize_t any_pread(int fd, void* buf, size_t n, off_t off);
ssize_t any_pwrite(int fd, const void* buf, size_t n, off_t off);
off_t any_lseek(int fd, off_t off, int whence);

// Standard streams over fds 0-2 (hook_stdio.cc): flush before fd changes, then re-point
// stdin/stdout/stderr at a cookie stream if the fd is now a ZVFS file (or back at glibc's).
void std_stream_before_change(int fd);
void std_stream_update(int fd);
// Called at the end of start-up (see hook_stdio.cc: exit-time flushing of cookie streams).
void stdio_started();

// atfork child: the AIO contexts of hook_aio.cc are not inherited; forget them.
void aio_after_fork_child();

// Fills *size / *blocks from the blob if (dirfd, path), whose stat is `seen`, names a ZVFS file
// (found open in this process by inode, or opened briefly when no descriptor of this process is
// open on it). Returns 1 if fixed, 0 if not a ZVFS file, -errno on failure.
int path_blob_size(int dirfd, const char* path, bool follow, const struct stat& seen, off_t* size,
                   blkcnt_t* blocks);

}  // namespace zvfs::client
