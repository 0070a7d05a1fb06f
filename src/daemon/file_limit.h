// file_limit.h — the largest file the file system of a placeholder allows.
//
// A ZVFS file's size is mirrored into its placeholder, and the library keeps the file offset in
// the placeholder's open file description, so a ZVFS file must not grow past what that file
// system allows for any file (16 TiB on ext4 with 4 KiB blocks): past it, lseek to the end
// failed with EINVAL and the mirror with EFBIG. The daemon refuses such growth the way the
// kernel would (a write starting at the limit: EFBIG; one crossing it: short).
//
// The limit is the largest offset lseek(SEEK_SET) accepts on a file of that file system
// (common/max_offset.h), found on a descriptor of
// the daemon's own (the placeholder reopened through /proc/self/fd, so the client's offset does
// not move), once per file system (st_dev) and cached. Where the placeholder cannot be reopened,
// there is no limit beyond the engine's own.
#pragma once

#include <sys/stat.h>

#include <cstdint>

namespace zvfs::daemon {

// The limit for the file system of `fd` (whose fstat is `st`), or INT64_MAX if unknown.
uint64_t placeholder_max_bytes(int fd, const struct stat& st);

}  // namespace zvfs::daemon
