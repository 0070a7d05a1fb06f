// binding_xattr.cc — see binding_xattr.h.
#include "client/binding_xattr.h"

#include <string.h>

#include "ipc/protocol.h"

namespace zvfs::client {

bool is_binding_xattr(const char* name) {
  return name != nullptr && (strcmp(name, ipc::kTrustedBindingXattr) == 0 ||
                             strcmp(name, ipc::kUserBindingXattr) == 0);
}

ssize_t hide_binding_xattrs(char* list, ssize_t n) {
  if (list == nullptr || n <= 0) return n;
  const size_t len = static_cast<size_t>(n);
  size_t in = 0, out = 0;
  while (in < len) {
    const size_t name_len = strnlen(list + in, len - in);
    const bool terminated = name_len < len - in;
    const size_t end = terminated ? in + name_len + 1 : len;  // past its NUL
    if (!(terminated && is_binding_xattr(list + in))) {
      if (out != in) memmove(list + out, list + in, end - in);
      out += end - in;
    }
    in = end;
  }
  return static_cast<ssize_t>(out);
}

}  // namespace zvfs::client
