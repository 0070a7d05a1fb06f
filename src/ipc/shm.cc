// shm.cc — creating, sealing and mapping the session region (see shm.h).
#include "ipc/shm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <new>

namespace zvfs::ipc {

int fd_above_stdio(int fd) {
  if (fd < 0) return fd;
  if (fd >= 3) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && !(fl & FD_CLOEXEC)) fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
    return fd;
  }
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int err = errno;
  close(fd);
  return nfd >= 0 ? nfd : -err;
}

int Region::create(uint32_t slot_count, uint32_t slot_data_bytes) {
  if (slot_count == 0 || slot_count > kMaxSlotCount || slot_data_bytes < 4096 ||
      slot_data_bytes % 4096 != 0)
    return -EINVAL;
  size_t bytes = region_bytes(slot_count, slot_data_bytes);
  int fd = memfd_create("zvfs-session", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  fd = fd_above_stdio(fd);
  if (fd < 0) return fd;
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0 ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    close(fd);
    return -err;
  }
  base_ = static_cast<uint8_t*>(p);
  bytes_ = bytes;
  slot_count_ = slot_count;
  slot_data_bytes_ = slot_data_bytes;
  // The pages are zero-filled: every atomic starts at 0 (kFree). Construct them properly.
  auto* h = new (base_) RegionHeader{};
  h->magic = kRegionMagic;
  h->version = kSessionVersion;
  h->slot_count = slot_count;
  h->slot_data_bytes = slot_data_bytes;
  for (uint32_t i = 0; i < slot_count; ++i) new (slot(i)) Slot{};
  return fd;
}

int Region::attach(int fd, uint32_t slot_count, uint32_t slot_data_bytes, size_t bytes) {
  if (slot_count == 0 || slot_count > kMaxSlotCount || slot_data_bytes < 4096 ||
      bytes != region_bytes(slot_count, slot_data_bytes))
    return -EPROTO;
  off_t end = lseek(fd, 0, SEEK_END);
  if (end < 0 || static_cast<size_t>(end) != bytes) return -EPROTO;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return -errno;
  auto* h = static_cast<RegionHeader*>(p);
  if (h->magic != kRegionMagic || h->version != kSessionVersion || h->slot_count != slot_count ||
      h->slot_data_bytes != slot_data_bytes) {
    munmap(p, bytes);
    return -EPROTO;
  }
  base_ = static_cast<uint8_t*>(p);
  bytes_ = bytes;
  slot_count_ = slot_count;
  slot_data_bytes_ = slot_data_bytes;
  return 0;
}

void Region::unmap() {
  if (base_) munmap(base_, bytes_);
  base_ = nullptr;
  bytes_ = 0;
}

}  // namespace zvfs::ipc
