// diff_prog.cc — zvfs_difftest: the differential exerciser of libzvfs.so.
//
//   zvfs_difftest script|random SEED OPS
//
// Runs a scripted or a seeded random sequence of file calls in the current directory and prints
// one line per call: what was called, its return value, errno on failure, and a hash of any
// bytes read. Run once in a plain directory without the library and once under a ZVFS prefix
// with it, the two outputs must be identical (client_diff_test compares them). Nothing printed
// depends on descriptor numbers, inode numbers or block allocation (st_blocks differs between
// ext4 and the pool by design); sizes, offsets, data and errors are all compared.
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

// glibc's fstat before 2.33, as binaries linked against an older glibc still call it (a
// compatibility symbol now: reachable only through its version).
extern "C" int old_fxstat64(int ver, int fd, struct stat64* st);
__asm__(".symver old_fxstat64,__fxstat64@GLIBC_2.2.5");

namespace {

constexpr int kSlots = 8;
constexpr int kFpSlots = 3;
constexpr int kNames = 4;
const char* const kName[kNames] = {"f0", "f1", "sub/f2", "f3"};
constexpr size_t kMaxIo = 300000;

int g_fd[kSlots];
FILE* g_fp[kFpSlots];
std::mt19937_64 g_rng;
long g_seq = 0;
std::vector<char> g_buf(kMaxIo), g_buf2(kMaxIo);

uint64_t fnv(const void* p, size_t n) {
  auto* b = static_cast<const unsigned char*>(p);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

void rec(long long ret, uint64_t hash, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
void rec(long long ret, uint64_t hash, const char* fmt, ...) {
  int e = errno;
  char what[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (ret < 0)
    printf("%ld %s = %lld errno %s\n", g_seq, what, ret, strerrorname_np(e));
  else if (hash != 0)
    printf("%ld %s = %lld hash %016llx\n", g_seq, what, ret, static_cast<unsigned long long>(hash));
  else
    printf("%ld %s = %lld\n", g_seq, what, ret);
  ++g_seq;
}

uint64_t rnd(uint64_t n) {
  return n == 0 ? 0 : g_rng() % n;
}

void fill(size_t n) {
  uint64_t x = g_rng();
  for (size_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    g_buf[i] = static_cast<char>(x >> 56);
  }
}

size_t pick_len() {
  static const size_t lens[] = {0, 1, 7, 100, 511, 4096, 4097, 10000, 65536, 70001, 262144};
  return lens[rnd(sizeof lens / sizeof lens[0])];
}

off_t pick_off() {
  static const off_t offs[] = {0, 1, 100, 4095, 4096, 5000, 65536, 131071, 300000, 1 << 20};
  return offs[rnd(sizeof offs / sizeof offs[0])] + static_cast<off_t>(rnd(3));
}

int pick_flags() {
  static const int flags[] = {O_RDONLY,
                              O_WRONLY,
                              O_RDWR,
                              O_RDWR | O_CREAT,
                              O_WRONLY | O_CREAT | O_TRUNC,
                              O_RDWR | O_CREAT | O_APPEND,
                              O_WRONLY | O_APPEND,
                              O_RDWR | O_CREAT | O_EXCL,
                              O_RDONLY | O_TRUNC,
                              O_RDWR | O_TRUNC};
  return flags[rnd(sizeof flags / sizeof flags[0])];
}

void close_slot(int s) {
  if (g_fd[s] < 0) return;
  rec(close(g_fd[s]), 0, "close s%d", s);
  g_fd[s] = -1;
}

void op_open(int s, int name, int flags) {
  close_slot(s);
  int fd = open(kName[name], flags | O_CLOEXEC, 0644);
  rec(fd < 0 ? -1 : 0, 0, "open s%d %s flags %#x", s, kName[name], flags);
  g_fd[s] = fd;
}

void op_read(int s, size_t n) {
  memset(g_buf.data(), 0xee, n);
  ssize_t r = read(g_fd[s], g_buf.data(), n);
  rec(r, r > 0 ? fnv(g_buf.data(), static_cast<size_t>(r)) : 0, "read s%d %zu", s, n);
}

void op_write(int s, size_t n) {
  fill(n);
  rec(write(g_fd[s], g_buf.data(), n), 0, "write s%d %zu", s, n);
}

void op_pread(int s, size_t n, off_t off) {
  memset(g_buf.data(), 0xee, n);
  ssize_t r = pread(g_fd[s], g_buf.data(), n, off);
  rec(r, r > 0 ? fnv(g_buf.data(), static_cast<size_t>(r)) : 0, "pread s%d %zu @%lld", s, n,
      static_cast<long long>(off));
}

void op_pwrite(int s, size_t n, off_t off) {
  fill(n);
  rec(pwrite(g_fd[s], g_buf.data(), n, off), 0, "pwrite s%d %zu @%lld", s, n,
      static_cast<long long>(off));
}

void op_lseek(int s, off_t off, int whence) {
  rec(lseek(g_fd[s], off, whence), 0, "lseek s%d %lld %d", s, static_cast<long long>(off), whence);
}

void op_fstat(int s) {
  struct stat st;
  int r = fstat(g_fd[s], &st);
  rec(r == 0 ? st.st_size : -1, 0, "fstat s%d size", s);
  if (r == 0) rec(S_ISREG(st.st_mode) ? 1 : 0, 0, "fstat s%d isreg", s);
}

// The xattr names of a list (as listxattr returns it), sorted, hashed: the order of a list is
// the file system's, and the library leaves its own binding out of ZVFS files' lists.
uint64_t names_hash(const char* list, ssize_t n) {
  std::vector<std::string> names;
  for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(strlen(list + i)) + 1)
    names.emplace_back(list + i);
  std::sort(names.begin(), names.end());
  uint64_t h = 1469598103934665603ull;
  for (const std::string& x : names) h = h * 31 + fnv(x.data(), x.size() + 1);
  return h | 1;
}

// One extended attribute call on slot s's file or on a name: set (plain, create-only,
// replace-only), get, list, remove of a few user.* names; and a get of the binding name the
// daemon puts on a ZVFS file, which a program never sees (ENODATA, as on a plain file).
void op_xattr(int s, int name) {
  static const char* const keys[] = {"user.k0", "user.k1", "user.k2", "trusted.zvfs.blob"};
  const int k = static_cast<int>(rnd(3));
  const bool by_path = g_fd[s] < 0 || rnd(3) == 0;
  const char* path = kName[name];
  char who[32];
  if (by_path) {
    snprintf(who, sizeof who, "%s", path);
  } else {
    snprintf(who, sizeof who, "s%d", s);
  }
  switch (rnd(6)) {
    case 0: {
      static const int flags[] = {0, XATTR_CREATE, XATTR_REPLACE};
      const int fl = flags[rnd(3)];
      const size_t n = rnd(120);
      fill(n);
      int r = by_path ? setxattr(path, keys[k], g_buf.data(), n, fl)
                      : fsetxattr(g_fd[s], keys[k], g_buf.data(), n, fl);
      rec(r, 0, "setxattr %s %s %zu flags %d", who, keys[k], n, fl);
      break;
    }
    case 1:
    case 2: {
      const int key = rnd(4) == 0 ? 3 : k;
      ssize_t r = by_path ? getxattr(path, keys[key], g_buf.data(), 256)
                          : fgetxattr(g_fd[s], keys[key], g_buf.data(), 256);
      rec(r, r > 0 ? fnv(g_buf.data(), static_cast<size_t>(r)) : 0, "getxattr %s %s", who,
          keys[key]);
      break;
    }
    case 3:
    case 4: {
      ssize_t r =
          by_path ? listxattr(path, g_buf.data(), 4096) : flistxattr(g_fd[s], g_buf.data(), 4096);
      rec(r < 0 ? -1 : 0, r >= 0 ? names_hash(g_buf.data(), r) : 0, "listxattr %s", who);
      break;
    }
    default: {
      int r = by_path ? removexattr(path, keys[k]) : fremovexattr(g_fd[s], keys[k]);
      rec(r, 0, "removexattr %s %s", who, keys[k]);
      break;
    }
  }
}

void op_stat(int name) {
  struct stat st;
  int r = stat(kName[name], &st);
  rec(r == 0 ? st.st_size : -1, 0, "stat %s size", kName[name]);
  r = lstat(kName[name], &st);
  rec(r == 0 ? st.st_size : -1, 0, "lstat %s size", kName[name]);
  struct statx sx;
  r = statx(AT_FDCWD, kName[name], 0, STATX_SIZE, &sx);
  rec(r == 0 ? static_cast<long long>(sx.stx_size) : -1, 0, "statx %s size", kName[name]);
}

void op_stat_name(const char* name) {
  struct stat st;
  int r = stat(name, &st);
  rec(r == 0 ? st.st_size : -1, 0, "stat %s size", name);
}

void op_readv(int s, bool positional, off_t off) {
  struct iovec iov[3];
  size_t lens[3] = {pick_len() / 4, 3, pick_len() / 4};
  size_t total = 0;
  for (int i = 0; i < 3; ++i) {
    iov[i].iov_base = g_buf.data() + total;
    iov[i].iov_len = lens[i];
    total += lens[i];
  }
  memset(g_buf.data(), 0xee, total);
  ssize_t r = positional ? preadv(g_fd[s], iov, 3, off) : readv(g_fd[s], iov, 3);
  rec(r, r > 0 ? fnv(g_buf.data(), static_cast<size_t>(r)) : 0, "%s s%d %zu @%lld",
      positional ? "preadv" : "readv", s, total, static_cast<long long>(positional ? off : -1));
}

void op_writev(int s, bool positional, off_t off) {
  struct iovec iov[3];
  size_t lens[3] = {pick_len() / 4, 5, pick_len() / 4};
  size_t total = lens[0] + lens[1] + lens[2];
  fill(total);
  size_t k = 0;
  for (int i = 0; i < 3; ++i) {
    iov[i].iov_base = g_buf.data() + k;
    iov[i].iov_len = lens[i];
    k += lens[i];
  }
  ssize_t r = positional ? pwritev(g_fd[s], iov, 3, off) : writev(g_fd[s], iov, 3);
  rec(r, 0, "%s s%d %zu @%lld", positional ? "pwritev" : "writev", s, total,
      static_cast<long long>(positional ? off : -1));
}

void op_fallocate(int s, int mode, off_t off, off_t len) {
  rec(fallocate(g_fd[s], mode, off, len), 0, "fallocate s%d mode %d %lld+%lld", s, mode,
      static_cast<long long>(off), static_cast<long long>(len));
}

void op_copy(int a, int b, size_t n, bool with_offsets, off_t oi, off_t oo) {
  loff_t in = oi, out = oo;
  ssize_t r = with_offsets ? copy_file_range(g_fd[a], &in, g_fd[b], &out, n, 0)
                           : copy_file_range(g_fd[a], nullptr, g_fd[b], nullptr, n, 0);
  rec(r, 0, "copy_file_range s%d->s%d %zu offs %d", a, b, n, with_offsets ? 1 : 0);
  if (with_offsets && r >= 0)
    rec(static_cast<long long>(in) * 1000003 + out, 0, "copy_file_range offsets");
}

// Not between two descriptors of one file: the kernel's in-kernel copy then reads page-cache
// pages that its own writes are changing, an aliasing no user-space copy reproduces.
void op_sendfile(int a, int b, size_t n, bool with_offset, off_t oi) {
  struct stat sa, sb;
  if (fstat(g_fd[a], &sa) == 0 && fstat(g_fd[b], &sb) == 0 && sa.st_ino == sb.st_ino) return;
  off_t in = oi;
  ssize_t r = sendfile(g_fd[b], g_fd[a], with_offset ? &in : nullptr, n);
  rec(r, 0, "sendfile s%d->s%d %zu", a, b, n);
  if (with_offset && r >= 0) rec(in, 0, "sendfile offset");
}

void op_mmap(int s, size_t n, off_t off) {
  void* p = mmap(nullptr, n, PROT_READ, MAP_PRIVATE, g_fd[s], off & ~off_t{4095});
  if (p == MAP_FAILED) {
    rec(-1, 0, "mmap s%d %zu", s, n);
    return;
  }
  // Only bytes inside the file are defined (beyond it: zeros here, SIGBUS on Linux past the
  // last page), so hash what fstat says is there.
  struct stat st;
  fstat(g_fd[s], &st);
  off_t base = off & ~off_t{4095};
  size_t valid = st.st_size > base ? static_cast<size_t>(st.st_size - base) : 0;
  if (valid > n) valid = n;
  rec(0, fnv(p, valid) | 1, "mmap s%d %zu valid %zu", s, n, valid);
  munmap(p, n);
}

// Each stream slot works on a file of its own: glibc's buffering of a file stream and of a
// cookie stream differ in when they notice changes made underneath them by other descriptors
// (a file stream's fseek keeps a buffer that covers the target), which POSIX leaves open.
const char* const kStdioName[kFpSlots] = {"p0", "p1", "p2"};

void op_stdio(int slot) {
  static const char* const modes[] = {"r", "r+", "w", "a", "a+", "w+"};
  const char* name = kStdioName[slot];
  FILE*& f = g_fp[slot];
  switch (rnd(6)) {
    case 0: {
      if (f != nullptr) rec(fclose(f), 0, "fclose p%d", slot);
      const char* m = modes[rnd(6)];
      f = fopen(name, m);
      rec(f == nullptr ? -1 : 0, 0, "fopen p%d %s %s", slot, name, m);
      break;
    }
    case 1:
      if (f == nullptr) break;
      fill(200);
      rec(static_cast<long long>(fwrite(g_buf.data(), 1, 200, f)), 0, "fwrite p%d", slot);
      break;
    case 2: {
      if (f == nullptr) break;
      memset(g_buf.data(), 0, 300);
      size_t r = fread(g_buf.data(), 1, 300, f);
      rec(static_cast<long long>(r), fnv(g_buf.data(), r) | 1, "fread p%d", slot);
      break;
    }
    case 3:
      if (f == nullptr) break;
      rec(fseek(f, static_cast<long>(rnd(5000)), SEEK_SET), 0, "fseek p%d", slot);
      rec(ftell(f), 0, "ftell p%d", slot);
      break;
    case 4:
      if (f == nullptr) break;
      rec(fprintf(f, "line %ld %llu\n", g_seq, static_cast<unsigned long long>(rnd(1000))), 0,
          "fprintf p%d", slot);
      rec(fflush(f), 0, "fflush p%d", slot);
      break;
    default:
      if (f == nullptr) break;
      rec(fclose(f), 0, "fclose p%d", slot);
      f = nullptr;
      break;
  }
}

// Reads every file whole through a fresh descriptor: the final state compared.
void final_state() {
  for (int s = 0; s < kFpSlots; ++s)
    if (g_fp[s] != nullptr) {
      fclose(g_fp[s]);
      g_fp[s] = nullptr;
    }
  for (int n = 0; n < kNames + kFpSlots; ++n) {
    const char* name = n < kNames ? kName[n] : kStdioName[n - kNames];
    int fd = open(name, O_RDONLY);
    if (fd < 0) {
      rec(-1, 0, "final %s", name);
      continue;
    }
    uint64_t h = 1469598103934665603ull;
    long long total = 0;
    for (int i = 0; i < 100000; ++i) {
      ssize_t r = read(fd, g_buf.data(), kMaxIo);
      if (r <= 0) break;
      h = h * 31 + fnv(g_buf.data(), static_cast<size_t>(r));
      total += r;
    }
    rec(total, h | 1, "final %s", name);
    ssize_t len = flistxattr(fd, g_buf2.data(), 4096);
    uint64_t vh = 0;
    for (ssize_t i = 0; i < len; i += static_cast<ssize_t>(strlen(g_buf2.data() + i)) + 1) {
      ssize_t v = fgetxattr(fd, g_buf2.data() + i, g_buf.data(), 4096);
      vh += v > 0 ? fnv(g_buf.data(), static_cast<size_t>(v)) : static_cast<uint64_t>(v);
    }
    rec(len < 0 ? -1 : 0, len >= 0 ? names_hash(g_buf2.data(), len) ^ vh : 0, "final xattrs %s",
        name);
    close(fd);
  }
}

// Length and hash of the whole file `name` (-1 if it cannot be opened).
void rec_file(const char* name, const char* what) {
  int fd = open(name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rec(-1, 0, "%s: open %s", what, name);
    return;
  }
  ssize_t n = read(fd, g_buf.data(), kMaxIo);
  rec(n, n > 0 ? fnv(g_buf.data(), static_cast<size_t>(n)) | 1 : 0, "%s: %s", what, name);
  close(fd);
}

// Entry points a database or a copy tool reaches less often: unnamed files (O_TMPFILE) given a
// name, renameat2's flags, splice in both directions, the clone ioctls (which ext4 and ZVFS
// both refuse, so that cp and pg_upgrade copy), FIFOs and device nodes under the prefix (passed
// through), and glibc's old __fxstat64 that binaries built before glibc 2.33 call.
void run_rare_entry_points() {
  // O_TMPFILE, named through /proc/self/fd and through AT_EMPTY_PATH (root only; ENOENT for
  // others, on both sides).
  int t = open(".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  rec(t >= 0 ? 0 : -1, 0, "open O_TMPFILE");
  if (t >= 0) {
    fill(5000);
    rec(write(t, g_buf.data(), 5000), 0, "tmpfile write");
    struct stat st;
    rec(fstat(t, &st) == 0 ? st.st_size : -1, 0, "tmpfile size");
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", t);
    rec(linkat(AT_FDCWD, proc, AT_FDCWD, "tmp-named", AT_SYMLINK_FOLLOW), 0, "tmpfile link");
    rec(linkat(t, "", AT_FDCWD, "tmp-named2", AT_EMPTY_PATH), 0, "tmpfile link empty path");
    rec(pwrite(t, "tail", 4, 5000), 0, "tmpfile write after link");
    close(t);
    rec_file("tmp-named", "tmpfile by name");
    rec(unlink("tmp-named"), 0, "unlink tmp-named");
    unlink("tmp-named2");
  }
  // renameat2: NOREPLACE refuses an existing target, EXCHANGE swaps two files' contents.
  for (const char* name : {"x1", "x2"}) {
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    fill(name[1] == '1' ? 3000 : 7000);
    rec(write(fd, g_buf.data(), name[1] == '1' ? 3000 : 7000), 0, "write %s", name);
    close(fd);
  }
  rec(renameat2(AT_FDCWD, "x1", AT_FDCWD, "x2", RENAME_NOREPLACE), 0, "rename noreplace");
  rec(renameat2(AT_FDCWD, "x1", AT_FDCWD, "x3", RENAME_NOREPLACE), 0, "rename noreplace new");
  rec(renameat2(AT_FDCWD, "x3", AT_FDCWD, "x2", RENAME_EXCHANGE), 0, "rename exchange");
  rec_file("x2", "after exchange");
  rec_file("x3", "after exchange");
  rec(renameat2(AT_FDCWD, "x3", AT_FDCWD, "x9", RENAME_EXCHANGE), 0, "exchange missing");
  // splice: file -> pipe at an offset, pipe -> file at an offset.
  int p[2];
  if (pipe2(p, O_CLOEXEC) == 0) {
    int fd = open("x2", O_RDWR | O_CLOEXEC);
    loff_t off = 100;
    rec(splice(fd, &off, p[1], nullptr, 2000, 0), 0, "splice file to pipe");
    rec(off, 0, "splice offset after");
    ssize_t n = read(p[0], g_buf2.data(), 65536);
    rec(n, n > 0 ? fnv(g_buf2.data(), static_cast<size_t>(n)) : 0, "read pipe");
    fill(3000);
    rec(write(p[1], g_buf.data(), 3000), 0, "write pipe");
    off = 6500;
    rec(splice(p[0], nullptr, fd, &off, 3000, 0), 0, "splice pipe to file");
    struct stat st;
    rec(fstat(fd, &st) == 0 ? st.st_size : -1, 0, "size after splice");
    rec(lseek(fd, 0, SEEK_CUR), 0, "position after splices");
    // Clone ioctls: not supported by ext4, refused on ZVFS files too (callers then copy).
    int src = open("x3", O_RDONLY | O_CLOEXEC);
    rec(ioctl(fd, FICLONE, src), 0, "ficlone");
    struct file_clone_range cr = {src, 0, 4096, 0};
    rec(ioctl(fd, FICLONERANGE, &cr), 0, "ficlonerange");
    close(src);
    // The old stat entry point.
    struct stat64 st64;
    rec(old_fxstat64(1, fd, &st64) == 0 ? st64.st_size : -1, 0, "__fxstat64 size");
    close(fd);
    close(p[0]);
    close(p[1]);
    rec_file("x2", "after splice");
  }
  // Non-regular files under the prefix pass straight through.
  rec(mkfifo("fifo", 0644), 0, "mkfifo");
  int f = open("fifo", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  rec(f >= 0 ? 0 : -1, 0, "open fifo");
  if (f >= 0) {
    rec(write(f, "through the fifo", 16), 0, "write fifo");
    ssize_t n = read(f, g_buf2.data(), 100);
    rec(n, n > 0 ? fnv(g_buf2.data(), static_cast<size_t>(n)) : 0, "read fifo");
    struct stat st;
    rec(fstat(f, &st) == 0 ? S_ISFIFO(st.st_mode) : -1, 0, "fstat fifo");
    close(f);
  }
  unlink("fifo");
  // A device node (root only: EPERM for others, on both sides), /dev/null's numbers.
  rec(mknod("null-dev", S_IFCHR | 0666, makedev(1, 3)), 0, "mknod");
  int d = open("null-dev", O_RDWR | O_CLOEXEC);
  if (d >= 0) {
    rec(write(d, g_buf.data(), 4096), 0, "write device");
    rec(read(d, g_buf2.data(), 4096), 0, "read device");
    close(d);
  }
  unlink("null-dev");
  for (const char* name : {"x1", "x2", "x3"}) unlink(name);
}

// The scripted part: edge cases, one by one.
// The writer's file size limit (`ulimit -f`): a write from the limit on fails with EFBIG and
// sends SIGXFSZ, one across it is short, for every way of writing; a fallocate or a truncate
// that grows the file past it fails. Set through setrlimit, prlimit and syscall(). Each line
// says how many SIGXFSZ the call raised (counted by a handler); a child that keeps the signal's
// default action dies of it.
volatile sig_atomic_t g_xfsz = 0;

void on_xfsz(int) {
  g_xfsz = g_xfsz + 1;
}

void lim(long long r, const char* what) {
  const int n = g_xfsz;
  g_xfsz = 0;
  rec(r, 0, "%s (SIGXFSZ %d)", what, n);
}

void run_file_size_limit() {
  struct sigaction count {
  }, old_sa{};
  count.sa_handler = on_xfsz;
  sigaction(SIGXFSZ, &count, &old_sa);
  struct rlimit old_rl;
  getrlimit(RLIMIT_FSIZE, &old_rl);
  struct rlimit rl = {10000, old_rl.rlim_max};
  lim(setrlimit(RLIMIT_FSIZE, &rl), "setrlimit fsize 10000");
  int d = open("lim", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  lim(d >= 0 ? 0 : -1, "open lim");
  fill(300);
  char* b = g_buf.data();
  lim(pwrite(d, b, 100, 5000), "pwrite below the limit");
  lim(pwrite(d, b, 100, 9950), "pwrite across the limit");
  lim(pwrite(d, b, 100, 10000), "pwrite at the limit");
  lim(pwrite(d, b, 0, 20000), "empty pwrite past the limit");
  lim(lseek(d, 9990, SEEK_SET), "lseek");
  lim(write(d, b, 100), "write across the limit");
  lim(write(d, b, 100), "write at the limit");
  lim(lseek(d, 0, SEEK_CUR), "position");
  struct iovec iov[2] = {{b, 10}, {b + 10, 10}};
  lim(pwritev(d, iov, 2, 9995), "pwritev across the limit");
  lim(pwritev(d, iov, 2, 10005), "pwritev past the limit");
  lim(ftruncate(d, 9000), "ftruncate below");
  int a = open("lim", O_WRONLY | O_APPEND | O_CLOEXEC);
  lim(write(a, b, 300), "append");
  lim(writev(a, iov, 2), "append writev");
  lim(ftruncate(d, 9990), "ftruncate below");
  lim(writev(a, iov, 2), "append writev across the limit");
  lim(write(a, b, 10), "append at the limit");
  close(a);
  lim(fallocate(d, 0, 0, 20000), "fallocate past the limit");
  lim(fallocate(d, FALLOC_FL_KEEP_SIZE, 0, 20000), "fallocate keep-size past the limit");
  lim(fallocate(d, 0, 0, 9000), "fallocate below");
  lim(ftruncate(d, 20000), "ftruncate past the limit");
  struct stat st;
  lim(fstat(d, &st) == 0 ? st.st_size : -1, "size");
  FILE* f = fdopen(dup(d), "r+");
  if (f != nullptr) {
    fseek(f, 9995, SEEK_SET);
    size_t n = fwrite(b, 1, 100, f);
    lim(static_cast<long long>(n) + 1000 * fflush(f), "fwrite across the limit");
    fclose(f);
  }
  // prlimit and syscall(prlimit64) of this process: the new limit holds at once.
  struct rlimit lower = {5000, old_rl.rlim_max};
  lim(prlimit(0, RLIMIT_FSIZE, &lower, nullptr), "prlimit fsize 5000");
  lim(pwrite(d, b, 10, 6000), "pwrite past the lower limit");
  struct rlimit lowest = {4000, old_rl.rlim_max};
  lim(syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, &lowest, nullptr), "syscall prlimit64 4000");
  lim(pwrite(d, b, 10, 4500), "pwrite past the lowest limit");
  lim(pwrite(d, b, 10, 3995), "pwrite across the lowest limit");
  // copy_file_range and sendfile across the limit and from it.
  int src = open("lsrc", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  lim(write(src, b, 300), "source");
  loff_t in = 0, out = 3900;
  lim(copy_file_range(src, &in, d, &out, 300, 0), "copy_file_range across the limit");
  in = 0;
  out = 4000;
  lim(copy_file_range(src, &in, d, &out, 300, 0), "copy_file_range at the limit");
  off_t at = 0;
  lim(lseek(d, 3950, SEEK_SET), "lseek");
  lim(sendfile(d, src, &at, 300), "sendfile across the limit");
  lim(sendfile(d, src, &at, 300), "sendfile at the limit");
  close(src);
  // A child with SIGXFSZ's default action dies of it.
  pid_t kid = fork();
  if (kid == 0) {
    signal(SIGXFSZ, SIG_DFL);
    (void)!pwrite(d, b, 10, 6000);
    _exit(0);
  }
  int status = 0;
  waitpid(kid, &status, 0);
  lim(WIFSIGNALED(status) ? WTERMSIG(status) : 1000 + WEXITSTATUS(status), "child's end");
  lim(setrlimit(RLIMIT_FSIZE, &old_rl), "setrlimit back");
  lim(pwrite(d, b, 10, 20000), "pwrite without a limit");
  close(d);
  sigaction(SIGXFSZ, &old_sa, nullptr);
}

void run_script() {
  op_open(0, 0, O_RDWR | O_CREAT | O_TRUNC);
  op_read(0, 100);  // empty file: EOF
  op_write(0, 10000);
  op_fstat(0);
  op_lseek(0, 0, SEEK_CUR);
  op_lseek(0, 0, SEEK_SET);
  op_read(0, 4096);
  op_read(0, 10000);          // short read at EOF
  op_read(0, 10);             // EOF
  op_pwrite(0, 100, 200000);  // a hole between 10000 and 200000
  op_fstat(0);
  op_pread(0, 8192, 9000);  // data then hole zeros
  op_pread(0, 300, 199950);
  op_pread(0, 100, 300000);   // past EOF
  op_pread(0, 10, -1);        // EINVAL
  op_lseek(0, -1, SEEK_SET);  // EINVAL
  op_lseek(0, -10, SEEK_END);
  op_read(0, 100);
  op_lseek(0, -300000, SEEK_END);  // EINVAL
  op_lseek(0, 5, 77);              // bad whence
  op_lseek(0, 1000, SEEK_END);
  op_write(0, 1);  // extends with a hole
  op_fstat(0);
  op_open(1, 0, O_RDONLY);
  op_write(1, 10);                                 // EBADF
  op_pwrite(1, 10, 0);                             // EBADF
  rec(ftruncate(g_fd[1], 10), 0, "ftruncate ro");  // EINVAL
  op_fallocate(1, 0, 0, 100);                      // EBADF
  op_open(2, 0, O_WRONLY);
  op_read(2, 10);      // EBADF
  op_pread(2, 10, 0);  // EBADF
  rec(ftruncate(g_fd[2], 5000), 0, "ftruncate shrink");
  op_fstat(1);
  op_pread(1, 6000, 0);
  rec(ftruncate(g_fd[2], 70000), 0, "ftruncate grow");
  op_pread(1, 70000, 0);  // zeros after 5000
  rec(ftruncate(g_fd[2], -1), 0, "ftruncate negative");
  op_stat(0);
  // O_APPEND: writes go to the end whatever the offset; pwrite appends too (Linux).
  op_open(3, 0, O_WRONLY | O_APPEND);
  op_lseek(3, 0, SEEK_SET);
  op_write(3, 333);
  op_lseek(3, 0, SEEK_CUR);
  op_pwrite(3, 7, 0);
  op_fstat(3);
  // F_SETFL toggles O_APPEND.
  rec(fcntl(g_fd[2], F_SETFL, O_APPEND), 0, "setfl append");
  rec(fcntl(g_fd[2], F_GETFL) & (O_APPEND | O_ACCMODE), 0, "getfl");
  op_write(2, 50);
  rec(fcntl(g_fd[2], F_SETFL, 0), 0, "setfl none");
  op_lseek(2, 0, SEEK_SET);
  op_write(2, 20);
  op_pread(1, 100, 0);
  // dup shares the offset.
  op_lseek(0, 0, SEEK_SET);
  g_fd[4] = dup(g_fd[0]);
  rec(g_fd[4] >= 0 ? 0 : -1, 0, "dup s0");
  op_read(4, 1000);
  op_lseek(0, 0, SEEK_CUR);
  op_read(0, 10);
  op_lseek(4, 0, SEEK_CUR);
  rec(dup2(g_fd[1], g_fd[4]) >= 0 ? 0 : -1, 0, "dup2 s1->s4");
  op_write(4, 10);  // now read-only: EBADF
  op_lseek(4, 0, SEEK_CUR);
  close_slot(4);
  rec(fcntl(g_fd[0], F_DUPFD_CLOEXEC, 100) >= 100 ? 0 : -1, 0, "F_DUPFD_CLOEXEC");
  // vectors
  op_lseek(0, 0, SEEK_SET);
  op_writev(0, false, 0);
  op_readv(0, true, 0);
  op_writev(0, true, 123456);
  op_readv(0, true, 123400);
  op_readv(0, false, 0);
  op_fstat(0);
  // fallocate modes
  op_fallocate(0, 0, 300000, 10000);  // extends
  op_fstat(0);
  op_fallocate(0, FALLOC_FL_KEEP_SIZE, 400000, 10000);  // size unchanged
  op_fstat(0);
  op_fallocate(0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192);
  op_pread(0, 16384, 0);
  op_fallocate(0, FALLOC_FL_PUNCH_HOLE, 0, 10);  // EOPNOTSUPP
  op_fallocate(0, FALLOC_FL_ZERO_RANGE, 100, 50);
  op_pread(0, 300, 0);
  op_fallocate(0, 0, -1, 10);  // EINVAL
  op_fallocate(0, 0, 0, 0);    // EINVAL
  rec(posix_fallocate(g_fd[0], 0, 500000), 0, "posix_fallocate");
  op_fstat(0);
  rec(fsync(g_fd[0]), 0, "fsync");
  rec(fdatasync(g_fd[0]), 0, "fdatasync");
  rec(sync_file_range(
          g_fd[0], 0, 0,
          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER),
      0, "sync_file_range");
  rec(sync_file_range(g_fd[0], -1, 0, 0), 0, "sync_file_range bad");
  // copies
  op_open(5, 3, O_RDWR | O_CREAT | O_TRUNC);
  op_copy(0, 5, 100000, true, 0, 0);
  op_copy(0, 5, 5000, false, 0, 0);
  op_fstat(5);
  op_sendfile(0, 5, 7000, true, 1000);
  op_sendfile(0, 5, 7000, false, 0);
  op_pread(5, 200000, 0);
  // mmap
  op_mmap(0, 20000, 0);
  op_mmap(0, 8192, 4096);
  op_mmap(2, 4096, 0);  // write-only: EACCES
  // truncate by name
  rec(truncate("f0", 12345), 0, "truncate f0");
  op_fstat(0);
  op_stat(0);
  rec(truncate("missing", 1), 0, "truncate missing");
  // unlink while open: data stays readable through the descriptor
  op_open(6, 1, O_RDWR | O_CREAT | O_TRUNC);
  op_write(6, 5000);
  rec(unlink("f1"), 0, "unlink f1");
  op_stat(1);
  op_pread(6, 6000, 0);
  op_fstat(6);
  op_write(6, 100);
  op_fstat(6);
  close_slot(6);
  rec(unlink("f1"), 0, "unlink f1 again");
  // rename over an open file: the old data stays with its holder
  op_open(6, 1, O_RDWR | O_CREAT | O_TRUNC);
  op_write(6, 777);
  rec(rename("f3", "f1"), 0, "rename f3 over f1");
  op_pread(6, 1000, 0);
  op_stat(1);
  op_stat(3);
  rec(rename("f1", "f3"), 0, "rename back");
  rec(rename("nope", "f1"), 0, "rename missing");
  rec(link("f3", "f1"), 0, "link f3 f1");
  op_stat(1);
  rec(unlink("f1"), 0, "unlink link");
  op_stat(3);
  close_slot(6);
  // directories and errors that pass through
  op_open(7, 2, O_RDWR | O_CREAT);  // sub/ missing: ENOENT
  rec(mkdir("sub", 0755), 0, "mkdir sub");
  op_open(7, 2, O_RDWR | O_CREAT | O_EXCL);
  op_open(6, 2, O_RDWR | O_CREAT | O_EXCL);  // EEXIST
  op_write(7, 4096);
  int dfd = open("sub", O_RDONLY | O_DIRECTORY);
  rec(dfd >= 0 ? 0 : -1, 0, "open dir");
  rec(read(dfd, g_buf.data(), 10), 0, "read dir");  // EISDIR
  int fd = openat(dfd, "f2", O_RDONLY);
  rec(fd >= 0 ? 0 : -1, 0, "openat sub/f2");
  memset(g_buf.data(), 0, 5000);
  ssize_t r = read(fd, g_buf.data(), 5000);
  rec(r, r > 0 ? fnv(g_buf.data(), static_cast<size_t>(r)) : 0, "read via openat");
  struct stat st;
  rec(fstatat(dfd, "f2", &st, 0) == 0 ? st.st_size : -1, 0, "fstatat size");
  rec(fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 ? st.st_size : -1, 0, "fstatat empty");
  close(fd);
  close(dfd);
  rec(read(12345, g_buf.data(), 1), 0, "read bad fd");
  rec(close(12345), 0, "close bad fd");
  // O_CREAT on names that exist: the library opens them as the kernel would.
  auto open_rec = [](const char* name, int flags, const char* what) {
    int d = open(name, flags | O_CLOEXEC, 0644);
    struct stat s;
    long long size = d >= 0 && fstat(d, &s) == 0 ? s.st_size : -1;
    rec(d < 0 ? -1 : size, 0, "%s", what);
    if (d >= 0) close(d);
  };
  open_rec("sub", O_RDONLY | O_CREAT, "O_CREAT|O_RDONLY of a directory");  // EISDIR
  open_rec("sub", O_RDWR | O_CREAT, "O_CREAT|O_RDWR of a directory");      // EISDIR
  open_rec("sub/f2/", O_RDWR | O_CREAT, "O_CREAT with a trailing slash");  // EISDIR
  open_rec("sub/f2", O_RDONLY | O_CREAT, "O_CREAT|O_RDONLY of a file");
  rec(symlink("made", "sub/dangling"), 0, "symlink to nothing");
  open_rec("sub/dangling", O_RDWR | O_CREAT | O_NOFOLLOW, "O_CREAT|O_NOFOLLOW of a link");
  open_rec("sub/dangling", O_RDWR | O_CREAT | O_EXCL, "O_CREAT|O_EXCL of a link");  // EEXIST
  open_rec("sub/dangling", O_WRONLY | O_CREAT, "O_CREAT through a dangling link");  // made
  rec(access("sub/made", F_OK), 0, "its target exists");
  open_rec("sub/dangling", O_WRONLY | O_CREAT, "O_CREAT through the link again");
  {
    int sd = open("sub", O_RDONLY | O_DIRECTORY);
    int d = openat(sd, "f2", O_RDWR | O_CREAT | O_TRUNC, 0644);
    rec(d < 0 ? -1 : 0, 0, "openat O_CREAT|O_TRUNC of a file");
    op_stat_name("sub/f2");
    if (d >= 0) rec(write(d, "abc", 3), 0, "write after openat O_CREAT");
    if (d >= 0) close(d);
    d = openat(sd, "g", O_RDWR | O_CREAT, 0600);
    rec(d < 0 ? -1 : 0, 0, "openat O_CREAT of a new name");
    if (d >= 0) rec(pwrite(d, "xyz", 3, 10), 0, "pwrite to it");
    if (d >= 0) close(d);
    op_stat_name("sub/g");
    close(sd);
  }
  FILE* fx = fopen("sub/g", "wx");
  rec(fx == nullptr ? -1 : 0, 0, "fopen wx of an existing file");  // EEXIST
  if (fx != nullptr) fclose(fx);
  fx = fopen("sub/h", "a");
  rec(fx == nullptr ? -1 : 0, 0, "fopen a of a new name");
  if (fx != nullptr) {
    fputs("hello\n", fx);
    rec(fclose(fx), 0, "fclose it");
  }
  op_stat_name("sub/h");
  // stdio
  FILE* f = fopen("f3", "w+");
  rec(f != nullptr ? 0 : -1, 0, "fopen w+");
  if (f != nullptr) {
    for (int i = 0; i < 500; ++i) fprintf(f, "line %d of the stdio test\n", i);
    rec(fseek(f, 0, SEEK_SET), 0, "fseek");
    char line[128];
    uint64_t h = 0;
    int lines = 0;
    while (fgets(line, sizeof line, f) != nullptr) {
      h = h * 31 + fnv(line, strlen(line));
      ++lines;
    }
    rec(lines, h | 1, "fgets lines");
    rec(feof(f), 0, "feof");
    rec(ferror(f), 0, "ferror");
    rec(ftell(f), 0, "ftell");
    rec(fseek(f, 100, SEEK_SET), 0, "fseek 100");
    rec(static_cast<long long>(fread_unlocked(g_buf.data(), 1, 50, f)), fnv(g_buf.data(), 50),
        "fread_unlocked");
    rec(fclose(f), 0, "fclose");
  }
  op_stat(3);
  int fd3 = open("f3", O_RDONLY);
  f = fdopen(fd3, "r");
  rec(f != nullptr ? 0 : -1, 0, "fdopen");
  if (f != nullptr) {
    rec(fileno(f) == fd3 ? 0 : -1, 0, "fileno");
    char* line = nullptr;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    rec(n, n > 0 ? fnv(line, static_cast<size_t>(n)) : 0, "getline");
    free(line);
    rec(fclose(f), 0, "fclose fdopen");
  }
  f = fopen("f3", "a");
  if (f != nullptr) {
    rec(ftell(f), 0, "ftell append");
    fputs("appended\n", f);
    rec(fclose(f), 0, "fclose a");
  }
  op_stat(3);
  rec(fopen("missing/x", "r") == nullptr ? -1 : 0, 0, "fopen missing");
  // O_DIRECT: aligned transfers work, misaligned ones fail as the kernel says.
  {
    int d = open("f0", O_RDWR | O_DIRECT);
    rec(d >= 0 ? 0 : -1, 0, "open O_DIRECT");
    void* al = nullptr;
    if (d >= 0 && posix_memalign(&al, 4096, 65536) == 0) {
      auto* c = static_cast<char*>(al);
      memset(c, 'D', 65536);
      rec(pwrite(d, c, 8192, 4096), 0, "direct pwrite aligned");
      rec(pwrite(d, c, 8192, 1), 0, "direct pwrite odd offset");
      rec(pwrite(d, c + 1, 4096, 0), 0, "direct pwrite odd buffer");
      rec(pwrite(d, c, 100, 0), 0, "direct pwrite odd length");
      memset(c, 0, 65536);
      ssize_t n = pread(d, c, 65536, 0);
      rec(n, n > 0 ? fnv(c, static_cast<size_t>(n)) : 0, "direct pread");
      rec(lseek(d, 0, SEEK_SET), 0, "direct lseek");
      n = read(d, c, 4096);
      rec(n, n > 0 ? fnv(c, static_cast<size_t>(n)) : 0, "direct read");
      rec(write(d, c, 4096), 0, "direct write");
      rec(lseek(d, 0, SEEK_CUR), 0, "direct pos");
      free(al);
    }
    if (d >= 0) close(d);
  }
  // O_SYNC / O_DSYNC writes and the *v2 calls with flags.
  {
    int d = open("f3", O_RDWR | O_DSYNC);
    rec(d >= 0 ? 0 : -1, 0, "open O_DSYNC");
    fill(5000);
    rec(write(d, g_buf.data(), 5000), 0, "dsync write");
    struct iovec iov[2] = {{g_buf.data(), 100}, {g_buf.data() + 100, 200}};
    rec(pwritev2(d, iov, 2, 10, RWF_DSYNC), 0, "pwritev2 dsync");
    rec(pwritev2(d, iov, 2, -1, 0), 0, "pwritev2 at position");
    rec(lseek(d, 0, SEEK_CUR), 0, "position after pwritev2");
    rec(pwritev2(d, iov, 2, 0, RWF_APPEND), 0, "pwritev2 append");
    rec(pwritev2(d, iov, 2, 0, 0x40000000), 0, "pwritev2 bad flag");
    memset(g_buf.data(), 0, 300);
    ssize_t n = preadv2(d, iov, 2, 0, 0);
    rec(n, n > 0 ? fnv(g_buf.data(), static_cast<size_t>(n)) : 0, "preadv2");
    rec(preadv(d, iov, 2, -5), 0, "preadv negative");
    struct stat st;
    rec(fstat(d, &st) == 0 ? st.st_size : -1, 0, "size after v2");
    close(d);
    d = open("f3", O_WRONLY | O_SYNC | O_APPEND);
    rec(write(d, g_buf.data(), 77), 0, "sync append");
    rec(lseek(d, 0, SEEK_CUR), 0, "position after sync append");
    close(d);
  }
  run_file_size_limit();
  run_rare_entry_points();
  for (int s = 0; s < kSlots; ++s) close_slot(s);
}

void run_random(long ops) {
  for (long i = 0; i < ops; ++i) {
    int s = static_cast<int>(rnd(kSlots));
    int t = static_cast<int>(rnd(kSlots));
    int name = static_cast<int>(rnd(kNames));
    uint64_t op = rnd(100);
    if (op < 8) {
      op_open(s, name, pick_flags());
    } else if (op < 12) {
      close_slot(s);
    } else if (g_fd[s] < 0) {
      op_stat(name);  // keeps both runs in step: the choice depends only on equal results
    } else if (op < 24) {
      op_read(s, pick_len());
    } else if (op < 36) {
      op_write(s, pick_len());
    } else if (op < 44) {
      op_pread(s, pick_len(), pick_off());
    } else if (op < 52) {
      op_pwrite(s, pick_len(), pick_off());
    } else if (op < 58) {
      static const int wh[] = {SEEK_SET, SEEK_CUR, SEEK_END};
      op_lseek(s, pick_off() - static_cast<off_t>(rnd(2) * 70000), wh[rnd(3)]);
    } else if (op < 61) {
      rec(ftruncate(g_fd[s], pick_off()), 0, "ftruncate s%d", s);
    } else if (op < 65) {
      op_fstat(s);
    } else if (op < 67) {
      rec(rnd(2) ? fsync(g_fd[s]) : fdatasync(g_fd[s]), 0, "fsync s%d", s);
    } else if (op < 69) {
      if (g_fd[t] < 0) {
        g_fd[t] = dup(g_fd[s]);
        rec(g_fd[t] >= 0 ? 0 : -1, 0, "dup s%d->s%d", s, t);
      } else if (s != t) {
        rec(dup2(g_fd[s], g_fd[t]) >= 0 ? 0 : -1, 0, "dup2 s%d->s%d", s, t);
      }
    } else if (op < 71) {
      int fl = fcntl(g_fd[s], F_GETFL);
      rec(fcntl(g_fd[s], F_SETFL, fl ^ O_APPEND), 0, "toggle append s%d", s);
    } else if (op < 74) {
      op_readv(s, rnd(2) != 0, pick_off());
    } else if (op < 77) {
      op_writev(s, rnd(2) != 0, pick_off());
    } else if (op < 78) {
      rec(unlink(kName[name]), 0, "unlink %s", kName[name]);
    } else if (op < 79) {
      int other = static_cast<int>(rnd(kNames));
      rec(rename(kName[name], kName[other]), 0, "rename %s %s", kName[name], kName[other]);
    } else if (op < 82) {
      static const int modes[] = {0, FALLOC_FL_KEEP_SIZE,
                                  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE};
      op_fallocate(s, modes[rnd(4)], pick_off(), static_cast<off_t>(pick_len()));
    } else if (op < 84) {
      if (g_fd[t] >= 0) op_copy(s, t, pick_len(), rnd(2) != 0, pick_off(), pick_off());
    } else if (op < 85) {
      if (g_fd[t] >= 0) op_sendfile(s, t, pick_len(), rnd(2) != 0, pick_off());
    } else if (op < 92) {
      op_stdio(static_cast<int>(rnd(kFpSlots)));
    } else if (op < 94) {
      rec(truncate(kName[name], pick_off()), 0, "truncate %s", kName[name]);
    } else if (op < 96) {
      op_mmap(s, pick_len() + 1, pick_off());
    } else if (op < 98) {
      op_xattr(s, name);
    } else {
      op_stat(name);
    }
  }
  for (int s = 0; s < kSlots; ++s) close_slot(s);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s script|random SEED OPS\n", argv[0]);
    return 2;
  }
  for (int i = 0; i < kSlots; ++i) g_fd[i] = -1;
  g_rng.seed(strtoull(argv[2], nullptr, 10));
  setvbuf(stdout, nullptr, _IOFBF, 1 << 16);
  if (strcmp(argv[1], "script") == 0) {
    run_script();
  } else {
    if (mkdir("sub", 0755) != 0 && errno != EEXIST) return 3;
    run_random(strtol(argv[3], nullptr, 10));
  }
  final_state();
  fflush(stdout);
  return 0;
}
