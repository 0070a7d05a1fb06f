// prefix.h — which Linux paths are under a ZVFS mount prefix.
//
// Prefixes come from ZVFS_ROOT (colon separated, default "/zvfs": common/roots.h). A path is under
// a prefix when it equals it or continues it after a '/': "/zvfs2" is not under "/zvfs". Every
// comparison is made on canonical paths (no symlinks, no "." or "..", no repeated '/'): the prefix
// is canonicalised with realpath() once it exists (it may be created after the program starts, so a
// missing prefix is retried), and an open descriptor is located by the kernel's own name for it
// (readlink of /proc/self/fd/N). That makes symlinks into and out of the prefix, relative paths,
// openat dirfds and /proc/self/fd/N reopens come out exactly as the kernel resolved them.
//
// No allocation: all storage is fixed-size and static. Thread-safe after prefix_init().
#pragma once

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/roots.h"

namespace zvfs::client {

inline constexpr int kMaxPrefixes = 8;
inline constexpr size_t kPrefixPathMax = 4096;

// Pure helpers (unit-tested).
// Lexical normalisation of an absolute path into out (collapses '//', '.', '..'; no trailing
// '/'). Returns false if the path is not absolute or does not fit.
bool normalize_path(const char* in, char* out, size_t out_size);
// True if canonical `path` equals canonical `prefix` or lies below it.
bool path_under(const char* path, const char* prefix);
// Files that stay plain kernel files: a new file whose name (the last component the program
// gave) ends with one of these suffixes is never bound to a blob, so its data stays in Linux.
// For files that programs map MAP_SHARED for writing, which a blob cannot serve (mmap gives
// ENODEV): SQLite's WAL index "-shm", the default. ZVFS_PLAIN_SUFFIXES (colon-separated; empty:
// none), else the configuration file's `plain-suffixes`, or `spec` if non-null (tests). A file
// that already has a blob keeps it.
inline constexpr const char* kDefaultPlainSuffixes = "-shm";
void plain_suffixes_init(const char* spec);
// True if a file created under `path` stays plain (see above).
bool name_stays_plain(const char* path);
// Whether an open of `path` may bind an empty unbound file to a new blob: any open through the
// library, with or without O_CREAT (another process may just have created the file and not yet
// bound it), except of a name that stays plain; never for an unknown name (nullptr).
inline bool open_may_bind(const char* path) {
  return path != nullptr && !name_stays_plain(path);
}
// Reads ZVFS_ROOT, else the configuration file's `root` (or `spec` if non-null, for tests), and
// remembers the prefixes.
void prefix_init(const char* spec);
int prefix_count();
// True if canonical `path` is under one of the prefixes (canonicalising them if needed).
bool canonical_path_under_prefix(const char* path);
// True if absolute `path`, normalised lexically (no symbolic link followed), lies under a prefix
// as configured or as canonicalised. A hint only: links can make it wrong either way.
bool path_lexically_under_prefix(const char* path);
// True if a prefix (as configured or canonicalised) lies under absolute directory `dir`
// (normalised lexically), so that a name relative to it may lead into the prefix.
bool prefix_lexically_below(const char* dir);
// True if a file on device `dev` could be under a prefix (a prefix directory exists on it).
// A cheap filter before the exact checks; file systems mounted below a prefix are not seen.
bool dev_may_hold_prefix(dev_t dev);
// The kernel's name for descriptor `fd` (readlink of /proc/self/fd/N), NUL-terminated in
// out[cap]: its length, or -1 with errno set.
ssize_t fd_kernel_name(int fd, char* out, size_t cap);
// True if open descriptor `fd` names a file under a prefix (by the kernel's name for it).
bool fd_under_prefix(int fd);
// The same for a descriptor whose fstat is `st`, remembering files (with one name: st_nlink 1)
// found outside every prefix by device, inode and change time: the kernel's name costs a readlink
// of /proc/self/fd/N (about 4 us here), paid on every open and stat of a small file on the prefix's
// file system. A file moves into a prefix only by a rename, which changes its ctime; a directory
// moved into one keeps the files' ctimes, but they are unbound plain files, which the daemon would
// call plain too (files created there later are new inodes).
bool fd_under_prefix(int fd, const struct stat& st);
// Whether `st` (of any descriptor or path) is a file remembered as outside every prefix.
bool known_outside_prefix(const struct stat& st);
// True if the name `path` (relative to dirfd) would live under a prefix: its parent directory is
// resolved by the kernel, the last component is not followed. -errno if the parent cannot be
// resolved (the caller then lets the real call report the error).
int name_under_prefix(int dirfd, const char* path);

}  // namespace zvfs::client
