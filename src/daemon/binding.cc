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

std::string format_binding(const Binding& b) {
  char buf[64];
  snprintf(buf, sizeof buf, "zvfs:1:%016" PRIx64 ":%" PRIu64, b.pool_guid, b.id);
  return buf;
}

bool parse_binding(const char* value, size_t len, Binding* out) {
  static constexpr char kPrefix[] = "zvfs:1:";
  size_t plen = sizeof(kPrefix) - 1;
  if (len < plen + 18 || len > plen + 17 + 20 || memcmp(value, kPrefix, plen) != 0) return false;
  uint64_t guid = 0;
  for (size_t i = plen; i < plen + 16; ++i) {
    char c = value[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    guid = guid << 4 | static_cast<uint64_t>(d);
  }
  if (value[plen + 16] != ':') return false;
  uint64_t v = 0;
  for (size_t i = plen + 17; i < len; ++i) {
    char c = value[i];
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v == 0) return false;
  out->pool_guid = guid;
  out->id = v;
  return true;
}

Result<Binding> read_binding(int fd, const char* xattr, bool by_proc_path) {
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
    if (errno == ENODATA || errno == ENOTSUP) return make_error(ENODATA, "unbound");
    if (errno == ERANGE) return make_error(EINVAL, "malformed binding xattr");
    return make_error(errno, "reading the binding xattr failed");
  }
  Binding b;
  if (!parse_binding(value, static_cast<size_t>(n), &b))
    return make_error(EINVAL, "malformed binding xattr");
  return b;
}

Status write_binding(int fd, const char* xattr, const Binding& b, bool replace) {
  std::string v = format_binding(b);
  if (fsetxattr(fd, xattr, v.data(), v.size(), replace ? XATTR_REPLACE : XATTR_CREATE) != 0)
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
