// binding.h — how a Linux placeholder file is bound to its blob, and how that is verified.
//
// Owns the two halves of a binding (see docs/PROTOCOL.md "Binding"):
//   - on the Linux inode, an xattr naming the blob: `trusted.zvfs.blob` when the daemon runs as
//     root (users can neither read nor write trusted.*), else `user.zvfs.blob_id` (the seed's
//     name); value "zvfs:1:<pool guid, 16 hex digits>:<decimal blob id>" (format version 1).
//     The pool guid tells a blob lost in a crash (this pool, id unknown) from a binding made
//     by another pool (never touched);
//   - on the blob, the xattr `zvfs.owner` naming the inode it belongs to: an OwnerTag with
//     st_dev, st_ino and the inode generation (FS_IOC_GETVERSION; 0 where unsupported).
// A binding is valid only if both halves agree. A forged id, or a copy made with xattrs
// (`cp -a`, `rsync -X`, `tar --xattrs`) names a blob whose owner is another inode: refused and
// logged, so a user can never reach another file's blob and two inodes never share one.
//
// All reads are done through the descriptor the client passed (or /proc/self/fd/N for O_PATH
// descriptors), never by path: authorization comes from what the kernel let the client open.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>

#include "ipc/protocol.h"
#include "zvfs/blob.h"
#include "zvfs/status.h"

namespace zvfs::daemon {

struct OwnerTag {
  uint32_t version = 1;
  uint32_t reserved = 0;
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t gen = 0;
};
static_assert(sizeof(OwnerTag) == 32);

inline constexpr const char* kOwnerXattr = "zvfs.owner";
inline constexpr const char* kTrustedBinding = ipc::kTrustedBindingXattr;
inline constexpr const char* kUserBinding = ipc::kUserBindingXattr;

// The xattr name this daemon uses ("auto": trusted when running as root).
const char* binding_xattr_name(const std::string& mode);

struct Binding {
  uint64_t pool_guid = 0;
  engine::BlobId id = 0;
};

std::string format_binding(const Binding& b);
// Parses a binding value; false for anything but "zvfs:1:<16 hex>:<id>" with 0 < id.
bool parse_binding(const char* value, size_t len, Binding* out);

// Reads the binding of the file open as fd (fgetxattr, or getxattr on /proc/self/fd/N when
// by_proc_path, for O_PATH descriptors). ENODATA when unbound, EINVAL when malformed.
Result<Binding> read_binding(int fd, const char* xattr, bool by_proc_path);
// Sets the binding on fd. replace == false: fails with EEXIST if the file is bound meanwhile;
// replace == true: fails with ENODATA if it is not bound.
Status write_binding(int fd, const char* xattr, const Binding& b, bool replace);

// The owner tag of the inode open as fd (st from fstat(fd)).
OwnerTag owner_of(int fd, const struct stat& st);
// True if the blob records `want` as its owner (generation compared only when both know it).
bool blob_owned_by(engine::Blob& blob, const OwnerTag& want);
Status set_blob_owner(engine::Blob& blob, const OwnerTag& owner);

}  // namespace zvfs::daemon
