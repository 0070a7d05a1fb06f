// exec_image.cc — see exec_image.h.
#include "client/exec_image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "client/exec_handover.h"
#include "client/fd_table.h"
#include "client/hook.h"
#include "client/prefix.h"
#include "client/real.h"
#include "client/zlog.h"
#include "common/path_search.h"

namespace zvfs::client {
namespace {

constexpr int kMaxScriptLevels = 5;     // scripts Linux runs through before ELOOP
constexpr size_t kScriptHead = 256;     // Linux's BINPRM_BUF_SIZE: where "#!" lines must end
constexpr size_t kCopyChunk = 1 << 20;  // one request's worth of the program per read
constexpr char kMemfdTag[] = "zvfs:";   // the copies' names: zvfs:<file name>
#ifndef MFD_EXEC
constexpr unsigned kMfdExec = 0x10;  // Linux 6.3: an executable memfd where the default is not
#else
constexpr unsigned kMfdExec = MFD_EXEC;
#endif

// Whether (dirfd, path) is a ZVFS file: a regular file under a prefix whose placeholder holds
// no data blocks. Only such a file is looked at more closely (stat first: every exec pays it).
bool is_zvfs_program(int dirfd, const char* path, int at_flags, struct stat* st) {
  const bool empty = path[0] == '\0' && (at_flags & AT_EMPTY_PATH) != 0;
  if (REAL(fstatat)(dirfd, path, st, at_flags & (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) != 0 ||
      !S_ISREG(st->st_mode) || st->st_size == 0 || st->st_blocks != 0 ||
      !dev_may_hold_prefix(st->st_dev))
    return false;
  if (empty) return fd_lookup(dirfd) != nullptr || fd_under_prefix(dirfd);
  const int nofollow = (at_flags & AT_SYMLINK_NOFOLLOW) != 0 ? O_NOFOLLOW : 0;
  int pfd = REAL(openat)(dirfd, path, O_PATH | O_CLOEXEC | nofollow);
  bool under = pfd >= 0 && fd_under_prefix(pfd);
  if (pfd >= 0) REAL(close)(pfd);
  return under;
}

// Opens the program through the library (so its reads see the pool). -errno on failure.
int open_program(int dirfd, const char* path, int at_flags) {
  int fd;
  if (path[0] == '\0' && (at_flags & AT_EMPTY_PATH) != 0) {
    char self[40];
    snprintf(self, sizeof self, "/proc/self/fd/%d", dirfd);
    fd = REAL(open)(self, O_RDONLY | O_CLOEXEC);
  } else {
    const int nofollow = (at_flags & AT_SYMLINK_NOFOLLOW) != 0 ? O_NOFOLLOW : 0;
    fd = REAL(openat)(dirfd, path, O_RDONLY | O_CLOEXEC | nofollow);
  }
  if (fd < 0) return -errno;
  if (after_open(fd, O_RDONLY | O_CLOEXEC, path) < 0) return -errno;
  return fd;
}

void close_program(int fd) {
  if (fd_lookup(fd) != nullptr) {
    (void)close_zvfs_fd(fd);
  } else {
    REAL(close)(fd);
  }
}

// Whether the descriptor `fd` is inherited by the new program (the kernel refuses to run a
// script named through a descriptor that exec closes: the interpreter could not open it).
bool inherited(int fd) {
  int fl = REAL(fcntl)(fd, F_GETFD);
  return fl >= 0 && (fl & FD_CLOEXEC) == 0;
}

// The name the kernel gives a script's interpreter for (dirfd, path) (fs/exec.c: the path, or
// /dev/fd/N[/path]) into `out`. -ENOENT where the interpreter could not open that name.
int script_name(int dirfd, const char* path, int at_flags, char* out, size_t cap) {
  int n;
  if (path[0] == '/' || (dirfd == AT_FDCWD && path[0] != '\0')) {
    n = snprintf(out, cap, "%s", path);
  } else {
    if (!inherited(dirfd)) return -ENOENT;
    n = path[0] == '\0' && (at_flags & AT_EMPTY_PATH) != 0
            ? snprintf(out, cap, "/dev/fd/%d", dirfd)
            : snprintf(out, cap, "/dev/fd/%d/%s", dirfd, path);
  }
  return n < 0 || static_cast<size_t>(n) >= cap ? -ENAMETOOLONG : 0;
}

// Parses a "#!" line as fs/binfmt_script.c does: the interpreter up to the first space or tab,
// then an optional single argument (the rest, spaces and tabs trimmed at both ends). The line
// must end within the first kScriptHead bytes. In place; -ENOEXEC if it is not a valid line.
int parse_script_line(char* head, size_t n, char** interp, char** arg) {
  char* end = static_cast<char*>(memchr(head, '\n', n));
  if (end == nullptr) {
    if (n >= kScriptHead) return -ENOEXEC;  // the line may go on: truncated
    end = head + n;
  }
  *end = '\0';
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (end > head + 2 && blank(end[-1])) *--end = '\0';
  char* p = head + 2;
  while (blank(*p)) ++p;
  if (*p == '\0') return -ENOEXEC;
  *interp = p;
  while (*p != '\0' && !blank(*p)) ++p;
  *arg = nullptr;
  if (*p != '\0') {
    *p++ = '\0';
    while (blank(*p)) ++p;
    if (*p != '\0') *arg = p;
  }
  return 0;
}

// The interpreter's argument vector: interp, [arg], name, argv[1...]. One allocation holding
// the pointers and the three strings. nullptr when out of memory.
char** script_argv(const char* interp, const char* arg, const char* name, char* const argv[]) {
  size_t rest = 0;
  if (argv != nullptr && argv[0] != nullptr)
    while (argv[1 + rest] != nullptr) ++rest;
  const size_t ptrs = 3 + (arg != nullptr ? 1 : 0) + rest + 1;
  const size_t li = strlen(interp) + 1, la = arg != nullptr ? strlen(arg) + 1 : 0,
               ln = strlen(name) + 1;
  auto* mem = static_cast<char*>(malloc(ptrs * sizeof(char*) + li + la + ln));
  if (mem == nullptr) return nullptr;
  auto** out = reinterpret_cast<char**>(mem);
  char* s = mem + ptrs * sizeof(char*);
  size_t k = 0;
  out[k++] = static_cast<char*>(memcpy(s, interp, li));
  s += li;
  if (arg != nullptr) {
    out[k++] = static_cast<char*>(memcpy(s, arg, la));
    s += la;
  }
  out[k++] = static_cast<char*>(memcpy(s, name, ln));
  for (size_t i = 0; i < rest; ++i) out[k++] = argv[1 + i];
  out[k] = nullptr;
  return out;
}

// Whether the environment `envp` preloads the library (LD_PRELOAD names libzvfs).
bool env_preloads_library(char* const envp[]) {
  if (envp == nullptr) return false;
  for (char* const* e = envp; *e != nullptr; ++e) {
    if (strncmp(*e, "LD_PRELOAD=", 11) == 0 && strstr(*e + 11, "libzvfs") != nullptr) return true;
  }
  return false;
}

// A sealed anonymous copy of the program open as `fd` (close-on-exec unless `inherit`: a script's
// interpreter opens it by its /dev/fd name). -errno on failure.
int copy_to_memfd(int fd, const char* path, bool inherit) {
  const char* base = strrchr(path, '/');
  base = base != nullptr ? base + 1 : path;
  if (base[0] == '\0') base = "zvfs-program";
  char name[249];  // memfd_create's limit, with the terminating NUL
  const size_t tag = sizeof kMemfdTag - 1, len = std::min(strlen(base), sizeof name - 1 - tag);
  memcpy(name, kMemfdTag, tag);
  memcpy(name + tag, base, len);
  name[tag + len] = '\0';
  const unsigned flags = (inherit ? 0u : MFD_CLOEXEC) | MFD_ALLOW_SEALING;
  int mfd = static_cast<int>(syscall(SYS_memfd_create, name, flags | kMfdExec));
  if (mfd < 0 && errno == EINVAL)  // a kernel before MFD_EXEC
    mfd = static_cast<int>(syscall(SYS_memfd_create, name, flags));
  if (mfd < 0) return -errno;
  void* buf = mmap(nullptr, kCopyChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED) {
    REAL(close)(mfd);
    return -ENOMEM;
  }
  int rc = 0;
  for (off_t off = 0;;) {
    ssize_t n = any_pread(fd, buf, kCopyChunk, off);
    if (n < 0) {
      rc = static_cast<int>(n);
      break;
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = REAL(pwrite)(mfd, static_cast<char*>(buf) + done, static_cast<size_t>(n - done),
                               off + done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        rc = w < 0 ? -errno : -EIO;
        break;
      }
      done += w;
    }
    if (rc != 0) break;
    off += n;
  }
  munmap(buf, kCopyChunk);
  // The image cannot change under the program it became.
  if (rc == 0 &&
      REAL(fcntl)(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
    rc = -errno;
  if (rc != 0) {
    REAL(close)(mfd);
    return rc;
  }
  return mfd;
}

// The copy of the ELF program open as `fd`, named after the file, as the kernel names a process
// (by descriptor: after the file's name too). Not inlined: its buffer stays out of resolve's
// recursive frames.
[[gnu::noinline]] int copy_program(int fd, int dirfd, const char* path, bool inherit) {
  char label[PATH_MAX];
  if (path[0] == '\0' && fd_kernel_name(dirfd, label, sizeof label) <= 0)
    snprintf(label, sizeof label, "zvfs-program");
  return copy_to_memfd(fd, path[0] != '\0' ? path : label, inherit);
}

// The target runs the copy `mfd` by descriptor.
void run_copy(ExecTarget* t, int mfd, char* const argv[], bool inherit) {
  t->memfd = mfd;
  t->dirfd = mfd;
  t->path = "";
  t->flags = AT_EMPTY_PATH;
  t->argv = argv;
  // posix_spawn's child runs the copy by its name in this process (which waits for the child's
  // exec): file actions that close descriptors in the child (closefrom) cannot take it away. An
  // inherited copy (a script's) by the child's own descriptor, which its interpreter opens.
  if (inherit) {
    snprintf(t->fd_path, sizeof t->fd_path, "/dev/fd/%d", mfd);
  } else {
    snprintf(t->fd_path, sizeof t->fd_path, "/proc/%d/fd/%d", static_cast<int>(getpid()), mfd);
  }
  t->spawn_path = t->fd_path;
  t->redirected = true;
}

int resolve(int dirfd, const char* path, int at_flags, char* const argv[], char* const envp[],
            ExecTarget* t, int level) {
  struct stat st;
  if (!is_zvfs_program(dirfd, path, at_flags, &st)) {
    if (level == 0) return 0;  // the call as made
    t->dirfd = AT_FDCWD;       // an interpreter outside ZVFS
    t->path = path;
    t->flags = 0;
    t->argv = argv;
    t->spawn_path = path;
    t->redirected = true;
    return 0;
  }
  const int access_flags = AT_EACCESS | (at_flags & (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
  if (syscall(SYS_faccessat2, dirfd, path, X_OK, access_flags) != 0) return -errno;
  int fd = open_program(dirfd, path, at_flags);
  if (fd < 0) return fd;
  struct statvfs vfs;
  if (fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_NOEXEC) != 0) {
    close_program(fd);
    return -EACCES;
  }
  if ((st.st_mode & S_ISUID) != 0 || (st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
    zlog("exec %s: a program stored in ZVFS runs without its set-user-ID/set-group-ID bits",
         path[0] != '\0' ? path : "of a descriptor");
  char head[kScriptHead + 1];
  ssize_t n = any_pread(fd, head, kScriptHead, 0);
  if (n < 0) {
    close_program(fd);
    return static_cast<int>(n);
  }
  const bool script = n >= 2 && head[0] == '#' && head[1] == '!';
  if (script && level == 0 && !env_preloads_library(envp)) {
    int mfd = copy_program(fd, dirfd, path, /*inherit=*/true);
    close_program(fd);
    if (mfd < 0) return mfd;
    run_copy(t, mfd, argv, /*inherit=*/true);
    return 0;
  }
  if (script) {
    close_program(fd);
    if (level + 1 > kMaxScriptLevels) return -ELOOP;
    char* interp;
    char* arg;
    int rc = parse_script_line(head, static_cast<size_t>(n), &interp, &arg);
    if (rc != 0) return rc;
    // On the heap: each level of nested interpreters keeps this frame (small thread stacks).
    char* name = static_cast<char*>(malloc(PATH_MAX));
    if (name == nullptr) return -ENOMEM;
    rc = script_name(dirfd, path, at_flags, name, PATH_MAX);
    char** sargv = rc == 0 ? script_argv(interp, arg, name, argv) : nullptr;
    free(name);
    if (rc != 0) return rc;
    if (sargv == nullptr) return -ENOMEM;
    t->owned[level] = sargv;
    return resolve(AT_FDCWD, sargv[0], 0, sargv, envp, t, level + 1);
  }
  int mfd = copy_program(fd, dirfd, path, /*inherit=*/false);
  close_program(fd);
  if (mfd < 0) return mfd;
  run_copy(t, mfd, argv, /*inherit=*/false);
  return 0;
}

}  // namespace

int exec_target_resolve(int dirfd, const char* path, int at_flags, char* const argv[],
                        char* const envp[], ExecTarget* t) {
  t->redirected = false;
  if (g_fd_table == nullptr || prefix_count() == 0 || path == nullptr) return 0;
  int saved = errno;
  int rc = resolve(dirfd, path, at_flags, argv, envp, t, 0);
  if (rc != 0) exec_target_release(t);
  errno = saved;
  return rc;
}

int exec_target_resolve_search(const char* file, char* const argv[], char* const envp[],
                               ExecTarget* t) {
  t->redirected = false;
  if (file == nullptr || file[0] == '\0') return 0;
  if (strchr(file, '/') != nullptr) return exec_target_resolve(AT_FDCWD, file, 0, argv, envp, t);
  if (g_fd_table == nullptr || prefix_count() == 0) return 0;
  const int saved = errno;
  const bool found = search_path(file, t->found, sizeof t->found);
  errno = saved;
  if (!found) return 0;  // glibc's own search fails the same way
  return exec_target_resolve(AT_FDCWD, t->found, 0, argv, envp, t);
}

void exec_image_started() {
  // The kernel named the process after the memory file's dentry, "memfd:zvfs:<name>" cut to 15
  // bytes (execveat), or after the descriptor's number (posix_spawn runs /proc/PID/fd/N). The
  // full name is in the link of /proc/self/exe, read only for such a name.
  char comm[16] = {};
  constexpr char kComm[] = "memfd:zvfs:";
  if (prctl(PR_GET_NAME, comm) != 0) return;
  bool digits = comm[0] != '\0';
  for (const char* c = comm; *c != '\0'; ++c) digits &= *c >= '0' && *c <= '9';
  if (!digits && strncmp(comm, kComm, sizeof kComm - 1) != 0) return;
  char exe[300];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  constexpr char kExe[] = "/memfd:zvfs:";
  if (n <= static_cast<ssize_t>(sizeof kExe - 1)) return;
  exe[n] = '\0';
  if (strncmp(exe, kExe, sizeof kExe - 1) != 0) return;
  char* name = exe + sizeof kExe - 1;
  char* tail = strstr(name, " (deleted)");
  if (tail != nullptr) *tail = '\0';
  (void)prctl(PR_SET_NAME, name);  // cut to 15 bytes, as the kernel cuts a file name
}

void exec_target_release(ExecTarget* t) {
  int saved = errno;
  if (t->memfd >= 0) REAL(close)(t->memfd);
  t->memfd = -1;
  for (void*& o : t->owned) {
    free(o);
    o = nullptr;
  }
  t->redirected = false;
  errno = saved;
}

int exec_target_run(ExecTarget* t, char* const envp[]) {
  int r = with_handover_env(envp, [&](char* const* env) {
    return REAL(execveat)(t->dirfd, t->path, t->argv, env, t->flags);
  });
  exec_target_release(t);
  return r;
}

}  // namespace zvfs::client
