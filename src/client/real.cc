// real.cc — resolution of the C library's entry points (see real.h).
#include "client/real.h"

#include <dlfcn.h>

namespace zvfs::client {

constinit RealFunctions g_real{};

void* resolve_next(const char* name) {
  return dlsym(RTLD_NEXT, name);
}

void resolve_all_real() {
#define ZVFS_REAL_RESOLVE(name) \
  if (g_real.name == nullptr)   \
    g_real.name = reinterpret_cast<decltype(g_real.name)>(resolve_next(#name));
  ZVFS_REAL_FUNCTIONS(ZVFS_REAL_RESOLVE)
#undef ZVFS_REAL_RESOLVE
}

}  // namespace zvfs::client
