// preconnect.h — a process's first open of a file under a prefix opens its session first.
//
// The daemon's placeholder guard lets only processes with the library open a ZVFS file. It
// knows a process by its session; for one without a session yet it reads /proc/PID/maps and
// looks for libzvfs.so (about 200 us for a PostgreSQL backend, paid by every new connection,
// and a program that loads the library under another file name is refused). The kernel asks
// the guard during the open itself, before the library could connect after it. So before an
// open that may name a regular file under a prefix, a process without a session connects (one
// attempt, no wait: ipc::try_session); it would connect right after that open anyway.
//
// Which opens: not O_DIRECTORY or O_PATH; an absolute name, or one relative to the working
// directory, that lies lexically under a prefix (no symbolic link followed: a miss costs only
// the guard's maps read, a false hit a session the process did not need). Whether the working
// directory lies under a prefix, above one or apart is kept until chdir or fchdir
// (hook_cwd.cc): a process that never opens a ZVFS file pays a system call per relative open
// only if a prefix lies below its working directory or the name holds "..". errno is left as
// it was.
#pragma once

namespace zvfs::client {

// Whether `path` (relative to `dirfd`) may name a file under a prefix, by its letters (no
// symbolic link followed: a hint, wrong either way at times). A name relative to a directory
// descriptor other than AT_FDCWD counts only if ask_dirfd: then by the kernel's name of that
// directory (one readlink). errno is left as it was.
bool name_may_be_under_prefix(int dirfd, const char* path, bool ask_dirfd);
// Before the real open of `path` (relative to `dirfd`) with open flags `flags`.
void preconnect_before_open(int dirfd, const char* path, int flags);
// The working directory changed: its verdict is recomputed at the next relative open.
void cwd_changed();

}  // namespace zvfs::client
