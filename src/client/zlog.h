// zlog.h — the preload library's own log, silent unless ZVFS_LOG asks for it.
//
// The library runs inside arbitrary applications and must never write to their stdout/stderr on
// its own. ZVFS_LOG selects the sink: unset or empty = nothing; "stderr" or "1" = file
// descriptor 2; anything else = a file path, opened O_APPEND|O_CLOEXEC on a descriptor >= 3.
// A line is formatted on the stack and written with one write(2) (no allocation, no locking),
// so lines from threads and processes never interleave.
#pragma once

namespace zvfs::client {

// Reads ZVFS_LOG; called once from the library's initialisation.
void zlog_init();
bool zlog_enabled();
// The log file's descriptor when ZVFS_LOG names a file (>= 3), else -1.
int zlog_fd();
// Moves the log file to another descriptor (>= 3, close-on-exec) and closes the old one.
void zlog_move_fd();
void zlog(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace zvfs::client
