// hook_xattr.cc — the extended attribute calls: the binding xattr is the daemon's, not the
// program's.
//
// A placeholder names its blob in an xattr (`trusted.zvfs.blob` from a daemon running as root,
// `user.zvfs.blob_id` otherwise; docs/PROTOCOL.md, "Binding"). Programs that copy a file with
// its xattrs (`cp -a`, `rsync -X`, `tar --xattrs`, Python's shutil.copystat) would copy the
// binding too: the copy would then name its source's blob, which the daemon refuses (the copy
// could not be read), and the blob the copy's own open had bound would be lost. So, for every
// file (a file outside the prefixes may carry a binding copied there without the library):
//   - listxattr, llistxattr, flistxattr leave both names out of the list they return; a size
//     query (no buffer) returns the kernel's size, an upper bound of the list returned later;
//   - getxattr, lgetxattr, fgetxattr of either name fail with ENODATA, as for a missing one;
//   - setxattr, lsetxattr, fsetxattr, removexattr, lremovexattr, fremovexattr of either name
//     fail with EPERM: the library never lets a program rebind or unbind a file;
//   - but where the kernel would fail the call for the file itself (ENOENT, EBADF, EACCES,
//     EOPNOTSUPP...), that error comes first, as it would for any other name.
// Every other name passes through untouched. libc's syscall() applies the same rules
// (hook_syscall.cc). Nothing here allocates: lists are filtered in the caller's buffer
// (binding_xattr.h).
#include <errno.h>
#include <string.h>
#include <sys/xattr.h>

#include "client/binding_xattr.h"
#include "client/hook.h"
#include "client/real.h"

namespace zvfs::client {

int binding_xattr_refused(XattrTarget target, const char* path, int fd, const char* name, int err) {
  // The kernel's own answer for the file comes first (ENOENT, EBADF, EACCES, ELOOP,
  // EOPNOTSUPP...): probed with a size query of the same name.
  const ssize_t r = target == XattrTarget::kFd             ? REAL(fgetxattr)(fd, name, nullptr, 0)
                    : target == XattrTarget::kPathNoFollow ? REAL(lgetxattr)(path, name, nullptr, 0)
                                                           : REAL(getxattr)(path, name, nullptr, 0);
  if (r < 0 && errno != ENODATA) return -1;
  errno = err;
  return -1;
}

}  // namespace zvfs::client

using namespace zvfs::client;

ZVFS_HOOK ssize_t listxattr(const char* path, char* list, size_t size) noexcept {
  return hide_binding_xattrs(list, REAL(listxattr)(path, list, size));
}
ZVFS_HOOK ssize_t llistxattr(const char* path, char* list, size_t size) noexcept {
  return hide_binding_xattrs(list, REAL(llistxattr)(path, list, size));
}
ZVFS_HOOK ssize_t flistxattr(int fd, char* list, size_t size) noexcept {
  return hide_binding_xattrs(list, REAL(flistxattr)(fd, list, size));
}

ZVFS_HOOK ssize_t getxattr(const char* path, const char* name, void* value, size_t size) noexcept {
  if (is_binding_xattr(name))
    return binding_xattr_refused(XattrTarget::kPath, path, -1, name, ENODATA);
  return REAL(getxattr)(path, name, value, size);
}
ZVFS_HOOK ssize_t lgetxattr(const char* path, const char* name, void* value, size_t size) noexcept {
  if (is_binding_xattr(name))
    return binding_xattr_refused(XattrTarget::kPathNoFollow, path, -1, name, ENODATA);
  return REAL(lgetxattr)(path, name, value, size);
}
ZVFS_HOOK ssize_t fgetxattr(int fd, const char* name, void* value, size_t size) noexcept {
  if (is_binding_xattr(name))
    return binding_xattr_refused(XattrTarget::kFd, nullptr, fd, name, ENODATA);
  return REAL(fgetxattr)(fd, name, value, size);
}

ZVFS_HOOK int setxattr(const char* path, const char* name, const void* value, size_t size,
                       int flags) noexcept {
  if (is_binding_xattr(name))
    return binding_xattr_refused(XattrTarget::kPath, path, -1, name, EPERM);
  return REAL(setxattr)(path, name, value, size, flags);
}
ZVFS_HOOK int lsetxattr(const char* path, const char* name, const void* value, size_t size,
                        int flags) noexcept {
  if (is_binding_xattr(name))
    return binding_xattr_refused(XattrTarget::kPathNoFollow, path, -1, name, EPERM);
  return REAL(lsetxattr)(path, name, value, size, flags);
}
ZVFS_HOOK int fsetxattr(int fd, const char* name, const void* value, size_t size,
                        int flags) noexcept {
  if (is_binding_xattr(name))
    return binding_xattr_refused(XattrTarget::kFd, nullptr, fd, name, EPERM);
  return REAL(fsetxattr)(fd, name, value, size, flags);
}

ZVFS_HOOK int removexattr(const char* path, const char* name) noexcept {
  if (is_binding_xattr(name))
    return binding_xattr_refused(XattrTarget::kPath, path, -1, name, EPERM);
  return REAL(removexattr)(path, name);
}
ZVFS_HOOK int lremovexattr(const char* path, const char* name) noexcept {
  if (is_binding_xattr(name))
    return binding_xattr_refused(XattrTarget::kPathNoFollow, path, -1, name, EPERM);
  return REAL(lremovexattr)(path, name);
}
ZVFS_HOOK int fremovexattr(int fd, const char* name) noexcept {
  if (is_binding_xattr(name))
    return binding_xattr_refused(XattrTarget::kFd, nullptr, fd, name, EPERM);
  return REAL(fremovexattr)(fd, name);
}
