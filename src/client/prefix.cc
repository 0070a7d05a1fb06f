// prefix.cc — see prefix.h.
#include "client/prefix.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "client/real.h"
#include "client/zlog.h"
#include "common/config.h"

namespace zvfs::client {
namespace {

struct Prefix {
  char raw[kPrefixPathMax];    // normalised spelling from ZVFS_ROOT
  char canon[kPrefixPathMax];  // realpath() of it, once resolved
  dev_t dev = 0;               // st_dev of the prefix directory, once resolved
  std::atomic<bool> resolved{false};
};

Prefix g_prefixes[kMaxPrefixes];
int g_prefix_count = 0;

constexpr int kMaxPlainSuffixes = 8;
constexpr size_t kPlainSuffixMax = 64;
char g_plain[kMaxPlainSuffixes][kPlainSuffixMax];
size_t g_plain_len[kMaxPlainSuffixes];
int g_plain_count = 0;

// Resolves the prefix's symlinks once it exists. Until then the lexical spelling stands in (a
// file cannot be under a directory that does not exist).
const char* canonical(Prefix& p) {
  if (p.resolved.load(std::memory_order_acquire)) return p.canon;
  char buf[PATH_MAX];
  int saved = errno;
  char* rp = realpath(p.raw, buf);
  errno = saved;
  if (rp != nullptr && strlen(buf) < sizeof p.canon) {
    // Concurrent resolvers compute the same string; the flag publishes it.
    memcpy(p.canon, buf, strlen(buf) + 1);
    struct stat st;
    if (REAL(stat)(p.canon, &st) != 0) return p.raw;
    p.dev = st.st_dev;
    p.resolved.store(true, std::memory_order_release);
    return p.canon;
  }
  return p.raw;
}

}  // namespace

bool normalize_path(const char* in, char* out, size_t out_size) {
  if (in == nullptr || in[0] != '/' || out_size < 2) return false;
  size_t n = 0;  // length of out; out[0] == '/'
  out[n++] = '/';
  const char* p = in;
  while (*p != '\0') {
    while (*p == '/') ++p;
    const char* e = p;
    while (*e != '\0' && *e != '/') ++e;
    size_t len = static_cast<size_t>(e - p);
    if (len == 0) break;
    if (len == 1 && p[0] == '.') {
      // skip
    } else if (len == 2 && p[0] == '.' && p[1] == '.') {
      while (n > 1 && out[n - 1] != '/') --n;  // drop last component
      if (n > 1) --n;                          // and its '/'
    } else {
      if (n > 1) {
        if (n + 1 >= out_size) return false;
        out[n++] = '/';
      }
      if (n + len >= out_size) return false;
      memcpy(out + n, p, len);
      n += len;
    }
    p = e;
  }
  out[n] = '\0';
  return true;
}

bool path_under(const char* path, const char* prefix) {
  size_t pl = strlen(prefix);
  if (pl == 1 && prefix[0] == '/') return path[0] == '/';
  if (strncmp(path, prefix, pl) != 0) return false;
  return path[pl] == '\0' || path[pl] == '/';
}

void prefix_init(const char* spec) {
  g_prefix_count = 0;
  split_colon_list(root_list(spec), [](const char* s, size_t len) {
    if (g_prefix_count >= kMaxPrefixes || len >= kPrefixPathMax) return;
    char tmp[kPrefixPathMax];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    Prefix& p = g_prefixes[g_prefix_count];
    if (!normalize_path(tmp, p.raw, sizeof p.raw)) return;  // relative entries are ignored
    p.resolved.store(false, std::memory_order_relaxed);
    ++g_prefix_count;
  });
}

void plain_suffixes_init(const char* spec) {
  // Set but empty means none, in the environment as in the file.
  if (spec == nullptr) spec = getenv("ZVFS_PLAIN_SUFFIXES");
  if (spec == nullptr) spec = process_config().get("plain-suffixes");
  if (spec == nullptr) spec = kDefaultPlainSuffixes;
  g_plain_count = 0;
  split_colon_list(spec, [](const char* s, size_t len) {
    if (g_plain_count >= kMaxPlainSuffixes || len >= kPlainSuffixMax) return;
    if (memchr(s, '/', len) != nullptr) return;  // a suffix of a name, never of a path
    memcpy(g_plain[g_plain_count], s, len);
    g_plain[g_plain_count][len] = '\0';
    g_plain_len[g_plain_count] = len;
    ++g_plain_count;
  });
}

bool name_stays_plain(const char* path) {
  if (path == nullptr || g_plain_count == 0) return false;
  size_t n = strlen(path);
  while (n > 0 && path[n - 1] == '/') --n;  // "dir/x-shm/" names x-shm too
  size_t start = n;
  while (start > 0 && path[start - 1] != '/') --start;
  const size_t name_len = n - start;
  for (int i = 0; i < g_plain_count; ++i) {
    const size_t l = g_plain_len[i];
    if (name_len > l && memcmp(path + n - l, g_plain[i], l) == 0) return true;
  }
  return false;
}

int prefix_count() {
  return g_prefix_count;
}

bool canonical_path_under_prefix(const char* path) {
  for (int i = 0; i < g_prefix_count; ++i) {
    if (path_under(path, canonical(g_prefixes[i]))) return true;
  }
  return false;
}

namespace {

// Whether rel(normalised p, prefix) holds for a prefix, as configured or as canonicalised.
template <class Rel>
bool lexically_any_prefix(const char* p, Rel rel) {
  char norm[kPrefixPathMax];
  if (g_prefix_count == 0 || !normalize_path(p, norm, sizeof norm)) return false;
  for (int i = 0; i < g_prefix_count; ++i) {
    if (rel(norm, g_prefixes[i].raw) || rel(norm, canonical(g_prefixes[i]))) return true;
  }
  return false;
}

}  // namespace

bool path_lexically_under_prefix(const char* path) {
  return lexically_any_prefix(path,
                              [](const char* p, const char* pre) { return path_under(p, pre); });
}

bool prefix_lexically_below(const char* dir) {
  return lexically_any_prefix(dir,
                              [](const char* d, const char* pre) { return path_under(pre, d); });
}

bool dev_may_hold_prefix(dev_t dev) {
  for (int i = 0; i < g_prefix_count; ++i) {
    Prefix& p = g_prefixes[i];
    int saved = errno;
    canonical(p);
    errno = saved;
    if (p.resolved.load(std::memory_order_acquire) && p.dev == dev) return true;
  }
  return false;
}

ssize_t fd_kernel_name(int fd, char* out, size_t cap) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out, cap - 1);
  if (n >= 0) out[n] = '\0';
  return n;
}

bool fd_under_prefix(int fd) {
  if (g_prefix_count == 0) return false;
  char path[PATH_MAX];
  int saved = errno;
  ssize_t n = fd_kernel_name(fd, path, sizeof path);
  if (n <= 0) {
    // Without /proc the kernel's name of a descriptor is unknown: nothing can be classified,
    // and files under the prefixes would silently pass through. Say so once.
    static std::atomic<bool> warned{false};
    if (errno == ENOENT && !warned.exchange(true))
      zlog("/proc/self/fd is not available: ZVFS files cannot be recognised in this process");
    errno = saved;
    return false;
  }
  errno = saved;
  if (path[0] != '/') return false;  // "pipe:[..]", "anon_inode:..."
  return canonical_path_under_prefix(path);
}

int name_under_prefix(int dirfd, const char* path) {
  if (g_prefix_count == 0) return 0;
  if (path == nullptr) return -EFAULT;
  size_t len = strlen(path);
  if (len == 0 || len >= PATH_MAX) return -ENOENT;
  // Split into parent and last component, ignoring trailing slashes.
  char buf[PATH_MAX];
  memcpy(buf, path, len + 1);
  while (len > 1 && buf[len - 1] == '/') buf[--len] = '\0';
  char* slash = strrchr(buf, '/');
  const char* parent;
  const char* base;
  if (slash == nullptr) {
    parent = ".";
    base = buf;
  } else if (slash == buf) {
    parent = "/";
    base = buf + 1;
  } else {
    *slash = '\0';
    parent = buf;
    base = slash + 1;
  }
  bool base_is_dots = base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0;
  const char* target = base_is_dots ? path : parent;
  int saved = errno;
  int pfd = REAL(openat)(dirfd, target, O_PATH | O_CLOEXEC | (base_is_dots ? 0 : O_DIRECTORY));
  if (pfd < 0) {
    int e = errno;
    errno = saved;
    return -e;
  }
  bool under = fd_under_prefix(pfd);
  REAL(close)(pfd);
  errno = saved;
  return under ? 1 : 0;
}

namespace {

// Files outside every prefix, direct-mapped by inode. Each entry is a seqlock: a writer moves
// seq from even to odd (skipping the entry if another writer holds it), stores, and moves it on
// to the next even value; a reader takes the entry only if seq was even and unchanged around
// its loads. Static storage, no allocation, no lock.
struct OutsideEntry {
  std::atomic<uint32_t> seq{0};
  std::atomic<uint64_t> dev{0}, ino{0}, ctime_sec{0}, ctime_nsec{0};
};
constexpr size_t kOutsideEntries = 4096;
OutsideEntry g_outside[kOutsideEntries];

OutsideEntry& outside_slot(const struct stat& st) {
  uint64_t h =
      (static_cast<uint64_t>(st.st_ino) * 0x9E3779B97F4A7C15ull) ^ static_cast<uint64_t>(st.st_dev);
  return g_outside[(h >> 32) % kOutsideEntries];
}

void remember_outside_prefix(const struct stat& st) {
  OutsideEntry& e = outside_slot(st);
  uint32_t s = e.seq.load(std::memory_order_relaxed);
  if ((s & 1) != 0 || !e.seq.compare_exchange_strong(s, s + 1, std::memory_order_acquire)) return;
  e.dev.store(static_cast<uint64_t>(st.st_dev), std::memory_order_relaxed);
  e.ino.store(static_cast<uint64_t>(st.st_ino), std::memory_order_relaxed);
  e.ctime_sec.store(static_cast<uint64_t>(st.st_ctim.tv_sec), std::memory_order_relaxed);
  e.ctime_nsec.store(static_cast<uint64_t>(st.st_ctim.tv_nsec), std::memory_order_relaxed);
  e.seq.store(s + 2, std::memory_order_release);
}

}  // namespace

bool known_outside_prefix(const struct stat& st) {
  OutsideEntry& e = outside_slot(st);
  uint32_t s = e.seq.load(std::memory_order_acquire);
  if ((s & 1) != 0 || s == 0) return false;
  bool same =
      e.dev.load(std::memory_order_relaxed) == static_cast<uint64_t>(st.st_dev) &&
      e.ino.load(std::memory_order_relaxed) == static_cast<uint64_t>(st.st_ino) &&
      e.ctime_sec.load(std::memory_order_relaxed) == static_cast<uint64_t>(st.st_ctim.tv_sec) &&
      e.ctime_nsec.load(std::memory_order_relaxed) == static_cast<uint64_t>(st.st_ctim.tv_nsec);
  std::atomic_thread_fence(std::memory_order_acquire);
  return same && e.seq.load(std::memory_order_relaxed) == s;
}

bool fd_under_prefix(int fd, const struct stat& st) {
  if (known_outside_prefix(st)) return false;
  bool under = fd_under_prefix(fd);
  // One name only: another name of the same inode may be under a prefix.
  if (!under && g_prefix_count != 0 && st.st_nlink == 1) remember_outside_prefix(st);
  return under;
}

}  // namespace zvfs::client
