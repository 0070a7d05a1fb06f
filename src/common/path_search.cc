// path_search.cc — see path_search.h.
#include "common/path_search.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace zvfs {

bool search_path(const char* file, char* out, size_t cap) {
  if (file == nullptr || file[0] == '\0' || strchr(file, '/') != nullptr) return false;
  const char* p = getenv("PATH");
  if (p == nullptr) p = "/bin:/usr/bin";
  const size_t flen = strlen(file);
  for (;;) {
    const char* colon = strchr(p, ':');
    const size_t dlen = colon != nullptr ? static_cast<size_t>(colon - p) : strlen(p);
    if (dlen + 1 + flen < cap) {
      size_t k = 0;
      if (dlen > 0) {
        memcpy(out, p, dlen);
        out[dlen] = '/';
        k = dlen + 1;
      }
      memcpy(out + k, file, flen + 1);
      struct stat st;
      if (syscall(SYS_newfstatat, AT_FDCWD, out, &st, 0) == 0 && S_ISREG(st.st_mode) &&
          syscall(SYS_faccessat2, AT_FDCWD, out, X_OK, AT_EACCESS) == 0)
        return true;
    }
    if (colon == nullptr) return false;
    p = colon + 1;
  }
}

}  // namespace zvfs
