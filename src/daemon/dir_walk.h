// dir_walk.h — the directories of a mount prefix's tree, for the guard's directory marks.
//
// walk_directories() visits a directory and every directory below it that lies on the same
// file system, never through a symbolic link. Same file system: the library takes only files
// on a prefix's own file system for ZVFS files (client/prefix.h, dev_may_hold_prefix), so a
// file system mounted below a prefix holds no placeholder. Each directory below the root is
// opened relative to the root with openat2(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH), so one
// renamed or replaced by a symbolic link during the walk cannot lead it elsewhere (before Linux
// 5.6, openat with O_NOFOLLOW, which checks the last component only). A directory reachable
// twice (a bind mount of the same file system below the root) is visited once. Directories
// that vanish or cannot be opened or read are skipped and counted.
//
// DirKey identifies a directory by device, inode and birth time: a removed directory's inode
// number can come back with a new directory, and the birth time (statx, where the file system
// records it; 0 elsewhere) tells the two apart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "zvfs/status.h"

namespace zvfs::daemon {

struct DirKey {
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t btime_sec = 0;
  uint32_t btime_nsec = 0;
  bool operator==(const DirKey&) const = default;
};

struct DirKeyHash {
  size_t operator()(const DirKey& k) const {
    uint64_t h = (k.ino * 0x9e3779b97f4a7c15ull) ^ k.dev;
    h ^= (static_cast<uint64_t>(k.btime_sec) << 20) ^ k.btime_nsec;
    return static_cast<size_t>(h);
  }
};

// The key of the directory open as dirfd (path "") or of path relative to it (followed if it
// is a symbolic link). Returns 0 or -errno; -ENOTDIR if it is not a directory.
int dir_key(int dirfd, const char* path, DirKey* out);

struct WalkResult {
  uint64_t dirs = 0;       // visited
  uint64_t skipped = 0;    // vanished, or could not be opened or read
  bool truncated = false;  // stopped by max_dirs or by visit
};

// Calls visit(fd, key) for root (followed if it is a symbolic link) and then for each
// directory below it, at most max_dirs in all; fd is the directory open read-only, valid
// during the call. visit returns false to stop the walk. An error if root cannot be opened as
// a directory (ENOENT when it does not exist).
Result<WalkResult> walk_directories(const std::string& root, uint64_t max_dirs,
                                    const std::function<bool(int fd, const DirKey& key)>& visit);

}  // namespace zvfs::daemon
