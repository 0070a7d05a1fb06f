// hook_mmap.cc — mmap of a ZVFS file.
//
// The page cache knows only the empty placeholder, so a file mapping cannot be handed to the
// kernel. MAP_PRIVATE is served with an anonymous mapping filled from the blob at mmap time: a
// private snapshot, which is what MAP_PRIVATE promises for pages the process writes (pages it
// only reads would, on Linux, follow later writes by others; here they keep the contents of the
// moment of the mmap, which POSIX leaves unspecified). MAP_SHARED fails with ENODEV and a log
// line, read-only too: a shared mapping promises to follow every later write to the file, and
// programs rely on it. SQLite with PRAGMA mmap_size reads pages through a read-only shared
// mapping and writes them with pwrite; served as a snapshot, a second process's commit stayed
// invisible to the first, whose next commit then overwrote it (a committed row lost, while
// integrity_check passed). On ENODEV SQLite falls back to read(), as do other programs that
// treat mmap as an optimisation. Bytes beyond the end of the file read as zeros instead of
// raising SIGBUS.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/fd_table.h"
#include "client/hook.h"
#include "client/real.h"
#include "client/zlog.h"
#include "ipc/client.h"

namespace zvfs::client {
namespace {

void* map_zvfs(OpenFile* of, int fd, void* addr, size_t len, int prot, int flags, off_t off) {
  int type = flags & MAP_TYPE;
  if (len == 0) {
    errno = EINVAL;
    return MAP_FAILED;
  }
  long page = sysconf(_SC_PAGESIZE);
  if (off < 0 || off % page != 0) {
    errno = EINVAL;
    return MAP_FAILED;
  }
  int saved = errno;
  int fl = REAL(fcntl)(fd, F_GETFL);
  errno = saved;
  if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY) {
    errno = EACCES;
    return MAP_FAILED;
  }
  if (type == MAP_SHARED || type == MAP_SHARED_VALIDATE) {
    zlog("mmap: MAP_SHARED of a ZVFS file (fd %d) is not supported (its pages could not follow "
         "writes to the file)",
         fd);
    errno = ENODEV;
    return MAP_FAILED;
  }
  int keep = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_NORESERVE | MAP_LOCKED);
  void* p =
      REAL(mmap)(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | keep, -1, 0);
  if (p == MAP_FAILED) return p;
  ssize_t r = ipc::pread(of->handle, p, len, static_cast<uint64_t>(off));
  if (r < 0) {
    munmap(p, len);
    errno = -static_cast<int>(r);
    return MAP_FAILED;
  }
  if (prot != (PROT_READ | PROT_WRITE) && mprotect(p, len, prot) != 0) {
    int e = errno;
    munmap(p, len);
    errno = e;
    return MAP_FAILED;
  }
  return p;
}

}  // namespace
}  // namespace zvfs::client

using namespace zvfs::client;

ZVFS_HOOK void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) noexcept {
  OpenFile* of = (flags & MAP_ANONYMOUS) != 0 ? nullptr : fd_lookup(fd);
  if (__builtin_expect(of == nullptr, 1)) return REAL(mmap)(addr, len, prot, flags, fd, off);
  return map_zvfs(of, fd, addr, len, prot, flags, off);
}

ZVFS_HOOK void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off64_t off) noexcept {
  OpenFile* of = (flags & MAP_ANONYMOUS) != 0 ? nullptr : fd_lookup(fd);
  if (__builtin_expect(of == nullptr, 1)) return REAL(mmap64)(addr, len, prot, flags, fd, off);
  return map_zvfs(of, fd, addr, len, prot, flags, off);
}
