// adopt.cc — see adopt.h.
#include "client/adopt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "client/fd_table.h"
#include "client/prefix.h"
#include "client/real.h"
#include "client/zlog.h"
#include "ipc/client.h"

namespace zvfs::client {

namespace {
std::atomic<bool> g_opath_files{false};  // opath_files_may_exist()
}  // namespace

void finish_release(const Released& r) {
  if (r.of == nullptr) return;
  if (r.last) {
    int rc = ipc::detach(r.of->handle);
    if (rc < 0) zlog("detach of handle %d failed: %d", r.of->handle, rc);
    of_free(r.of);
  } else if (r.new_fd >= 0) {
    int rc = ipc::set_fd(r.of->handle, r.new_fd);
    if (rc < 0) zlog("set_fd(%d, %d) failed: %d", r.of->handle, r.new_fd, rc);
  }
}

namespace {

struct ReopenJob {
  int fd;
  int (*fn)(int handle, void* arg);
  void* arg;
  int result;
};

void* reopen_thread(void* p) {
  auto* job = static_cast<ReopenJob*>(p);
  ipc::set_thread_private_fds(true);
  if (unshare(CLONE_FILES) != 0) {
    job->result = -errno;
    return nullptr;
  }
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/thread-self/fd/%d", job->fd);
  int wfd = REAL(open)(proc, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (wfd < 0) {
    job->result = -errno;
    return nullptr;
  }
  ipc::AttachInfo info;
  int handle = ipc::attach(wfd, O_WRONLY, &info);
  if (handle >= 0) {
    job->result = info.zvfs ? job->fn(handle, job->arg) : 0;
    ipc::detach(handle);
  } else {
    job->result = (handle == -1 && !info.zvfs) ? 0 : handle;
  }
  REAL(close)(wfd);
  return nullptr;
}

// O_TRUNC: Linux truncates even through O_RDONLY (the open already proved write permission),
// but the daemon changes a blob only through a writable descriptor: another writable handle of
// this process on the inode, else a write reopen (with_write_reopen).
int truncate_on_open(int fd, int flags, int handle, dev_t dev, ino_t ino) {
  int acc = flags & O_ACCMODE;
  if (acc == O_WRONLY || acc == O_RDWR) return ipc::truncate(handle, 0);
  int wh = fd_find_inode_handle(dev, ino, true);
  if (wh >= 0) return ipc::truncate(wh, 0);
  return with_write_reopen(
      fd, [](int h, void*) { return ipc::truncate(h, 0); }, nullptr);
}

}  // namespace

int with_write_reopen(int fd, int (*fn)(int handle, void* arg), void* arg) {
  int r = ipc::ensure_session();  // opened here, in the process's descriptor table
  if (r < 0) return r;
  ReopenJob job{fd, fn, arg, -EIO};
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the helper takes none of the application's signals
  pthread_t t;
  int e = pthread_create(&t, nullptr, reopen_thread, &job);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (e != 0) {
    zlog("cannot start a thread to reopen fd %d for writing: %d", fd, e);
    return -e;
  }
  pthread_join(t, nullptr);
  return job.result;
}

bool opath_files_may_exist() {
  return g_opath_files.load(std::memory_order_relaxed);
}

namespace {

// adopt_fd for a descriptor whose fstat is st, already known to be a regular file on a file
// system that may hold a prefix.
int adopt_stat(int fd, int flags, bool may_bind, const struct stat& st) {
  int saved = errno;
  if ((flags & O_PATH) != 0) {
    g_opath_files.store(true, std::memory_order_relaxed);
    errno = saved;
    return 0;
  }
  if (!fd_under_prefix(fd, st)) {
    errno = saved;
    return 0;
  }
  ipc::AttachInfo info;
  int attach_flags = may_bind ? (flags | O_CREAT) : (flags & ~O_CREAT);
  int h = ipc::attach(fd, attach_flags, &info);
  if (h < 0 && !info.zvfs) {
    errno = saved;
    if (h == -1) return 0;  // plain file
    zlog("attach of fd %d failed: %d", fd, h);
    return h;
  }
  if (h < 0) {
    errno = saved;
    return h;
  }
  if (!info.zvfs) {
    errno = saved;
    return 0;
  }
  if (fd >= g_fd_table_size) {
    ipc::detach(h);
    zlog("fd %d beyond the descriptor table (%d): refused", fd, g_fd_table_size);
    errno = saved;
    return -EMFILE;
  }
  OpenFile* of = of_alloc(h, st.st_dev, st.st_ino);
  if (of == nullptr) {
    ipc::detach(h);
    errno = saved;
    return -ENOMEM;
  }
  of->writable = (flags & O_ACCMODE) == O_WRONLY || (flags & O_ACCMODE) == O_RDWR;
  of->readable = (flags & O_ACCMODE) == O_RDONLY || (flags & O_ACCMODE) == O_RDWR;
  of->status_flags.store(flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC),
                         std::memory_order_relaxed);
  // The kernel truncated the placeholder; the blob follows.
  if ((flags & O_TRUNC) != 0 && info.size != 0) {
    int rc = truncate_on_open(fd, flags, h, st.st_dev, st.st_ino);
    if (rc < 0) {
      ipc::detach(h);
      of_free(of);
      errno = saved;
      return rc;
    }
  }
  Released displaced;
  fd_install(fd, of, &displaced);
  finish_release(displaced);
  errno = saved;
  return 1;
}

}  // namespace

int adopt_fd(int fd, int flags, bool may_bind) {
  if (fd < 0 || g_fd_table == nullptr) return 0;
  int saved = errno;
  struct stat st;
  bool candidate =
      REAL(fstat)(fd, &st) == 0 && S_ISREG(st.st_mode) && dev_may_hold_prefix(st.st_dev);
  errno = saved;
  return candidate ? adopt_stat(fd, flags, may_bind, st) : 0;
}

int list_open_fds(int* out, int cap) {
  int dfd = REAL(open)("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -errno;
  int n = 0;
  alignas(8) char buf[4096];
  for (int rounds = 0; rounds < 1024; ++rounds) {
    long got = syscall(SYS_getdents64, dfd, buf, sizeof buf);
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      int fd = atoi(d->d_name);
      if (fd != dfd && n < cap) out[n++] = fd;
    }
  }
  REAL(close)(dfd);
  return n;
}

int adopt_received_fd(int fd) {
  if (fd < 0 || g_fd_table == nullptr || prefix_count() == 0) return 0;
  int saved = errno;
  int fl = REAL(fcntl)(fd, F_GETFL);
  struct stat st;
  bool candidate =
      fl >= 0 && REAL(fstat)(fd, &st) == 0 && S_ISREG(st.st_mode) && dev_may_hold_prefix(st.st_dev);
  errno = saved;
  if (!candidate) return 0;
  // A dup of a descriptor already in the table (same OFD) shares its OpenFile.
  Released displaced;
  if ((fl & O_PATH) == 0 && fd_install_if_shared(fd, st.st_dev, st.st_ino, &displaced)) {
    finish_release(displaced);
    errno = saved;
    return 1;
  }
  return adopt_stat(fd, fl, false, st);
}

void adopt_inherited_fds() {
  if (prefix_count() == 0 || g_fd_table == nullptr) return;
  // Collect first: attaching opens the IPC session's own descriptors while we list.
  constexpr int kMaxInherited = 4096;
  static int fds[kMaxInherited];
  int n = list_open_fds(fds, kMaxInherited);
  for (int i = 0; i < n; ++i) {
    int rc = adopt_received_fd(fds[i]);
    if (rc < 0) zlog("inherited fd %d under the prefix could not be attached: %d", fds[i], rc);
  }
}

}  // namespace zvfs::client
