// path_search.h — the program execvp would run for a name: its PATH search.
//
// Shared by the preload library (which must know whether an execvp/posix_spawnp lands on a file
// stored in ZVFS before glibc's own search runs it) and the CLI (`zvfs run`). Allocation-free and
// made of raw system calls, so the library may call it from any hook without re-entering itself.
#pragma once

#include <stddef.h>

namespace zvfs {

// The search of glibc's execvp for `file` (a name without a slash): each entry of $PATH in
// order ("/bin:/usr/bin" when unset; an empty entry is the working directory), the first regular
// file the caller may execute (effective ids). Writes "dir/file" into out[cap] and returns true,
// or false if no entry holds one (or a candidate does not fit in `cap`).
bool search_path(const char* file, char* out, size_t cap);

}  // namespace zvfs
