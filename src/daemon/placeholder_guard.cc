// placeholder_guard.cc — fanotify marks on placeholders and the thread that answers them
// (see placeholder_guard.h).
#include "daemon/placeholder_guard.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>

#include "common/log.h"
#include "common/thread_name.h"
#include "daemon/binding.h"
#include "ipc/doorbell.h"
#include "ipc/shm.h"

// Newer than the C library's headers on some systems (Linux 5.19, 6.0 and 6.14).
#ifndef FAN_MARK_EVICTABLE
#define FAN_MARK_EVICTABLE 0x00000200
#endif
#ifndef FAN_MARK_IGNORE
#define FAN_MARK_IGNORE 0x00000400
#endif
#ifndef FAN_MARK_IGNORE_SURV
#define FAN_MARK_IGNORE_SURV (FAN_MARK_IGNORE | FAN_MARK_IGNORED_SURV_MODIFY)
#endif
#ifndef FAN_PRE_ACCESS
#define FAN_PRE_ACCESS 0x00100000
#endif

namespace zvfs::daemon {
namespace {

// At most this many refusal lines per second; the rest are counted.
constexpr uint32_t kLogLinesPerSecond = 20;

void read_comm(pid_t pid, char* out, size_t n) {
  snprintf(out, n, "?");
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/comm", static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t r = read(fd, out, n - 1);
  close(fd);
  if (r <= 0) return;
  out[r] = 0;
  if (char* nl = strchr(out, '\n')) *nl = 0;
}

// Whether libzvfs.so is mapped into process pid: a program started with the library that has
// not yet opened its session (it connects at its first ZVFS file, which the kernel opens
// before the library can ask the daemon anything).
bool maps_library(pid_t pid) {
  static constexpr char kName[] = "/libzvfs.so";
  constexpr size_t kKeep = sizeof kName - 1;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/maps", static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[16384 + 1];
  size_t have = 0;  // bytes kept from the previous read (a name split across two reads)
  bool found = false;
  for (;;) {
    ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
    if (r <= 0) break;
    size_t len = have + static_cast<size_t>(r);
    buf[len] = 0;
    if (strstr(buf, kName) != nullptr) {
      found = true;
      break;
    }
    have = len < kKeep ? len : kKeep;
    memmove(buf, buf + len - have, have);
  }
  close(fd);
  return found;
}

void read_path(int fd, char* out, size_t n) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t r = readlink(link, out, n - 1);
  if (r < 0) r = snprintf(out, n, "?");
  out[r] = 0;
}

// Whether the file open as fd is bound to a blob, under either binding name and of any pool.
// Only an absent or malformed binding (which the daemon also takes for a plain file) says no: a
// binding that cannot be read counts, since refusing an ordinary file is the lesser harm.
bool is_placeholder(int fd) {
  for (const char* name : {kTrustedBinding, kUserBinding}) {
    auto b = read_binding(fd, name, false);
    if (b.ok() || (b.code() != ENODATA && b.code() != EINVAL)) return true;
  }
  return false;
}

}  // namespace

std::unique_ptr<PlaceholderGuard> PlaceholderGuard::start(const std::vector<std::string>& roots) {
  constexpr unsigned kFlags =
      FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_MARKS | FAN_UNLIMITED_QUEUE;
  // O_NONBLOCK: the descriptor the kernel opens for this thread with each event must not wait,
  // as a FIFO opened for reading would (a directory mark reports every child; Linux 6.18 raises
  // no permission event for a FIFO or a device, but older kernels may).
  constexpr unsigned kEventFlags = O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NONBLOCK;
  // Pre-content events need a group of their class (which is as old as fanotify); whether the
  // kernel and the file system have the events themselves shows at each mark (protect()).
  int fan = fanotify_init(FAN_CLASS_PRE_CONTENT | kFlags, kEventFlags);
  if (fan < 0) {
    LOG_WARN("guard",
             "placeholder guard off: fanotify_init: %s (needs CAP_SYS_ADMIN: run zvfsd as root); "
             "programs without libzvfs.so will read ZVFS files as zeros",
             strerror(errno));
    return nullptr;
  }
  fan = ipc::fd_above_stdio(fan);
  int stop = ipc::fd_above_stdio(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (fan < 0 || stop < 0) {
    if (fan >= 0) close(fan);
    if (stop >= 0) close(stop);
    LOG_WARN("guard", "placeholder guard off: no descriptors");
    return nullptr;
  }
  std::unique_ptr<PlaceholderGuard> g(new PlaceholderGuard(fan, stop));
  g->thread_ = std::thread([p = g.get()] { p->run(); });
  if (!roots.empty()) g->walker_ = std::thread([p = g.get(), roots] { p->walk(roots); });
  return g;
}

PlaceholderGuard::PlaceholderGuard(int fan_fd, int stop_fd)
    : fan_fd_(fan_fd), stop_fd_(stop_fd), self_(getpid()) {}

PlaceholderGuard::~PlaceholderGuard() {
  stopping_.store(true);
  if (walker_.joinable()) walker_.join();
  uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  // Closing the group lets every pending event through and drops every mark.
  close(fan_fd_);
  close(stop_fd_);
}

int PlaceholderGuard::protect(int fd) {
  // An open of the file before the library bound it (the open that created it, or another
  // process's at that moment) found no binding and may have left an ignore mark (ignore()); it
  // would hide every event. ENOENT: the file has no mark at all.
  (void)mark(FAN_MARK_REMOVE | FAN_MARK_IGNORE, FAN_OPEN_PERM, fd);
  int r = mark(FAN_MARK_ADD | FAN_MARK_EVICTABLE, FAN_OPEN_PERM, fd);
  return r == 0 ? 0 : mark_failed("a placeholder", -r);
}

void PlaceholderGuard::ignore(int fd) {
  // Before Linux 6.0 (no FAN_MARK_IGNORE) this fails, and each open of the file asks again.
  if (mark(FAN_MARK_ADD | FAN_MARK_IGNORE_SURV | FAN_MARK_EVICTABLE, FAN_OPEN_PERM, fd) != 0)
    return;
  // The library binds an empty file right after an open of it (Session::do_attach). If that
  // happened since is_placeholder() said no, protect() may have come before this mark: undo it.
  if (is_placeholder(fd)) (void)mark(FAN_MARK_REMOVE | FAN_MARK_IGNORE, FAN_OPEN_PERM, fd);
}

int PlaceholderGuard::mark(unsigned flags, uint64_t mask, int fd) {
  if (fanotify_mark(fan_fd_, flags, mask | FAN_PRE_ACCESS, fd, nullptr) == 0) return 0;
  // EINVAL: a kernel before 6.14; EOPNOTSUPP: a file system without pre-content events (tmpfs).
  // Tried again for each mark, since prefixes may live on different file systems.
  if (errno != EINVAL && errno != EOPNOTSUPP) return -errno;
  if (!reads_only_logged_.exchange(true))
    LOG_WARN("guard",
             "no pre-content events for the placeholders of a file system (Linux >= 6.14 on "
             "ext4, xfs or btrfs has them): only reads without libzvfs.so are refused there; "
             "writes land in the placeholder and are reported at the file's last close");
  if (fanotify_mark(fan_fd_, flags, mask | FAN_ACCESS_PERM, fd, nullptr) == 0) return 0;
  return -errno;
}

int PlaceholderGuard::mark_failed(const char* what, int e) {
  if (!mark_failed_logged_.exchange(true))
    LOG_WARN("guard", "cannot guard %s: fanotify_mark: %s", what, strerror(e));
  return -e;
}

PlaceholderGuard::DirMark PlaceholderGuard::mark_directory(int dirfd, const DirKey& key) {
  std::lock_guard<std::mutex> g(dirs_mu_);
  if (marked_dirs_.count(key) != 0) return DirMark::kKnown;
  if (marked_dirs_.size() >= kMaxDirectoryMarks) {
    log_dirs_full_locked();
    return DirMark::kFull;
  }
  int r = mark(FAN_MARK_ADD | FAN_MARK_ONLYDIR, FAN_OPEN_PERM | FAN_EVENT_ON_CHILD, dirfd);
  if (r != 0) {
    mark_failed("a directory", -r);
    return DirMark::kFailed;
  }
  marked_dirs_.insert(key);
  return DirMark::kAdded;
}

void PlaceholderGuard::log_dirs_full_locked() {
  if (dirs_full_logged_) return;
  dirs_full_logged_ = true;
  LOG_WARN("guard",
           "%zu directories marked, the limit: a placeholder in a directory left unmarked is "
           "guarded only once a client has opened it, while its inode stays cached",
           marked_dirs_.size());
}

void PlaceholderGuard::guard_directory_of(int fd, const struct stat& st) {
  char path[PATH_MAX];
  read_path(fd, path, sizeof path);
  char* slash = strrchr(path, '/');
  if (path[0] != '/' || slash == nullptr || slash[1] == 0) return;
  *slash = 0;
  const char* dir = slash == path ? "/" : path;
  const char* name = slash + 1;
  DirKey key;
  // The common case, a directory marked already, costs one statx.
  if (dir_key(AT_FDCWD, dir, &key) == 0) {
    std::lock_guard<std::mutex> g(dirs_mu_);
    if (marked_dirs_.count(key) != 0) return;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
  if (dfd < 0) return;
  // Renamed or unlinked since the readlink ("NAME (deleted)"): this directory does not hold it.
  struct stat in;
  if (dir_key(dfd, "", &key) == 0 && fstatat(dfd, name, &in, AT_SYMLINK_NOFOLLOW) == 0 &&
      in.st_dev == st.st_dev && in.st_ino == st.st_ino)
    (void)mark_directory(dfd, key);
  close(dfd);
}

void PlaceholderGuard::walk(const std::vector<std::string>& roots) {
  name_this_thread("zvfsd-walk");
  for (const std::string& root : roots) {
    uint64_t added = 0;
    const uint64_t t0 = ipc::now_ns();
    auto r = walk_directories(root, kMaxDirectoryMarks, [&](int fd, const DirKey& key) {
      if (stopping_.load(std::memory_order_relaxed)) return false;
      DirMark m = mark_directory(fd, key);
      added += m == DirMark::kAdded ? 1 : 0;
      return m != DirMark::kFull;
    });
    if (stopping_.load()) return;
    if (!r.ok()) {
      if (r.code() == ENOENT)
        LOG_INFO("guard", "%s does not exist: no directory marked there", root.c_str());
      else
        LOG_WARN("guard", "cannot mark the directories under %s: %s", root.c_str(),
                 strerror(r.code()));
      continue;
    }
    if (r->truncated) {
      std::lock_guard<std::mutex> g(dirs_mu_);
      log_dirs_full_locked();
    }
    LOG_INFO("guard",
             "directories under %s marked: %" PRIu64 " in %" PRIu64 " ms (%" PRIu64 " skipped%s)",
             root.c_str(), added, (ipc::now_ns() - t0) / 1000000, r->skipped,
             r->truncated ? ", stopped at the limit" : "");
  }
}

void PlaceholderGuard::watch(const ipc::RegionHeader* h) {
  std::lock_guard<std::mutex> g(watch_mu_);
  watched_.push_back(h);
}

void PlaceholderGuard::unwatch(const ipc::RegionHeader* h) {
  std::lock_guard<std::mutex> g(watch_mu_);
  for (size_t i = 0; i < watched_.size(); ++i) {
    if (watched_[i] == h) {
      watched_[i] = watched_.back();
      watched_.pop_back();
      return;
    }
  }
}

bool PlaceholderGuard::has_session(pid_t pid, bool probing) {
  std::lock_guard<std::mutex> g(watch_mu_);
  for (const ipc::RegionHeader* h : watched_) {
    if (probing && h->kernel_probes.load(std::memory_order_seq_cst) == 0) continue;
    if (h->client_pid.load(std::memory_order_acquire) == static_cast<int32_t>(pid)) return true;
  }
  return false;
}

void PlaceholderGuard::run() {
  name_this_thread("zvfsd-guard");
  alignas(fanotify_event_metadata) char buf[8192];
  for (;;) {
    pollfd p[2] = {{fan_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      LOG_ERROR("guard", "poll: %s; placeholder guard stops", strerror(errno));
      return;
    }
    if (p[1].revents) return;
    ssize_t n = read(fan_fd_, buf, sizeof buf);
    if (n <= 0) continue;
    auto* m = reinterpret_cast<fanotify_event_metadata*>(buf);
    for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
      if (m->fd < 0) continue;  // queue overflow: nothing to answer
      const bool open = (m->mask & FAN_OPEN_PERM) != 0;
      const char* what = open                         ? "an open of"
                         : (m->mask & FAN_PRE_ACCESS) ? "an access to"
                                                      : "a read of";
      // The marks an event calls for are made after its answer: the process waits for the
      // answer only, and this thread takes the next event once they are made.
      enum class After { kNothing, kIgnore, kProtect } after = After::kNothing;
      bool allow;
      if (m->pid == self_) {
        allow = true;
      } else if (!is_placeholder(m->fd)) {
        allow = true;  // an ordinary file in a watched directory (one being created, too)
        after = After::kIgnore;
      } else if (open) {
        allow = has_session(m->pid, false) || maps_library(m->pid);
        // Reported through its directory's mark, it may have no mark of its own yet; until it
        // has, the directory's mark reports its accesses.
        after = After::kProtect;
      } else {
        allow = has_session(m->pid, true);
      }
      answer(m->fd, m->pid, what, allow);
      if (after == After::kIgnore) ignore(m->fd);
      if (after == After::kProtect) protect(m->fd);
      close(m->fd);
    }
  }
}

void PlaceholderGuard::answer(int event_fd, pid_t pid, const char* what, bool allow) {
  // The refused process waits for the answer: read its name before it can exit.
  bool log_it = false;
  char comm[32], path[512];
  uint64_t total = 0;
  if (!allow) {
    total = refused_.fetch_add(1, std::memory_order_relaxed) + 1;
    uint64_t now = ipc::now_ns();
    if (now - log_window_ns_ >= 1000000000ull) {
      log_window_ns_ = now;
      logged_in_window_ = 0;
    }
    log_it = logged_in_window_++ < kLogLinesPerSecond;
    if (log_it) {
      read_comm(pid, comm, sizeof comm);
      read_path(event_fd, path, sizeof path);
    }
  }
  fanotify_response rsp{};
  rsp.fd = event_fd;
  rsp.response = allow ? FAN_ALLOW : FAN_DENY;
  if (write(fan_fd_, &rsp, sizeof rsp) != static_cast<ssize_t>(sizeof rsp))
    LOG_ERROR("guard", "answering an access event: %s", strerror(errno));
  if (log_it)
    LOG_WARN("guard",
             "refused pid %d (%s) %s %s without libzvfs.so: its data is in the pool "
             "(run the program under `zvfs run`); %" PRIu64 " refused so far",
             static_cast<int>(pid), comm, what, path, total);
}

}  // namespace zvfs::daemon
