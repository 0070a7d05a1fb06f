// preconnect.cc — a session before a process's first open under a prefix (see preconnect.h).
#include "client/preconnect.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

#include "client/prefix.h"
#include "ipc/client.h"

namespace zvfs::client {
namespace {

// What a name relative to the working directory may reach.
enum : int {
  kCwdUnknown = 0,
  kCwdUnder = 1,    // the directory is under a prefix: so are its names without ".."
  kCwdAbove = 2,    // a prefix lies below it: its names are joined to it and looked at
  kCwdOutside = 3,  // neither: only a name with ".." may reach a prefix
};
std::atomic<int> g_cwd{kCwdUnknown};

bool has_dot_dot(const char* p) {
  for (const char* s = p; (s = strstr(s, "..")) != nullptr; s += 2) {
    bool starts = s == p || s[-1] == '/';
    bool ends = s[2] == '\0' || s[2] == '/';
    if (starts && ends) return true;
  }
  return false;
}

// Whether relative `path` lies lexically under a prefix.
bool relative_under(const char* path) {
  char cwd[kPrefixPathMax];
  bool have_cwd = false;
  int v = g_cwd.load(std::memory_order_relaxed);
  if (v == kCwdUnknown) {
    if (getcwd(cwd, sizeof cwd) == nullptr) return false;
    have_cwd = true;
    v = path_lexically_under_prefix(cwd) ? kCwdUnder
        : prefix_lexically_below(cwd)    ? kCwdAbove
                                         : kCwdOutside;
    g_cwd.store(v, std::memory_order_relaxed);
  }
  bool dots = has_dot_dot(path);
  if (v == kCwdUnder && !dots) return true;
  if (v == kCwdOutside && !dots) return false;
  // Join the name to the working directory and look.
  if (!have_cwd && getcwd(cwd, sizeof cwd) == nullptr) return false;
  size_t n = strlen(cwd), m = strlen(path);
  if (n + 1 + m >= sizeof cwd) return false;
  cwd[n] = '/';
  memcpy(cwd + n + 1, path, m + 1);
  return path_lexically_under_prefix(cwd);
}

}  // namespace

bool name_may_be_under_prefix(int dirfd, const char* path, bool ask_dirfd) {
  if (path == nullptr || path[0] == '\0' || prefix_count() == 0) return false;
  int saved = errno;
  bool under = path[0] == '/'      ? path_lexically_under_prefix(path)
               : dirfd == AT_FDCWD ? relative_under(path)
                                   : ask_dirfd && !has_dot_dot(path) && fd_under_prefix(dirfd);
  errno = saved;
  return under;
}

void preconnect_before_open(int dirfd, const char* path, int flags) {
  if ((flags & (O_DIRECTORY | O_PATH)) != 0 || ipc::has_session()) return;
  if (!name_may_be_under_prefix(dirfd, path, false)) return;
  int saved = errno;
  (void)ipc::try_session();
  errno = saved;
}

void cwd_changed() {
  g_cwd.store(kCwdUnknown, std::memory_order_relaxed);
}

}  // namespace zvfs::client
