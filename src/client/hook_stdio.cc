// hook_stdio.cc — stdio streams on ZVFS files.
//
// glibc's stdio calls its internal read/write/lseek/close, never the PLT, so a FILE built by
// glibc on a ZVFS descriptor would read the empty placeholder. fopen/fopen64/fdopen on a ZVFS
// file therefore return a stream made with fopencookie whose read/write/seek/close go through
// this library; everything above them (fread_unlocked, fgets, fprintf, fseek/ftell, fflush,
// feof/ferror, fclose, ungetc, getline) is glibc's own buffering and just works. fileno() of
// such a stream returns the real descriptor.
//
// fopen lets glibc open the file (so mode strings, O_CLOEXEC 'e', O_EXCL 'x' behave exactly),
// then retires glibc's FILE without closing the descriptor (closing would drop the process's
// POSIX locks on the file) and wraps the descriptor instead. freopen onto a ZVFS file cannot
// keep the caller's FILE object (its operations live inside glibc). For stdin/stdout/stderr the
// stream variable is re-pointed at a cookie stream over the reopened descriptor (as after a
// dup2 onto 0-2) and freopen returns that stream; other streams fail with EOPNOTSUPP and a log
// line rather than writing to the placeholder.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "client/adopt.h"
#include "client/fd_table.h"
#include "client/hook.h"
#include "client/preconnect.h"
#include "client/prefix.h"
#include "client/real.h"
#include "client/zlog.h"

namespace zvfs::client {
namespace {

// The cookie: the descriptor and the stream's buffer. glibc sizes a file stream's buffer from
// st_blksize but a cookie stream's from BUFSIZ; the library gives the cookie stream a buffer of
// the placeholder's st_blksize so buffering (and what a reader mixing stdio with other
// descriptors observes) is the same as on the local file system.
struct Cookie {
  int fd;
  char* buf;
  FILE* file;     // the stream this cookie serves
  bool detached;  // a standard stream handed back: closing it must not close fd
  Cookie* next;   // registry of live cookie streams (g_cookies_mu)
  Cookie* prev;
};

// Live cookie streams. exit() destroys the library's static objects (the IPC session among
// them) before glibc flushes the streams still open, so the first write through a cookie
// registers an atexit handler (running before those destructors) that flushes them all.
pthread_mutex_t g_cookies_mu = PTHREAD_MUTEX_INITIALIZER;
Cookie* g_cookies = nullptr;
std::atomic<bool> g_exit_flush_registered{false};

void flush_cookie_streams() {
  // Collect under the lock, flush outside it (a flush re-enters ck_write).
  constexpr int kMax = 1024;
  FILE* files[kMax];
  int n = 0;
  pthread_mutex_lock(&g_cookies_mu);
  for (Cookie* c = g_cookies; c != nullptr && n < kMax; c = c->next) files[n++] = c->file;
  pthread_mutex_unlock(&g_cookies_mu);
  for (int i = 0; i < n; ++i) fflush(files[i]);
}

void register_cookie(Cookie* c) {
  pthread_mutex_lock(&g_cookies_mu);
  c->prev = nullptr;
  c->next = g_cookies;
  if (g_cookies != nullptr) g_cookies->prev = c;
  g_cookies = c;
  pthread_mutex_unlock(&g_cookies_mu);
}

void unregister_cookie(Cookie* c) {
  pthread_mutex_lock(&g_cookies_mu);
  if (c->prev != nullptr) c->prev->next = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  if (g_cookies == c) g_cookies = c->next;
  pthread_mutex_unlock(&g_cookies_mu);
}

int cookie_fd(void* c) {
  return static_cast<Cookie*>(c)->fd;
}

ssize_t ck_read(void* c, char* buf, size_t n) {
  ssize_t r;
  do {
    r = any_read(cookie_fd(c), buf, n);
  } while (r == -EINTR);
  return set_errno_result(r);
}

void ensure_exit_flush() {
  if (!g_exit_flush_registered.load(std::memory_order_acquire) &&
      !g_exit_flush_registered.exchange(true))
    atexit(flush_cookie_streams);
}

// Set at the end of the library's constructor. Streams created later (by the application, once
// every library's initialisers have run and registered their destructors) register the exit
// flush at once, so it runs before those destructors; the standard streams created by the
// constructor register it at their first write.
std::atomic<bool> g_started{false};

ssize_t ck_write(void* c, const char* buf, size_t n) {
  ensure_exit_flush();
  size_t done = 0;
  while (done < n) {
    ssize_t r = any_write(cookie_fd(c), buf + done, n - done);
    if (r == -EINTR) continue;
    if (r <= 0) {
      if (done > 0) break;
      return set_errno_result<ssize_t>(r == 0 ? -EIO : r);
    }
    done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

int ck_seek(void* c, off64_t* pos, int whence) {
  off_t r = any_lseek(cookie_fd(c), *pos, whence);
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  *pos = r;
  return 0;
}

int ck_close(void* c) {
  auto* ck = static_cast<Cookie*>(c);
  int fd = ck->fd;
  bool detached = ck->detached;
  unregister_cookie(ck);
  // glibc has flushed and does not touch the buffer after the close function returns.
  free(ck->buf);
  free(ck);
  if (detached) return 0;
  if (fd_lookup(fd) != nullptr) return close_zvfs_fd(fd);
  return REAL(close)(fd);
}

// mode string → the access bits it asks for; -1 if invalid.
int mode_access(const char* mode) {
  if (mode == nullptr) return -1;
  bool plus = strchr(mode, '+') != nullptr;
  switch (mode[0]) {
    case 'r':
      return plus ? O_RDWR : O_RDONLY;
    case 'w':
      return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC;
    case 'a':
      return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND;
    default:
      return -1;
  }
}

// A cookie stream over ZVFS descriptor fd (which it then owns).
FILE* cookie_stream(int fd, const char* mode) {
  // The cookie layer only needs r/w/a and '+'.
  char m[4];
  size_t k = 0;
  m[k++] = mode[0];
  if (strchr(mode, '+') != nullptr) m[k++] = '+';
  m[k] = '\0';
  struct stat st;
  size_t bufsize = BUFSIZ;
  if (REAL(fstat)(fd, &st) == 0 && st.st_blksize > 0) bufsize = static_cast<size_t>(st.st_blksize);
  auto* ck = static_cast<Cookie*>(malloc(sizeof(Cookie)));
  char* buf = static_cast<char*>(malloc(bufsize));
  if (ck == nullptr || buf == nullptr) {
    free(ck);
    free(buf);
    errno = ENOMEM;
    return nullptr;
  }
  ck->fd = fd;
  ck->buf = buf;
  ck->detached = false;
  ck->next = ck->prev = nullptr;
  cookie_io_functions_t io = {ck_read, ck_write, ck_seek, ck_close};
  FILE* f = fopencookie(ck, m, io);
  if (f == nullptr) {
    free(buf);
    free(ck);
    return nullptr;
  }
  setvbuf(f, buf, _IOFBF, bufsize);
  ck->file = f;
  register_cookie(ck);
  if (g_started.load(std::memory_order_acquire)) ensure_exit_flush();
  f->_fileno = fd;  // fileno(f) answers the real descriptor; I/O still goes through the cookie
  if (mode[0] == 'a' && strchr(mode, '+') == nullptr) {  // as glibc: "a" starts at the end,
                                                         // "a+" reads from the start
    off64_t end = 0;
    (void)ck_seek(ck, &end, SEEK_END);
  }
  return f;
}

// Whether fopen mode `mode` holds glibc's 'x' (O_EXCL) among its flags before any ",ccs=".
bool mode_exclusive(const char* mode) {
  for (const char* c = mode; *c != '\0' && *c != ','; ++c) {
    if (*c == 'x') return true;
  }
  return false;
}

// fopen of `path` in mode "w" or "a" (without 'x') where the name may lie under a prefix: the
// file is made first, exclusively, so that if the daemon then refuses it the failed fopen
// removes it again (as open does: hook_open.cc). The inode made is remembered and its
// descriptor closed again before glibc opens the name (so a process at its descriptor limit
// can still fopen); `made` stays false when this made none (the file exists, or no need).
struct PreCreated {
  bool made = false;
  dev_t dev = 0;
  ino_t ino = 0;
  bool is(int fd) const {
    struct stat st;
    return made && REAL(fstat)(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
  }
};

PreCreated fopen_precreate(const char* path, const char* mode) {
  PreCreated pc;
  int want = mode_access(mode);
  if (want < 0 || (want & O_CREAT) == 0 || mode_exclusive(mode) ||
      !name_may_be_under_prefix(AT_FDCWD, path, false))
    return pc;
  int saved = errno;
  int fd = REAL(open)(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  struct stat st;
  if (fd >= 0 && REAL(fstat)(fd, &st) == 0) {
    pc.made = true;
    pc.dev = st.st_dev;
    pc.ino = st.st_ino;
  }
  if (fd >= 0) REAL(close)(fd);
  errno = saved;
  return pc;
}

FILE* after_fopen(FILE* f, const char* path, const char* mode, const PreCreated& pc) {
  if (f == nullptr) {
    // The file this made stays empty and unbound: remove it, as the failed fopen leaves none.
    int saved = errno;
    int fd = pc.made ? REAL(open)(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) : -1;
    if (fd >= 0 && pc.is(fd)) undo_create(fd);
    if (fd >= 0) REAL(close)(fd);
    errno = saved;
    return f;
  }
  const bool made = mode_exclusive(mode) || pc.is(fileno(f));
  int fd = fileno(f);
  int saved = errno;
  int fl = REAL(fcntl)(fd, F_GETFL);
  int want = mode_access(mode);
  if (fl < 0 || want < 0) {
    errno = saved;
    return f;
  }
  int rc = adopt_fd(fd, fl | (want & O_TRUNC), open_may_bind(path));
  if (rc == 0) {
    errno = saved;
    return f;
  }
  if (rc < 0) {
    if (made) undo_create(fd);
    REAL(fclose)(f);
    errno = -rc;
    return nullptr;
  }
  FILE* c = cookie_stream(fd, mode);
  if (c == nullptr) {
    int e = errno;
    REAL(fclose)(f);  // glibc's close, not ours: the slot is released below
    finish_release(fd_remove(fd));
    errno = e;
    return nullptr;
  }
  // Retire glibc's FILE without closing the descriptor: fclose skips close on fileno -1.
  f->_fileno = -1;
  REAL(fclose)(f);
  errno = saved;
  return c;
}

// stdin/stdout/stderr are glibc's own streams: when fd 0, 1 or 2 is a ZVFS file (a shell's
// redirection, inherited across exec, or a dup2 in this process) the stream variable is pointed
// at a cookie stream over the same fd, and back at glibc's stream when the fd stops being one.
FILE* g_std_orig[3];
FILE* g_std_cookie[3];
pthread_mutex_t g_std_mu = PTHREAD_MUTEX_INITIALIZER;

FILE** std_var(int fd) {
  return fd == 0 ? &stdin : fd == 1 ? &stdout : &stderr;
}

// 0, 1 or 2 if f is (glibc's) stdin, stdout or stderr, else -1.
int std_index(FILE* f) {
  for (int k = 0; k < 3; ++k)
    if (f == *std_var(k) || f == g_std_orig[k]) return k;
  return -1;
}

}  // namespace

void stdio_started() {
  g_started.store(true, std::memory_order_release);
}

void std_stream_before_change(int fd) {
  if (fd < 0 || fd > 2) return;
  FILE* c = g_std_cookie[fd];
  if (c != nullptr) fflush(c);
}

void std_stream_update(int fd) {
  if (fd < 0 || fd > 2) return;
  pthread_mutex_lock(&g_std_mu);
  bool zvfs = fd_lookup(fd) != nullptr;
  FILE** var = std_var(fd);
  if (zvfs && g_std_cookie[fd] == nullptr) {
    FILE* c = cookie_stream(fd, fd == 0 ? "r" : "w");
    if (c != nullptr) {
      fflush(*var);
      if (fd == 2) setvbuf(c, nullptr, _IONBF, 0);
      g_std_orig[fd] = *var;
      g_std_cookie[fd] = c;
      *var = c;
    }
  } else if (!zvfs && g_std_cookie[fd] != nullptr) {
    FILE* c = g_std_cookie[fd];
    pthread_mutex_lock(&g_cookies_mu);
    for (Cookie* k = g_cookies; k != nullptr; k = k->next)
      if (k->file == c) k->detached = true;
    pthread_mutex_unlock(&g_cookies_mu);
    REAL(fclose)(c);
    *var = g_std_orig[fd];
    g_std_cookie[fd] = nullptr;
  }
  pthread_mutex_unlock(&g_std_mu);
}

}  // namespace zvfs::client

using namespace zvfs::client;

ZVFS_HOOK FILE* fopen(const char* path, const char* mode) {
  preconnect_before_open(AT_FDCWD, path, 0);
  const PreCreated pc = fopen_precreate(path, mode);
  return after_fopen(REAL(fopen)(path, mode), path, mode, pc);
}

ZVFS_HOOK FILE* fopen64(const char* path, const char* mode) {
  preconnect_before_open(AT_FDCWD, path, 0);
  const PreCreated pc = fopen_precreate(path, mode);
  return after_fopen(REAL(fopen64)(path, mode), path, mode, pc);
}

ZVFS_HOOK FILE* fdopen(int fd, const char* mode) noexcept {
  if (fd_lookup(fd) == nullptr) return REAL(fdopen)(fd, mode);
  int want = mode_access(mode);
  int saved = errno;
  int fl = REAL(fcntl)(fd, F_GETFL);
  if (fl < 0) return nullptr;  // errno EBADF from the kernel
  errno = saved;
  int acc = fl & O_ACCMODE;
  int wacc = want < 0 ? -1 : want & O_ACCMODE;
  if (want < 0 || (wacc == O_RDWR && acc != O_RDWR) || (wacc == O_RDONLY && acc == O_WRONLY) ||
      (wacc == O_WRONLY && acc == O_RDONLY)) {
    errno = EINVAL;
    return nullptr;
  }
  if ((want & O_APPEND) != 0 && (fl & O_APPEND) == 0) REAL(fcntl)(fd, F_SETFL, fl | O_APPEND);
  return cookie_stream(fd, mode);
}

namespace {
FILE* after_freopen(FILE* f, const char* path, const char* mode) {
  if (f == nullptr) return f;
  int fd = fileno(f);
  int saved = errno;
  int fl = REAL(fcntl)(fd, F_GETFL);
  int want = mode_access(mode);
  if (want < 0) want = 0;
  // glibc closed the stream's old descriptor and put the new file at the same number with its
  // internal calls: a ZVFS file that was there is gone.
  note_new_fd(fd, nullptr);
  int rc = fl < 0 ? 0 : adopt_fd(fd, fl | (want & O_TRUNC), open_may_bind(path));
  int std = std_index(f);
  if (std >= 0 && std == fd) {
    // A standard stream: its variable is pointed at a cookie stream over the fd (or back at
    // glibc's stream), as after a dup2 onto it.
    std_stream_update(fd);
    if (rc >= 0) {
      errno = saved;
      return *std_var(fd);
    }
  }
  if (rc == 0) {
    errno = saved;
    return f;
  }
  if (rc > 0) {
    zlog("freopen onto a ZVFS file (fd %d) is only supported for stdin/stdout/stderr", fd);
    finish_release(fd_remove(fd));
    rc = -EOPNOTSUPP;
  }
  REAL(fclose)(f);
  errno = -rc;
  return nullptr;
}

// freopen of a standard stream that is currently a cookie stream: glibc cannot reopen a cookie
// stream, so its own stream for that descriptor (kept aside) is reopened instead.
FILE* std_glibc_stream(FILE* stream) {
  for (int k = 0; k < 3; ++k) {
    if (stream != nullptr && stream == g_std_cookie[k]) {
      fflush(stream);
      clearerr(stream);
      return g_std_orig[k];
    }
  }
  return stream;
}
}  // namespace

ZVFS_HOOK FILE* freopen(const char* path, const char* mode, FILE* stream) {
  return after_freopen(REAL(freopen)(path, mode, std_glibc_stream(stream)), path, mode);
}

ZVFS_HOOK FILE* freopen64(const char* path, const char* mode, FILE* stream) {
  return after_freopen(REAL(freopen64)(path, mode, std_glibc_stream(stream)), path, mode);
}

// dprintf/vdprintf format into a FILE of glibc's own over the descriptor, which writes with the
// internal write: on a ZVFS descriptor the text would land in the placeholder. Formatted here
// (on the stack when short) and written through the library, all of it or an error.
ZVFS_HOOK int vdprintf(int fd, const char* fmt, va_list ap) {
  OpenFile* of = fd_lookup(fd);
  if (of == nullptr) {
    static auto real = next_as(&::vdprintf, "vdprintf");
    if (real == nullptr) {
      errno = ENOSYS;
      return -1;
    }
    return real(fd, fmt, ap);
  }
  char small[1024];
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  char* text = small;
  if (n >= static_cast<int>(sizeof small)) {
    text = static_cast<char*>(malloc(static_cast<size_t>(n) + 1));
    if (text == nullptr) {
      va_end(again);
      errno = ENOMEM;
      return -1;
    }
    vsnprintf(text, static_cast<size_t>(n) + 1, fmt, again);
  }
  va_end(again);
  int result = n;
  for (int done = 0; n > 0 && done < n;) {
    ssize_t w = any_write(fd, text + done, static_cast<size_t>(n - done));
    if (w < 0) {
      errno = static_cast<int>(-w);
      result = -1;
      break;
    }
    if (w == 0) {  // no progress (as glibc: the count so far)
      result = done;
      break;
    }
    done += static_cast<int>(w);
  }
  if (text != small) free(text);
  return result;
}

ZVFS_HOOK int dprintf(int fd, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vdprintf(fd, fmt, ap);
  va_end(ap);
  return r;
}
