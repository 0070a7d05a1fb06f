// binding.cc — reading, writing and verifying placeholder/blob bindings (see binding.h).
#include "daemon/binding.h"

#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>

namespace zvfs::daemon {

const char* binding_xattr_name(const std::string& mode) {
  if (mode == "user") return kUserBinding;
  if (mode == "trusted") return kTrustedBinding;
  return geteuid() == 0 ? kTrustedBinding : kUserBinding;
}

std::string format_binding(engine::BlobId id) {
  char buf[48];
  snprintf(buf, sizeof buf, "zvfs:1:%" PRIu64, id);
  return buf;
}

bool parse_binding(const char* value, size_t len, engine::BlobId* id) {
  static constexpr char kPrefix[] = "zvfs:1:";
  size_t plen = sizeof(kPrefix) - 1;
  if (len <= plen || len > plen + 20 || memcmp(value, kPrefix, plen) != 0) return false;
  uint64_t v = 0;
  for (size_t i = plen; i < len; ++i) {
    char c = value[i];
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v == 0) return false;
  *id = v;
  return true;
}

Result<engine::BlobId> read_binding(int fd, const char* xattr, bool by_proc_path) {
  char value[64];
  ssize_t n;
  if (by_proc_path) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    n = getxattr(path, xattr, value, sizeof value);
  } else {
    n = fgetxattr(fd, xattr, value, sizeof value);
  }
  if (n < 0) {
    if (errno == ENODATA || errno == ENOTSUP || errno == ERANGE)
      return make_error(ENODATA, "unbound");
    return make_error(errno, "reading the binding xattr failed");
  }
  engine::BlobId id = 0;
  if (!parse_binding(value, static_cast<size_t>(n), &id))
    return make_error(EINVAL, "malformed binding xattr");
  return id;
}

Status write_binding(int fd, const char* xattr, engine::BlobId id) {
  std::string v = format_binding(id);
  if (fsetxattr(fd, xattr, v.data(), v.size(), XATTR_CREATE) != 0)
    return make_error(errno, "setting the binding xattr failed");
  return ok_status();
}

OwnerTag owner_of(int fd, const struct stat& st) {
  OwnerTag t;
  t.dev = st.st_dev;
  t.ino = st.st_ino;
  int gen = 0;
  if (ioctl(fd, FS_IOC_GETVERSION, &gen) == 0) t.gen = static_cast<uint32_t>(gen);
  return t;
}

bool blob_owned_by(engine::Blob& blob, const OwnerTag& want) {
  auto v = blob.get_xattr(kOwnerXattr);
  if (!v.ok() || v->size() != sizeof(OwnerTag)) return false;
  OwnerTag have;
  memcpy(&have, v->data(), sizeof have);
  if (have.version != 1 || have.dev != want.dev || have.ino != want.ino) return false;
  return have.gen == 0 || want.gen == 0 || have.gen == want.gen;
}

Status set_blob_owner(engine::Blob& blob, const OwnerTag& owner) {
  return blob.set_xattr(kOwnerXattr, &owner, sizeof owner);
}

}  // namespace zvfs::daemon
