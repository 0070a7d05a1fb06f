// binding_xattr.h — the names of the binding xattr as the library hides them (hook_xattr.cc).
//
// The daemon binds a placeholder to its blob with an xattr (ipc::kTrustedBindingXattr or
// ipc::kUserBindingXattr); programs under the library never see or change it. These helpers
// recognise the names and filter them out of a list in place: no allocation, no system call.
#pragma once

#include <sys/types.h>

namespace zvfs::client {

// Whether `name` is one of the binding xattr names (false for nullptr).
bool is_binding_xattr(const char* name);

// A list of names as listxattr returns it (n bytes of NUL-terminated names; n < 0: an error)
// with the binding names left out, moved down in place. Returns the new length (n itself if
// n <= 0 or list is nullptr). Bytes after the last NUL (never from the kernel) are kept.
ssize_t hide_binding_xattrs(char* list, ssize_t n);

}  // namespace zvfs::client
