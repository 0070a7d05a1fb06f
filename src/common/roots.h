// roots.h — the list of ZVFS mount prefixes, as ZVFS_ROOT spells it.
//
// One format shared by the preload library (which files are ZVFS files) and the daemon (which
// directories its placeholder guard marks): prefixes separated by ':', empty entries skipped,
// "/zvfs" when neither ZVFS_ROOT nor the configuration file names any. Header-only and
// allocation-free: the library uses it before it is initialised.
#pragma once

#include <stddef.h>
#include <stdlib.h>

#include "common/config.h"

namespace zvfs {

inline constexpr const char* kDefaultRoots = "/zvfs";

// The list in effect: spec if non-null, else $ZVFS_ROOT, else the configuration file's `root`,
// else kDefaultRoots (for an empty one too).
inline const char* root_list(const char* spec) {
  if (spec == nullptr) spec = env_or_config("ZVFS_ROOT", "root");
  return spec == nullptr || spec[0] == '\0' ? kDefaultRoots : spec;
}

// Splits a colon-separated list; calls fn(entry, len) for each non-empty entry. Returns count.
template <class Fn>
int split_colon_list(const char* list, Fn&& fn) {
  int n = 0;
  const char* p = list;
  while (*p != '\0') {
    const char* e = p;
    while (*e != '\0' && *e != ':') ++e;
    if (e > p) {
      fn(p, static_cast<size_t>(e - p));
      ++n;
    }
    p = (*e == ':') ? e + 1 : e;
  }
  return n;
}

}  // namespace zvfs
