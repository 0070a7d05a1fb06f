// file_limit.cc — see file_limit.h.
#include "daemon/file_limit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <mutex>

#include "common/max_offset.h"

namespace zvfs::daemon {

uint64_t placeholder_max_bytes(int fd, const struct stat& st) {
  static std::mutex mu;
  static std::map<dev_t, uint64_t>* cache = new std::map<dev_t, uint64_t>;  // never destroyed
  {
    std::lock_guard<std::mutex> g(mu);
    auto it = cache->find(st.st_dev);
    if (it != cache->end()) return it->second;
  }
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  const int own = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (own < 0) return static_cast<uint64_t>(INT64_MAX);  // not cached: perhaps next time
  const uint64_t max = probe_max_offset(own);
  close(own);
  std::lock_guard<std::mutex> g(mu);
  (*cache)[st.st_dev] = max;
  return max;
}

}  // namespace zvfs::daemon
