// fiemap.cc — FS_IOC_FIEMAP on a ZVFS file: the blob's data extents, not the placeholder's.
//
// The placeholder holds no data, so the kernel would report no extents at all (and a tool
// deciding from FIEMAP which ranges to copy would copy nothing). The extents come from the
// blob's SEEK_DATA/SEEK_HOLE answers; their physical location is not a block of the Linux file
// system, so fe_physical is 0 and each extent carries FIEMAP_EXTENT_UNKNOWN. An extent that
// begins before fm_start is reported from fm_start. As the kernel: unsupported flags give
// EBADR with fm_flags set to them, a zero length EINVAL, fm_extent_count 0 only counts.
#include <errno.h>
#include <linux/fiemap.h>
#include <stdint.h>
#include <unistd.h>

#include "client/file_ops.h"
#include "ipc/client.h"

namespace zvfs::client {

int zf_fiemap(OpenFile* of, struct fiemap* fm) {
  constexpr uint32_t kSupported = FIEMAP_FLAG_SYNC;
  if ((fm->fm_flags & ~kSupported) != 0) {
    fm->fm_flags &= ~kSupported;
    return -EBADR;
  }
  if (fm->fm_length == 0) return -EINVAL;
  uint64_t size = 0;
  int r = zf_size(of, &size, nullptr);
  if (r < 0) return r;
  if ((fm->fm_flags & FIEMAP_FLAG_SYNC) != 0 && (r = zf_sync(of, true)) < 0) return r;
  uint64_t end = fm->fm_start + fm->fm_length;
  if (end < fm->fm_start || end > size) end = size;  // overflow, or past EOF
  uint32_t count = 0;
  uint64_t off = fm->fm_start;
  while (off < end) {
    uint64_t data = 0, hole = 0;
    r = ipc::seek(of->handle, off, SEEK_DATA, &data);
    if (r == -ENXIO || (r == 0 && data >= end)) break;
    if (r < 0) return r;
    r = ipc::seek(of->handle, data, SEEK_HOLE, &hole);
    if (r < 0) return r;
    if (fm->fm_extent_count != 0) {
      if (count == fm->fm_extent_count) break;
      struct fiemap_extent* fe = &fm->fm_extents[count];
      *fe = fiemap_extent{};
      fe->fe_logical = data;
      fe->fe_length = hole - data;
      fe->fe_flags = FIEMAP_EXTENT_UNKNOWN | (hole >= size ? FIEMAP_EXTENT_LAST : 0);
    }
    ++count;
    off = hole;
  }
  fm->fm_mapped_extents = count;
  return 0;
}

}  // namespace zvfs::client
