// dir_walk.cc — walking a prefix's directories (see dir_walk.h).
#include "daemon/dir_walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <unordered_set>
#include <vector>

namespace zvfs::daemon {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;

// Opens the directory rel below root_fd without following any symbolic link.
int open_below(int root_fd, const std::string& rel) {
  static std::atomic<bool> no_openat2{false};
  if (!no_openat2.load(std::memory_order_relaxed)) {
    open_how how{};
    how.flags = kDirFlags;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH;
    long fd = syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how);
    if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
    no_openat2.store(true, std::memory_order_relaxed);
  }
  return openat(root_fd, rel.c_str(), kDirFlags);
}

}  // namespace

int dir_key(int dirfd, const char* path, DirKey* out) {
  struct statx sx;
  int flags = path[0] == '\0' ? AT_EMPTY_PATH : 0;
  if (statx(dirfd, path, flags, STATX_TYPE | STATX_INO | STATX_BTIME, &sx) != 0) return -errno;
  if (!S_ISDIR(sx.stx_mode)) return -ENOTDIR;
  out->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  out->ino = sx.stx_ino;
  const bool born = (sx.stx_mask & STATX_BTIME) != 0;
  out->btime_sec = born ? sx.stx_btime.tv_sec : 0;
  out->btime_nsec = born ? sx.stx_btime.tv_nsec : 0;
  return 0;
}

Result<WalkResult> walk_directories(const std::string& root, uint64_t max_dirs,
                                    const std::function<bool(int fd, const DirKey& key)>& visit) {
  int root_fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
  if (root_fd < 0) return make_error(errno, "cannot open the directory");
  DirKey root_key;
  if (int r = dir_key(root_fd, "", &root_key); r != 0) {
    close(root_fd);
    return make_error(-r, "cannot stat the directory");
  }
  WalkResult res;
  std::unordered_set<DirKey, DirKeyHash> seen;
  std::vector<std::string> todo{""};  // paths relative to root; "" is root itself
  while (!todo.empty()) {
    std::string rel = std::move(todo.back());
    todo.pop_back();
    if (res.dirs >= max_dirs) {
      res.truncated = true;
      break;
    }
    int fd = rel.empty() ? fcntl(root_fd, F_DUPFD_CLOEXEC, 0) : open_below(root_fd, rel);
    DirKey key;
    if (fd < 0 || dir_key(fd, "", &key) != 0) {
      if (fd >= 0) close(fd);
      ++res.skipped;
      continue;
    }
    // Another file system mounted here, or a directory already seen through a bind mount.
    if (key.dev != root_key.dev || !seen.insert(key).second) {
      close(fd);
      continue;
    }
    ++res.dirs;
    if (!visit(fd, key)) {
      close(fd);
      res.truncated = true;
      break;
    }
    DIR* d = fdopendir(fd);
    if (d == nullptr) {
      close(fd);
      ++res.skipped;
      continue;
    }
    while (dirent* e = readdir(d)) {
      if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      struct stat st;
      if (e->d_type == DT_UNKNOWN &&
          (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)))
        continue;
      if (res.dirs + todo.size() >= max_dirs) {  // no more would be visited: keep memory bounded
        res.truncated = true;
        break;
      }
      todo.push_back(rel.empty() ? std::string(e->d_name) : rel + "/" + e->d_name);
    }
    closedir(d);
  }
  close(root_fd);
  return res;
}

}  // namespace zvfs::daemon
