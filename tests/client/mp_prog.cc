// mp_prog.cc — zvfs_mptest: multi-process and process-lifecycle scenarios, run under
// libzvfs.so by mp_test.cc. Each subcommand checks its own results and exits 0 on success,
// printing what went wrong otherwise.
//
//   append FILE ID RECORDS        O_APPEND writer of fixed-size records
//   verify-append FILE WRITERS RECORDS
//   dup-fork FILE                 offsets shared by dup'd fds and a forked child
//   exec-parent FILE              an exec'd program reads an inherited descriptor
//   exec-child FD                 (the exec'd side)
//   unlink-open FILE              data readable after unlink until the last close
//   rename-over FILE              rename over an open file keeps the holder's data
//   writer FILE                   writes numbered records until killed
//   check-records FILE            every complete record of `writer` intact and in order
//   mmap FILE                     MAP_PRIVATE served, MAP_SHARED refused (ENODEV), read-only too
//   threads FILE                  threads reading one descriptor: no byte read twice
//   sigalrm FILE                  1 ms SIGALRM during large writes: no EINTR, no short count
//   fork-threads FILE             fork while other threads do I/O
//   vfork FILE                    vfork child's dup2/close leave the parent's table alone
//   close-range FILE              close_range(3, ~0U) in a child, parent still fine
//   expect-eio FILE               daemon unreachable: open of a file in the prefix gives EIO,
//                                 and a failed create (open, creat, openat, fopen) leaves no file
//   overhead N                    ns per read(2) on a non-ZVFS descriptor
//   restart FILE CTLDIR           survives a daemon restart between CTLDIR/ready and CTLDIR/go
//   seek-data FILE                SEEK_DATA/SEEK_HOLE describe the blob, not the placeholder
//   latency FILE                  µs per 4 KiB pread/pwrite/read through the library
//   exit-flush FILE               fopen + fprintf, then exit() without fclose: data reaches ZVFS
//   count-lines FILE N            FILE holds exactly the N lines exit-flush wrote
//   churn FILE                    threads opening, dup'ing and closing ZVFS files at once
//   own-fds FILE                  closing every descriptor (close loop, close_range, closefrom,
//                                 dup2/dup3 onto them) leaves the library's own ones working
//   trunc-lock FILE               O_RDONLY|O_TRUNC and truncate(path) keep the caller's POSIX locks
//   fork-unlinked FILE            a child keeps an unlinked file's data after the parent's close
//   opath FILE                    O_PATH descriptors and /proc/self/fd/N reopens of ZVFS files,
//                                 also an O_PATH descriptor inherited across exec (opath-child)
//   exec-unlinked FILE            an exec'd child reads an unlinked file the parent closed (execv,
//                                 execl, fexecve, execveat)
//   exec-unlinked-child FD        (the exec'd side)
//   freopen FILE                  freopen of stdout/stdin onto ZVFS files (and away again)
//   fiemap FILE                   FS_IOC_FIEMAP describes the blob's extents
//   uring FILE                    liburing submissions and fixed files naming a ZVFS fd refused
//   dprintf FILE                  dprintf/vdprintf text lands in the blob
//   create-at-fd-limit FILE       fopen "w" and open(O_CREAT) with one descriptor left
//   open-other FILE               openat2 (via syscall()) and open_by_handle_at open ZVFS files
//   uring-raw FILE                the same for a ring driven through syscall() (as fio does)
//   fd-pass FILE                  descriptors received over a Unix socket (mp_fdpass.cc)
//   fd-getfd FILE                 descriptors taken with pidfd_getfd (mp_fdpass.cc)
//   direct-flags FILE             O_DIRECT alignment errors of reads follow fcntl(F_SETFL), also
//                                 when a forked child changes the shared description; reads of an
//                                 O_WRONLY descriptor fail with EBADF
// and the commands of mp_aio.cc, mp_posix_aio.cc, mp_spawn.cc, mp_exec.cc, mp_fdpass.cc,
// mp_full.cc, mp_times.cc and mp_create.cc (a file opened while its creator binds it).
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/close_range.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "mp_check.h"
#include "mp_cmds.h"

namespace {

constexpr size_t kRec = 64;

void make_record(char* r, int id, long seq) {
  memset(r, 'a' + id % 26, kRec);
  snprintf(r, kRec, "W%03d R%08ld ", id, seq);
  r[strlen(r)] = '.';
  r[kRec - 1] = '\n';
}

std::string read_all(int fd) {
  std::string s;
  char buf[65536];
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  for (int i = 0; i < 1 << 20; ++i) {
    ssize_t n = read(fd, buf, sizeof buf);
    CHECK(n >= 0);
    if (n == 0) break;
    s.append(buf, static_cast<size_t>(n));
  }
  return s;
}

int cmd_append(const char* file, int id, long records) {
  int fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0644);
  CHECK(fd >= 0);
  char r[kRec];
  for (long i = 0; i < records; ++i) {
    make_record(r, id, i);
    CHECK(write(fd, r, kRec) == static_cast<ssize_t>(kRec));
  }
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_verify_append(const char* file, int writers, long records) {
  int fd = open(file, O_RDONLY);
  CHECK(fd >= 0);
  std::string s = read_all(fd);
  struct stat st;
  CHECK(fstat(fd, &st) == 0);
  CHECK(static_cast<size_t>(st.st_size) == s.size());
  CHECK(s.size() == kRec * static_cast<size_t>(writers) * static_cast<size_t>(records));
  std::vector<long> next(static_cast<size_t>(writers), 0);
  char want[kRec];
  for (size_t off = 0; off < s.size(); off += kRec) {
    int id = atoi(s.c_str() + off + 1);
    CHECK(id >= 0 && id < writers);
    make_record(want, id, next[static_cast<size_t>(id)]);
    if (memcmp(want, s.data() + off, kRec) != 0) {
      fprintf(stderr, "record at %zu is torn or out of order\n", off);
      return 1;
    }
    ++next[static_cast<size_t>(id)];
  }
  return 0;
}

int cmd_dup_fork(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, "0123456789", 10) == 10);
  int d = dup(fd);
  CHECK(d >= 0);
  CHECK(lseek(d, 0, SEEK_CUR) == 10);
  CHECK(lseek(fd, 2, SEEK_SET) == 2);
  char b[4] = {};
  CHECK(read(d, b, 3) == 3 && memcmp(b, "234", 3) == 0);
  CHECK(lseek(fd, 0, SEEK_CUR) == 5);
  pid_t pid = fork();
  if (pid == 0) {
    // The child shares the open file description: its read moves the parent's offset.
    char c[3] = {};
    if (read(fd, c, 2) != 2 || memcmp(c, "56", 2) != 0) _exit(3);
    if (write(d, "XY", 2) != 2) _exit(4);  // at 7
    if (close(fd) != 0) _exit(5);
    _exit(0);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK(lseek(fd, 0, SEEK_CUR) == 9);
  char all[11] = {};
  CHECK(pread(d, all, 10, 0) == 10);
  CHECK(memcmp(all, "0123456XY9", 10) == 0);
  struct stat st2;
  CHECK(fstat(fd, &st2) == 0 && st2.st_size == 10);
  CHECK(close(fd) == 0);
  CHECK(pread(d, all, 10, 0) == 10);  // still open through the dup
  CHECK(close(d) == 0);
  return 0;
}

int cmd_direct_flags(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  alignas(4096) static char buf[8192];
  memset(buf, 'd', sizeof buf);
  CHECK(pwrite(fd, buf, sizeof buf, 0) == static_cast<ssize_t>(sizeof buf));
  // Misaligned reads are fine without O_DIRECT ...
  CHECK(pread(fd, buf + 1, 100, 3) == 100);
  // ... refused once fcntl sets it (pread, read, preadv), aligned ones still served ...
  CHECK(fcntl(fd, F_SETFL, O_DIRECT) == 0);
  errno = 0;
  CHECK(pread(fd, buf + 1, 100, 3) == -1 && errno == EINVAL);
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  errno = 0;
  CHECK(read(fd, buf + 1, 4096) == -1 && errno == EINVAL);
  struct iovec v = {buf + 1, 4096};
  errno = 0;
  CHECK(preadv(fd, &v, 1, 0) == -1 && errno == EINVAL);
  CHECK(pread(fd, buf, 4096, 4096) == 4096);
  // ... and served again when a forked child clears it on the shared description, which this
  // process's library never sees.
  pid_t pid = fork();
  if (pid == 0) _exit(syscall(SYS_fcntl, fd, F_SETFL, 0) == 0 ? 0 : 1);
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK((fcntl(fd, F_GETFL) & O_DIRECT) == 0);
  CHECK(pread(fd, buf + 1, 100, 3) == 100);
  CHECK(lseek(fd, 3, SEEK_SET) == 3);
  CHECK(read(fd, buf + 1, 100) == 100);
  CHECK(close(fd) == 0);
  // The access mode: reading a write-only descriptor is EBADF, as the kernel says.
  int wo = open(file, O_WRONLY);
  CHECK(wo >= 0);
  errno = 0;
  CHECK(pread(wo, buf, 10, 0) == -1 && errno == EBADF);
  errno = 0;
  CHECK(read(wo, buf, 10) == -1 && errno == EBADF);
  CHECK(close(wo) == 0);
  return 0;
}

int cmd_exec_parent(const char* self, const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::string data;
  for (int i = 0; i < 1000; ++i) data += "inherited line " + std::to_string(i) + "\n";
  CHECK(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  CHECK(lseek(fd, 100, SEEK_SET) == 100);
  int cloexec = open(file, O_RDONLY | O_CLOEXEC);
  CHECK(cloexec >= 0);
  pid_t pid = fork();
  if (pid == 0) {
    std::string a = std::to_string(fd);
    std::string b = std::to_string(cloexec);
    execl(self, self, "exec-child", a.c_str(), b.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
  if (WEXITSTATUS(st) != 0) return WEXITSTATUS(st);
  // The child read 200 bytes and appended through the shared description.
  CHECK(lseek(fd, 0, SEEK_CUR) == static_cast<off_t>(data.size() + 6));
  char tail[6];
  CHECK(pread(fd, tail, 6, static_cast<off_t>(data.size())) == 6 &&
        memcmp(tail, "child\n", 6) == 0);
  return 0;
}

int cmd_exec_child(int fd, int cloexec_fd) {
  CHECK(fcntl(cloexec_fd, F_GETFD) == -1 && errno == EBADF);  // gone across exec
  CHECK(lseek(fd, 0, SEEK_CUR) == 100);
  char buf[200];
  CHECK(read(fd, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf));
  std::string want;
  for (int i = 0; i < 1000; ++i) want += "inherited line " + std::to_string(i) + "\n";
  CHECK(memcmp(buf, want.data() + 100, sizeof buf) == 0);
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && static_cast<size_t>(st.st_size) == want.size());
  CHECK(st.st_blocks > 0);  // the blob's allocation, not the placeholder's
  CHECK(lseek(fd, 0, SEEK_END) == static_cast<off_t>(want.size()));
  CHECK(write(fd, "child\n", 6) == 6);
  return 0;
}

int cmd_unlink_open(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::string data(300000, 'u');
  CHECK(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  int other = open(file, O_RDONLY);
  CHECK(other >= 0);
  CHECK(unlink(file) == 0);
  struct stat st;
  CHECK(stat(file, &st) == -1 && errno == ENOENT);
  pid_t pid = fork();
  if (pid == 0) {
    std::string s = read_all(other);
    _exit(s == data ? 0 : 1);
  }
  int ws;
  CHECK(waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  CHECK(close(fd) == 0);
  CHECK(read_all(other) == data);
  CHECK(fstat(other, &st) == 0 && st.st_size == 300000 && st.st_nlink == 0);
  CHECK(close(other) == 0);
  // A new file under the same name starts empty.
  fd = open(file, O_RDWR | O_CREAT, 0644);
  CHECK(fd >= 0);
  CHECK(fstat(fd, &st) == 0 && st.st_size == 0);
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_rename_over(const char* file) {
  std::string tmp = std::string(file) + ".tmp";
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, "old contents", 12) == 12);
  int t = open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(t >= 0);
  CHECK(write(t, "new!", 4) == 4);
  CHECK(fsync(t) == 0);
  CHECK(close(t) == 0);
  CHECK(rename(tmp.c_str(), file) == 0);
  char b[32] = {};
  CHECK(pread(fd, b, sizeof b, 0) == 12 && memcmp(b, "old contents", 12) == 0);
  int n = open(file, O_RDONLY);
  CHECK(n >= 0);
  CHECK(read(n, b, sizeof b) == 4 && memcmp(b, "new!", 4) == 0);
  CHECK(close(n) == 0);
  CHECK(close(fd) == 0);
  // EXDEV across the prefix boundary.
  const char* outside = getenv("ZVFS_TEST_OUTSIDE");
  if (outside != nullptr) {
    std::string o = std::string(outside) + "/moved";
    CHECK(rename(file, o.c_str()) == -1 && errno == EXDEV);
    CHECK(link(file, o.c_str()) == -1 && errno == EXDEV);
  }
  return 0;
}

int cmd_writer(const char* file) {
  int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  char rec[4096];
  time_t end = time(nullptr) + 60;
  for (long i = 0; time(nullptr) < end; ++i) {
    memset(rec, static_cast<int>('A' + i % 26), sizeof rec);
    snprintf(rec, 32, "REC %010ld ", i);
    CHECK(write(fd, rec, sizeof rec) == static_cast<ssize_t>(sizeof rec));
    if (i % 16 == 0) {
      CHECK(fdatasync(fd) == 0);
      printf("%ld\n", i);  // synced up to here
      fflush(stdout);
    }
  }
  return 0;
}

int cmd_check_records(const char* file, long min_synced) {
  int fd = open(file, O_RDONLY);
  CHECK(fd >= 0);
  std::string s = read_all(fd);
  size_t whole = s.size() / 4096;
  CHECK(static_cast<long>(whole) > min_synced);
  for (size_t i = 0; i < whole; ++i) {
    char want[4096];
    memset(want, static_cast<int>('A' + i % 26), sizeof want);
    snprintf(want, 32, "REC %010ld ", static_cast<long>(i));
    if (memcmp(want, s.data() + i * 4096, 4096) != 0) {
      fprintf(stderr, "record %zu damaged\n", i);
      return 1;
    }
  }
  return 0;
}

int cmd_mmap(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::string data(20000, 'm');
  for (size_t i = 0; i < data.size(); i += 97) data[i] = static_cast<char>('0' + i % 10);
  CHECK(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  void* p = mmap(nullptr, data.size(), PROT_READ, MAP_PRIVATE, fd, 0);
  CHECK(p != MAP_FAILED);
  CHECK(memcmp(p, data.data(), data.size()) == 0);
  CHECK(munmap(p, data.size()) == 0);
  p = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 4096);
  CHECK(p != MAP_FAILED);
  CHECK(memcmp(p, data.data() + 4096, 8192) == 0);
  static_cast<char*>(p)[0] = 'Z';  // private: the file does not change
  char c;
  CHECK(pread(fd, &c, 1, 4096) == 1 && c == data[4096]);
  CHECK(munmap(p, 8192) == 0);
  errno = 0;
  CHECK(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED &&
        errno == ENODEV);
  // Read-only too: it could not show later writes to the file (it would be a snapshot).
  errno = 0;
  CHECK(mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == ENODEV);
  errno = 0;
  CHECK(mmap(nullptr, 4096, PROT_READ, MAP_SHARED_VALIDATE, fd, 0) == MAP_FAILED &&
        errno == ENODEV);
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_threads(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  constexpr int kBlocks = 2000;
  for (int i = 0; i < kBlocks; ++i) {
    char b[512];
    memset(b, 0, sizeof b);
    memcpy(b, &i, sizeof i);
    CHECK(write(fd, b, sizeof b) == 512);
  }
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  std::vector<std::atomic<int>> seen(kBlocks);
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      char b[512];
      for (int k = 0; k < kBlocks; ++k) {
        ssize_t n = read(fd, b, sizeof b);
        if (n == 0) break;
        if (n != 512) {
          ++bad;
          break;
        }
        int id;
        memcpy(&id, b, sizeof id);
        if (id < 0 || id >= kBlocks) {
          ++bad;
          break;
        }
        seen[static_cast<size_t>(id)]++;
      }
    });
  }
  for (auto& t : ts) t.join();
  CHECK(bad == 0);
  for (int i = 0; i < kBlocks; ++i) CHECK(seen[static_cast<size_t>(i)] == 1);
  CHECK(close(fd) == 0);
  return 0;
}

std::atomic<long> g_alarms{0};
void on_alarm(int) {
  ++g_alarms;
}

int cmd_sigalrm(const char* file) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;  // no SA_RESTART
  CHECK(sigaction(SIGALRM, &sa, nullptr) == 0);
  struct itimerval it = {{0, 1000}, {0, 1000}};
  CHECK(setitimer(ITIMER_REAL, &it, nullptr) == 0);
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  size_t n = 48u << 20;
  std::vector<char> buf(n);
  for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>(i * 7 + i / 4096);
  for (int round = 0; round < 2; ++round) {
    ssize_t w = write(fd, buf.data(), n);
    CHECK(w == static_cast<ssize_t>(n));
  }
  std::vector<char> back(n);
  ssize_t r = pread(fd, back.data(), n, static_cast<off_t>(n));
  CHECK(r == static_cast<ssize_t>(n));
  CHECK(memcmp(back.data(), buf.data(), n) == 0);
  struct itimerval off = {};
  setitimer(ITIMER_REAL, &off, nullptr);
  CHECK(g_alarms > 0);
  CHECK(close(fd) == 0);
  printf("alarms %ld\n", g_alarms.load());
  return 0;
}

int cmd_fork_threads(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t) {
    ts.emplace_back([&, t] {
      char b[4096];
      memset(b, 'a' + t, sizeof b);
      for (long i = 0; !stop && i < 100000; ++i) {
        off_t off = static_cast<off_t>((t * 64 + i % 64) * 4096);
        if (pwrite(fd, b, sizeof b, off) != 4096) abort();
        if (pread(fd, b, sizeof b, off) != 4096) abort();
      }
    });
  }
  for (int k = 0; k < 20; ++k) {
    pid_t pid = fork();
    if (pid == 0) {
      char b[4096];
      if (pwrite(fd, "child", 5, 1 << 22) != 5) _exit(2);
      if (pread(fd, b, 5, 1 << 22) != 5 || memcmp(b, "child", 5) != 0) _exit(3);
      int f2 = open(file, O_RDONLY);
      if (f2 < 0 || pread(f2, b, 5, 1 << 22) != 5) _exit(4);
      _exit(0);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  stop = true;
  for (auto& t : ts) t.join();
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_vfork(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, "vfork data", 10) == 10);
  pid_t pid = vfork();
  if (pid == 0) {
    // As a shell does before exec: rearrange descriptors.
    dup2(fd, 0);
    close(fd);
    execl("/bin/true", "true", static_cast<char*>(nullptr));
    _exit(127);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char b[10];
  CHECK(pread(fd, b, 10, 0) == 10 && memcmp(b, "vfork data", 10) == 0);
  struct stat s0;
  CHECK(fstat(0, &s0) == 0);  // our stdin is untouched and not a ZVFS file
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_close_range(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, "close_range", 11) == 11);
  pid_t pid = fork();
  if (pid == 0) {
    if (close_range(3, ~0U, 0) != 0) _exit(2);
    char b[4];
    if (read(fd, b, 1) != -1 || errno != EBADF) _exit(3);
    _exit(0);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char b[11];
  CHECK(pread(fd, b, 11, 0) == 11 && memcmp(b, "close_range", 11) == 0);
  int d = dup(fd);
  CHECK(close_range(static_cast<unsigned>(d), ~0U, 0) == 0);
  CHECK(pread(fd, b, 11, 0) == 11);
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_expect_eio(const char* file) {
  // A failed create leaves no file behind, whichever call made it...
  auto gone = [](const std::string& p) { return access(p.c_str(), F_OK) == -1 && errno == ENOENT; };
  errno = 0;
  int fd = open(file, O_RDWR | O_CREAT, 0644);
  CHECK(fd == -1 && errno == EIO);
  CHECK(gone(file));
  std::string other = std::string(file) + ".creat";
  errno = 0;
  CHECK(creat(other.c_str(), 0644) == -1 && errno == EIO && gone(other));
  other = std::string(file) + ".at";
  int dfd = open(".", O_RDONLY | O_DIRECTORY);
  CHECK(dfd >= 0);
  errno = 0;
  CHECK(openat(dfd, other.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644) == -1 && errno == EIO);
  CHECK(gone(other));
  for (const char* mode : {"w", "a+", "wx"}) {
    other = std::string(file) + ".fopen";
    errno = 0;
    CHECK(fopen(other.c_str(), mode) == nullptr && errno == EIO && gone(other));
  }
  // ...and one that existed before stays (made here without the library: a plain file).
  other = std::string(file) + ".old";
  int raw =
      static_cast<int>(syscall(SYS_openat, AT_FDCWD, other.c_str(), O_WRONLY | O_CREAT, 0644));
  CHECK(raw >= 0 && syscall(SYS_close, raw) == 0);
  errno = 0;
  CHECK(open(other.c_str(), O_RDWR | O_CREAT, 0644) == -1 && errno == EIO);
  CHECK(fopen(other.c_str(), "a") == nullptr && errno == EIO);
  CHECK(access(other.c_str(), F_OK) == 0);
  CHECK(close(dfd) == 0);
  // A failed exclusive create leaves no file behind: a retry fails the same way, not EEXIST.
  std::string excl = std::string(file) + ".excl";
  for (int i = 0; i < 2; i++) {
    errno = 0;
    CHECK(open(excl.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644) == -1 && errno == EIO);
    CHECK(access(excl.c_str(), F_OK) == -1 && errno == ENOENT);
  }
  return 0;
}

int cmd_overhead(long n) {
  int fd = open("/dev/zero", O_RDONLY);
  CHECK(fd >= 0);
  char c;
  struct timespec a, b;
  long best = -1;
  for (int round = 0; round < 5; ++round) {
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; ++i) (void)!read(fd, &c, 1);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ns = ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec)) / n;
    if (best < 0 || ns < best) best = ns;
  }
  printf("%ld\n", best);
  return 0;
}

bool wait_for_file(const std::string& path, int seconds) {
  for (int i = 0; i < seconds * 100; ++i) {
    if (access(path.c_str(), F_OK) == 0) return true;
    usleep(10000);
  }
  return false;
}

int cmd_restart(const char* file, const std::string& ctl) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::string synced(100000, 's');
  CHECK(write(fd, synced.data(), synced.size()) == static_cast<ssize_t>(synced.size()));
  CHECK(fsync(fd) == 0);
  int clean = open((std::string(file) + ".clean").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(clean >= 0);
  CHECK(write(clean, "clean", 5) == 5);
  CHECK(fsync(clean) == 0);
  CHECK(pwrite(fd, "unsynced", 8, 200000) == 8);  // dirty when the daemon dies
  int r = open((ctl + "/ready").c_str(), O_WRONLY | O_CREAT, 0644);
  CHECK(r >= 0);
  close(r);
  CHECK(wait_for_file(ctl + "/go", 60));
  // The daemon died with unsynced writes on fd: its next fsync reports it, once.
  errno = 0;
  CHECK(fsync(fd) == -1 && errno == EIO);
  CHECK(fsync(fd) == 0);
  // The unsynced growth is gone, and the end of the file says so: the placeholder's size
  // (which lseek(SEEK_END) reads) was repaired from the blob's when fd was re-attached.
  CHECK(lseek(fd, 0, SEEK_END) == static_cast<off_t>(synced.size()));
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && st.st_size == static_cast<off_t>(synced.size()));
  CHECK(fsync(clean) == 0);  // nothing was lost there
  std::string back(synced.size(), '\0');
  CHECK(pread(fd, back.data(), back.size(), 0) == static_cast<ssize_t>(back.size()));
  CHECK(back == synced);
  char c5[5];
  CHECK(pread(clean, c5, 5, 0) == 5 && memcmp(c5, "clean", 5) == 0);
  CHECK(pwrite(fd, "after", 5, 0) == 5);
  CHECK(fsync(fd) == 0);
  CHECK(pread(fd, c5, 5, 0) == 5 && memcmp(c5, "after", 5) == 0);
  int again = open(file, O_RDONLY);  // new opens work too
  CHECK(again >= 0 && pread(again, c5, 5, 0) == 5 && memcmp(c5, "after", 5) == 0);
  CHECK(close(again) == 0 && close(fd) == 0 && close(clean) == 0);
  return 0;
}

int cmd_seek_data(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::vector<char> block(65536, 'd');
  CHECK(pwrite(fd, block.data(), block.size(), 0) == 65536);
  CHECK(pwrite(fd, block.data(), block.size(), 8 << 20) == 65536);
  off_t end = (8 << 20) + 65536;
  CHECK(lseek(fd, 0, SEEK_DATA) == 0);
  off_t hole = lseek(fd, 0, SEEK_HOLE);
  CHECK(hole >= 65536 && hole < (8 << 20));  // the first hole: after the first extent
  off_t data = lseek(fd, hole, SEEK_DATA);
  CHECK(data > hole && data <= (8 << 20));
  CHECK(lseek(fd, 0, SEEK_CUR) == data);                // the offset moved there
  CHECK(lseek(fd, (8 << 20) + 100, SEEK_HOLE) == end);  // the implicit hole at EOF
  errno = 0;
  CHECK(lseek(fd, end, SEEK_DATA) == -1 && errno == ENXIO);
  errno = 0;
  CHECK(lseek(fd, end + 10, SEEK_HOLE) == -1 && errno == ENXIO);
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && st.st_size == end);
  CHECK(st.st_blocks >= 2 * 65536 / 512);  // the blob's allocation
  CHECK(st.st_blocks < (8 << 20) / 512);   // holes are not allocated
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_latency(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::vector<char> b(4096, 'l');
  for (int i = 0; i < 256; ++i) CHECK(pwrite(fd, b.data(), 4096, i * 4096) == 4096);
  auto time_us = [](auto&& fn) {
    struct timespec a, z;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 2000; ++i) fn(i);
    clock_gettime(CLOCK_MONOTONIC, &z);
    return ((z.tv_sec - a.tv_sec) * 1e9 + (z.tv_nsec - a.tv_nsec)) / 2000 / 1000.0;
  };
  double pr = time_us([&](int i) { CHECK(pread(fd, b.data(), 4096, (i % 256) * 4096) == 4096); });
  double pw = time_us([&](int i) { CHECK(pwrite(fd, b.data(), 4096, (i % 256) * 4096) == 4096); });
  double rd = time_us([&](int i) {
    if (i % 256 == 0) lseek(fd, 0, SEEK_SET);
    CHECK(read(fd, b.data(), 4096) == 4096);
  });
  printf("pread4k %.1f us, pwrite4k %.1f us, read4k %.1f us\n", pr, pw, rd);
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_exit_flush(const char* file) {
  FILE* f = fopen(file, "w");
  CHECK(f != nullptr);
  for (int i = 0; i < 10000; ++i) fprintf(f, "line %d\n", i);
  printf("to stdout %d\n", 42);  // stdout may be a ZVFS file too (redirected by the caller)
  exit(0);                       // glibc flushes open streams at exit
}

int cmd_count_lines(const char* file, int n) {
  int fd = open(file, O_RDONLY);
  CHECK(fd >= 0);
  std::string s = read_all(fd);
  std::string want;
  for (int i = 0; i < n; ++i) want += "line " + std::to_string(i) + "\n";
  CHECK(s == want);
  return 0;
}

int cmd_churn(const char* file) {
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      std::string name = std::string(file) + "." + std::to_string(t);
      char want[64], got[64];
      for (int i = 0; i < 300 && bad == 0; ++i) {
        int fd = open(name.c_str(), O_RDWR | O_CREAT, 0644);
        if (fd < 0) {
          ++bad;
          break;
        }
        snprintf(want, sizeof want, "thread %d iteration %06d", t, i);
        if (pwrite(fd, want, sizeof want, 0) != static_cast<ssize_t>(sizeof want)) ++bad;
        int d = dup(fd);
        int d2 = fcntl(fd, F_DUPFD_CLOEXEC, 50);
        if (d < 0 || d2 < 50) ++bad;
        if (close(fd) != 0) ++bad;
        memset(got, 0, sizeof got);
        if (pread(d, got, sizeof got, 0) != static_cast<ssize_t>(sizeof got) ||
            memcmp(got, want, sizeof got) != 0)
          ++bad;
        if (dup2(d2, d) != d) ++bad;
        if (close(d) != 0) ++bad;
        if (pread(d2, got, sizeof got, 0) != static_cast<ssize_t>(sizeof got)) ++bad;
        if (close(d2) != 0) ++bad;
        if (i % 50 == 49 && unlink(name.c_str()) != 0) ++bad;
      }
    });
  }
  for (auto& th : ts) th.join();
  CHECK(bad == 0);
  return 0;
}

// ---- own-fds ------------------------------------------------------------------------------

// The child below runs with fds 0-2 closed: failures are reported by exit code.
#define CHECK_OR_EXIT(cond, code) \
  do {                            \
    if (!(cond)) _exit(code);     \
  } while (0)

struct FdInfo {
  int fd;
  std::string target;
};

std::vector<FdInfo> list_fds() {
  std::vector<FdInfo> out;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return out;
  int dfd = dirfd(d);
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name);
    if (fd == dfd) continue;
    char link[64], target[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    out.push_back({fd, target});
  }
  closedir(d);
  return out;
}

// Descriptors the library holds: sockets (the session) and the ZVFS_LOG file.
std::vector<FdInfo> library_fds() {
  const char* log = getenv("ZVFS_LOG");
  std::vector<FdInfo> out;
  for (auto& f : list_fds())
    if (f.target.rfind("socket:", 0) == 0 || (log != nullptr && f.target == log)) out.push_back(f);
  return out;
}

bool same_library_fds(const std::vector<FdInfo>& before) {
  auto now = library_fds();
  if (now.size() != before.size()) return false;
  for (auto& b : before) {
    bool found = false;
    for (auto& n : now) found = found || n.target == b.target;
    if (!found) return false;
  }
  for (auto& n : now)
    if (n.fd < 3 || (fcntl(n.fd, F_GETFD) & FD_CLOEXEC) == 0) return false;
  return true;
}

bool zvfs_file_works(int fd, const char* path, const char* tag) {
  char b[64];
  size_t len = strlen(tag);
  if (pwrite(fd, tag, len, 0) != static_cast<ssize_t>(len)) return false;
  if (fsync(fd) != 0) return false;  // EIO if the session had been lost with unsynced data
  // A new open goes through the control socket.
  int f2 = open(path, O_RDONLY);
  if (f2 < 0) return false;
  bool ok = pread(f2, b, len, 0) == static_cast<ssize_t>(len) && memcmp(b, tag, len) == 0;
  struct stat a, c;
  ok = ok && fstat(fd, &a) == 0 && fstat(f2, &c) == 0 && a.st_ino == c.st_ino;
  return close(f2) == 0 && ok;
}

int cmd_own_fds(const char* file) {
  pid_t pid = fork();
  if (pid == 0) {
    close(0);
    close(1);
    close(2);
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK_OR_EXIT(fd == 0, 10);  // the application still gets the lowest number
    CHECK_OR_EXIT(write(fd, "first", 5) == 5, 11);
    auto lib = library_fds();
    CHECK_OR_EXIT(!lib.empty(), 12);
    CHECK_OR_EXIT(same_library_fds(lib), 13);  // >= 3 and close-on-exec
    // Unsynced data when each spree happens: a lost session would fail the next fsync.
    CHECK_OR_EXIT(close_range(1, ~0U, 0) == 0, 14);
    CHECK_OR_EXIT(same_library_fds(lib), 15);
    CHECK_OR_EXIT(zvfs_file_works(fd, file, "after close_range"), 16);
    CHECK_OR_EXIT(pwrite(fd, "x", 1, 100) == 1, 17);
    for (int i = 1; i < 1024; ++i) {
      errno = 0;
      int r = close(i);
      CHECK_OR_EXIT(r == 0 || errno == EBADF, 18);
    }
    CHECK_OR_EXIT(same_library_fds(lib), 19);
    CHECK_OR_EXIT(zvfs_file_works(fd, file, "after a close loop"), 20);
    CHECK_OR_EXIT(pwrite(fd, "y", 1, 100) == 1, 21);
    closefrom(1);
    CHECK_OR_EXIT(same_library_fds(lib), 22);
    CHECK_OR_EXIT(zvfs_file_works(fd, file, "after closefrom"), 23);
    // dup2/dup3 onto a library descriptor: the caller gets that number, the library moves.
    for (int round = 0; round < 2; ++round) {
      lib = library_fds();
      for (auto& l : lib) {
        CHECK_OR_EXIT(pwrite(fd, "z", 1, 100) == 1, 24);
        int r = round == 0 ? dup2(fd, l.fd) : dup3(fd, l.fd, O_CLOEXEC);
        CHECK_OR_EXIT(r == l.fd, 25);
        struct stat a, b;
        CHECK_OR_EXIT(fstat(fd, &a) == 0 && fstat(l.fd, &b) == 0 && a.st_ino == b.st_ino, 26);
        char c;
        CHECK_OR_EXIT(pread(l.fd, &c, 1, 100) == 1 && c == 'z', 27);
        CHECK_OR_EXIT(close(l.fd) == 0, 28);
      }
      CHECK_OR_EXIT(same_library_fds(lib), 29);
      CHECK_OR_EXIT(zvfs_file_works(fd, file, "after dup2 onto the library"), 30);
    }
    CHECK_OR_EXIT(close(fd) == 0, 31);
    _exit(0);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
  if (WEXITSTATUS(st) != 0) {
    fprintf(stderr, "own-fds child failed with code %d\n", WEXITSTATUS(st));
    return 1;
  }
  int fd = open(file, O_RDONLY);
  CHECK(fd >= 0);
  char b[32] = {};
  CHECK(pread(fd, b, 27, 0) == 27 && memcmp(b, "after dup2 onto the library", 27) == 0);
  CHECK(close(fd) == 0);
  return 0;
}

// ---- trunc-lock -----------------------------------------------------------------------------

// From another process: the lock `fd`'s file carries over its whole range, as F_GETLK sees it.
int lock_seen_by_child(int fd) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_GETLK, &fl) != 0) _exit(100);
    if (fl.l_type == F_UNLCK) _exit(101);  // nobody holds a lock
    if (fl.l_pid != parent) _exit(102);
    _exit(fl.l_type == F_RDLCK ? 1 : 2);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
  return WEXITSTATUS(st);
}

void set_lock(int fd, short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  CHECK(fcntl(fd, F_SETLK, &fl) == 0);
}

void fill(const char* file, const std::string& data) {
  int w = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(w >= 0);
  CHECK(write(w, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  CHECK(close(w) == 0);
}

int cmd_trunc_lock(const char* file) {
  std::string data(10000, 'q');
  for (size_t i = 0; i < data.size(); i += 7) data[i] = static_cast<char>('a' + i % 26);
  struct stat st;
  char b[16];

  // A read lock through a read-only descriptor; no writable descriptor in this process.
  fill(file, data);
  int r = open(file, O_RDONLY);
  CHECK(r >= 0);
  set_lock(r, F_RDLCK);
  CHECK(lock_seen_by_child(r) == 1);
  int t = open(file, O_RDONLY | O_TRUNC);
  CHECK(t >= 0);
  CHECK(fstat(t, &st) == 0 && st.st_size == 0);
  CHECK(read(t, b, sizeof b) == 0 && pread(r, b, sizeof b, 0) == 0);
  CHECK(stat(file, &st) == 0 && st.st_size == 0);
  CHECK(lock_seen_by_child(r) == 1);  // still held
  CHECK(close(t) == 0 && close(r) == 0);

  // truncate(path) with the same lock.
  fill(file, data);
  r = open(file, O_RDONLY);
  CHECK(r >= 0);
  set_lock(r, F_RDLCK);
  CHECK(truncate(file, 100) == 0);
  CHECK(fstat(r, &st) == 0 && st.st_size == 100);
  std::string back(200, '\0');
  CHECK(pread(r, back.data(), back.size(), 0) == 100 && memcmp(back.data(), data.data(), 100) == 0);
  CHECK(lock_seen_by_child(r) == 1);
  CHECK(close(r) == 0);

  // A write lock through a read-write descriptor, then O_RDONLY|O_TRUNC.
  fill(file, data);
  int rw = open(file, O_RDWR);
  CHECK(rw >= 0);
  set_lock(rw, F_WRLCK);
  t = open(file, O_RDONLY | O_TRUNC);
  CHECK(t >= 0);
  CHECK(fstat(t, &st) == 0 && st.st_size == 0 && fstat(rw, &st) == 0 && st.st_size == 0);
  CHECK(pread(rw, b, sizeof b, 0) == 0);
  CHECK(lock_seen_by_child(rw) == 2);
  CHECK(pwrite(rw, "after", 5, 0) == 5);
  CHECK(pread(t, b, sizeof b, 0) == 5 && memcmp(b, "after", 5) == 0);
  CHECK(close(t) == 0 && close(rw) == 0);
  return 0;
}

// ---- fork-unlinked --------------------------------------------------------------------------

// fork(); the child returns only once the parent called release_child(*release).
pid_t fork_held(int* release) {
  int go[2];
  CHECK(pipe(go) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(2);
    close(go[0]);
    return 0;
  }
  CHECK(pid > 0);
  close(go[0]);
  *release = go[1];
  return pid;
}

void release_child(int release) {
  CHECK(write(release, "g", 1) == 1);
  close(release);
}

// A child execs after the parent closed its descriptor of an unlinked file: the new program
// reads the inherited descriptor (the blob must survive the exec itself). `how`: execv, execl
// (glibc's calls its internal execve: the library has its own), fexecve, execveat, or
// execveat-fd (AT_EMPTY_PATH).
int exec_unlinked(const char* self, const char* file, const std::string& how) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::string data = zvfs::test::exec_unlinked_data();
  CHECK(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  CHECK(unlink(file) == 0);
  int release = -1;
  pid_t pid = fork_held(&release);
  if (pid == 0) {
    std::string a = std::to_string(fd);
    char* const argv[] = {const_cast<char*>(self), const_cast<char*>("exec-unlinked-child"),
                          a.data(), nullptr};
    if (how == "execl") {
      execl(self, self, "exec-unlinked-child", a.c_str(), static_cast<char*>(nullptr));
    } else if (how == "fexecve") {
      int prog = open(self, O_RDONLY | O_CLOEXEC);
      fexecve(prog, argv, environ);
    } else if (how == "execveat") {
      execveat(AT_FDCWD, self, argv, environ, 0);
    } else if (how == "execveat-fd") {
      int prog = open(self, O_PATH | O_CLOEXEC);
      execveat(prog, "", argv, environ, AT_EMPTY_PATH);
    } else {
      execv(self, argv);
    }
    _exit(127);
  }
  CHECK(close(fd) == 0);
  release_child(release);
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
  if (WEXITSTATUS(st) != 0) fprintf(stderr, "exec-unlinked through %s failed\n", how.c_str());
  return WEXITSTATUS(st);
}

int cmd_exec_unlinked(const char* self, const char* file) {
  for (const char* how : {"execv", "execl", "fexecve", "execveat", "execveat-fd"})
    if (int r = exec_unlinked(self, file, how); r != 0) return r;
  return 0;
}

int cmd_exec_unlinked_child(int fd) {
  CHECK(getenv("ZVFS_SESSION_FD") == nullptr);  // the hand-over is invisible to the program
  std::string data = zvfs::test::exec_unlinked_data();
  std::string back(data.size() + 10, '\0');
  CHECK(pread(fd, back.data(), back.size(), 0) == static_cast<ssize_t>(data.size()));
  CHECK(memcmp(back.data(), data.data(), data.size()) == 0);
  int sockets = 0;
  for (auto& f : list_fds()) sockets += f.target.rfind("socket:", 0) == 0;
  CHECK(sockets == 1);  // this image's session; the previous one's was closed
  CHECK(close(fd) == 0);
  return 0;
}

// The child holds an inherited descriptor without using it while the parent closes its own:
// the blob must live until the child's last close. `unlink_before_fork`: the name is gone when
// the child is created; otherwise the parent removes it after the fork.
int fork_unlinked(const char* file, bool unlink_before_fork) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::string data(200000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + i / 1000);
  CHECK(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  if (unlink_before_fork) CHECK(unlink(file) == 0);
  int release = -1;
  pid_t pid = fork_held(&release);
  if (pid == 0) {  // the parent has closed its descriptor
    std::string back(data.size() + 10, '\0');
    if (pread(fd, back.data(), back.size(), 0) != static_cast<ssize_t>(data.size())) _exit(3);
    if (memcmp(back.data(), data.data(), data.size()) != 0) _exit(4);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size != static_cast<off_t>(data.size())) _exit(5);
    if (pwrite(fd, "child", 5, 0) != 5 || pread(fd, back.data(), 5, 0) != 5) _exit(6);
    if (close(fd) != 0) _exit(7);
    _exit(0);
  }
  if (!unlink_before_fork) CHECK(unlink(file) == 0);
  CHECK(close(fd) == 0);
  release_child(release);
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
  if (WEXITSTATUS(st) != 0) {
    fprintf(stderr, "fork-unlinked child failed with code %d\n", WEXITSTATUS(st));
    return 1;
  }
  return 0;
}

int cmd_fork_unlinked(const char* file) {
  if (fork_unlinked(file, true) != 0) return 1;
  return fork_unlinked(file, false);
}

// ---- opath ----------------------------------------------------------------------------------

std::string proc_fd(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

// The stat family on an O_PATH descriptor describes the blob; /proc/self/fd/N reopens (of an
// O_PATH descriptor, of a ZVFS descriptor, of an unlinked file) reach the blob.
// A program exec'd with an inherited O_PATH descriptor of a ZVFS file: fstat describes the blob.
int cmd_opath_child(int fd, long size) {
  struct stat st;
  CHECK(fstat(fd, &st) == 0);
  CHECK(st.st_size == size && st.st_blocks >= size / 512);
  return 0;
}

int cmd_opath(const char* self, const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::string data(100000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 23);
  CHECK(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  struct stat want;
  CHECK(fstat(fd, &want) == 0 && want.st_size == 100000 && want.st_blocks >= 100000 / 512);
  CHECK(close(fd) == 0);

  int p = open(file, O_PATH);
  CHECK(p >= 0);
  struct stat st;
  CHECK(fstat(p, &st) == 0);
  CHECK(st.st_size == want.st_size && st.st_blocks == want.st_blocks);
  memset(&st, 0, sizeof st);
  CHECK(fstatat(p, "", &st, AT_EMPTY_PATH) == 0);
  CHECK(st.st_size == want.st_size && st.st_blocks == want.st_blocks);
  struct statx stx;
  CHECK(statx(p, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) == 0);
  CHECK(stx.stx_size == 100000 && stx.stx_blocks == static_cast<uint64_t>(want.st_blocks));
  CHECK(stat(proc_fd(p).c_str(), &st) == 0 && st.st_blocks == want.st_blocks);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    std::string a = std::to_string(p);
    execl(self, self, "opath-child", a.c_str(), "100000", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The O_PATH descriptor itself does no I/O, as on any file system.
  char b[8];
  errno = 0;
  CHECK(read(p, b, sizeof b) == -1 && errno == EBADF);

  // Reopening through /proc/self/fd/N reaches the blob.
  int r = open(proc_fd(p).c_str(), O_RDWR);
  CHECK(r >= 0);
  std::string back(data.size() + 10, '\0');
  CHECK(pread(r, back.data(), back.size(), 0) == static_cast<ssize_t>(data.size()));
  CHECK(memcmp(back.data(), data.data(), data.size()) == 0);
  CHECK(pwrite(r, "REOPEN", 6, 0) == 6);
  int r2 = open(proc_fd(r).c_str(), O_RDONLY);
  CHECK(r2 >= 0 && pread(r2, b, 6, 0) == 6 && memcmp(b, "REOPEN", 6) == 0);
  CHECK(lseek(r2, 0, SEEK_CUR) == 0);  // a new open file description, its own offset

  // Unlinked: a reopen still reaches the data, until the last descriptor is closed.
  CHECK(unlink(file) == 0);
  int r3 = open(proc_fd(r).c_str(), O_RDONLY);
  CHECK(r3 >= 0);
  CHECK(close(r) == 0 && close(r2) == 0 && close(p) == 0);
  CHECK(pread(r3, back.data(), back.size(), 0) == static_cast<ssize_t>(data.size()));
  CHECK(memcmp(back.data(), "REOPEN", 6) == 0 &&
        memcmp(back.data() + 6, data.data() + 6, data.size() - 6) == 0);
  CHECK(close(r3) == 0);
  return 0;
}

// ---- freopen -------------------------------------------------------------------------------

std::string file_contents(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  CHECK(fd >= 0);
  std::string s = read_all(fd);
  CHECK(close(fd) == 0);
  return s;
}

// openat2 (through syscall(), glibc has no wrapper) and open_by_handle_at open ZVFS files like
// open does: a new file is bound, O_TRUNC empties the blob, reads and writes see the blob.
int cmd_open_other(const char* file) {
  open_how how{};
  how.flags = O_RDWR | O_CREAT | O_TRUNC;
  how.mode = 0644;
  int fd = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, file, &how, sizeof how));
  CHECK(fd >= 0);
  CHECK(write(fd, "openat2 data", 12) == 12);
  struct stat st;
  CHECK(syscall(SYS_fstat, fd, &st) == 0 && st.st_blocks == 0);  // the placeholder stays empty
  int plain = open(file, O_RDONLY);
  char buf[32] = {};
  CHECK(plain >= 0 && read(plain, buf, sizeof buf) == 12 && memcmp(buf, "openat2 data", 12) == 0);
  CHECK(close(plain) == 0);
  // Reopened with O_TRUNC: the blob is emptied, as the kernel empties a file.
  how.flags = O_RDWR | O_TRUNC;
  how.mode = 0;  // openat2 refuses a mode without O_CREAT
  int again = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, file, &how, sizeof how));
  CHECK(again >= 0 && fstat(again, &st) == 0 && st.st_size == 0);
  CHECK(pwrite(again, "by handle", 9, 0) == 9);
  CHECK(close(again) == 0 && close(fd) == 0);
  // An openat2 that fails reports the kernel's error.
  how.flags = O_RDONLY;
  errno = 0;
  CHECK(syscall(SYS_openat2, AT_FDCWD, "/nonexistent/zvfs", &how, sizeof how) == -1 &&
        errno == ENOENT);
  // open_by_handle_at of the same file.
  char hbuf[sizeof(file_handle) + MAX_HANDLE_SZ];
  auto* fh = reinterpret_cast<file_handle*>(hbuf);
  fh->handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  CHECK(name_to_handle_at(AT_FDCWD, file, fh, &mount_id, 0) == 0);
  int mfd = open(".", O_RDONLY | O_DIRECTORY);
  CHECK(mfd >= 0);
  int hfd = open_by_handle_at(mfd, fh, O_RDONLY);
  CHECK(hfd >= 0);
  memset(buf, 0, sizeof buf);
  CHECK(read(hfd, buf, sizeof buf) == 9 && memcmp(buf, "by handle", 9) == 0);
  CHECK(fstat(hfd, &st) == 0 && st.st_size == 9);
  CHECK(close(hfd) == 0 && close(mfd) == 0);
  return 0;
}

// dprintf/vdprintf on a ZVFS descriptor: short and long texts land in the blob, in order, at
// the shared offset; the placeholder stays empty.
int cmd_dprintf(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(dprintf(fd, "line %d %s\n", 1, "short") == 13);
  std::string big(5000, 'x');
  CHECK(dprintf(fd, "%s|%d\n", big.c_str(), 42) == 5004);
  std::string want = "line 1 short\n" + big + "|42\n";
  std::string got(want.size() + 10, '\0');
  CHECK(pread(fd, got.data(), got.size(), 0) == static_cast<ssize_t>(want.size()));
  got.resize(want.size());
  CHECK(got == want);
  CHECK(lseek(fd, 0, SEEK_CUR) == static_cast<off_t>(want.size()));
  struct stat st;
  CHECK(syscall(SYS_fstat, fd, &st) == 0 && st.st_blocks == 0);  // the kernel's placeholder
  CHECK(close(fd) == 0);
  return 0;
}

// fopen "w" of a new ZVFS file and open(O_CREAT) of an existing one with a single descriptor
// left below RLIMIT_NOFILE: the library's checks of whether the call made the file take no
// descriptor of their own while the program's is open.
int cmd_create_at_fd_limit(const char* file) {
  std::string existing = std::string(file) + ".old";
  int fd = open(existing.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0 && write(fd, "old", 3) == 3 && close(fd) == 0);
  struct rlimit old;
  CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
  std::vector<int> fill;
  for (;;) {  // the lowest free descriptor, and the limit just above it
    int d = dup(0);
    CHECK(d >= 0);
    fill.push_back(d);
    if (d >= 64) break;
  }
  const int last = fill.back();
  CHECK(close(last) == 0);
  fill.pop_back();
  struct rlimit lim = old;
  lim.rlim_cur = static_cast<rlim_t>(last) + 1;  // only `last` is free below it
  CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
  FILE* f = fopen(file, "w");
  CHECK(f != nullptr);
  CHECK(fprintf(f, "at the limit\n") == 13 && fclose(f) == 0);
  fd = open(existing.c_str(), O_RDWR | O_CREAT, 0644);
  CHECK(fd == last);
  char b[4] = {};
  CHECK(pread(fd, b, 3, 0) == 3 && memcmp(b, "old", 3) == 0 && close(fd) == 0);
  CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
  for (int d : fill) close(d);
  fd = open(file, O_RDONLY);
  char line[32] = {};
  CHECK(fd >= 0 && read(fd, line, sizeof line) == 13 && strcmp(line, "at the limit\n") == 0);
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_freopen(const char* file) {
  std::string a = std::string(file) + ".a";
  std::string b = std::string(file) + ".b";
  int fd = open(b.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0 && write(fd, "old\n", 4) == 4 && close(fd) == 0);
  fd = open(a.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0 && write(fd, "stale contents, longer than what follows\n", 41) == 41);
  CHECK(close(fd) == 0);

  // glibc's stdout onto a ZVFS file ("w" truncates the blob too).
  FILE* f = freopen(a.c_str(), "w", stdout);
  CHECK(f != nullptr && f == stdout && fileno(stdout) == 1);
  printf("line %d\n", 1);
  fprintf(stdout, "line %d\n", 2);
  CHECK(fflush(stdout) == 0);
  CHECK(file_contents(a) == "line 1\nline 2\n");
  struct stat st;
  CHECK(stat(a.c_str(), &st) == 0 && st.st_size == 14);

  // stdout is now a ZVFS stream: freopen it onto another ZVFS file, appending.
  f = freopen(b.c_str(), "a", stdout);
  CHECK(f != nullptr && f == stdout && fileno(stdout) == 1);
  printf("appended\n");
  CHECK(fflush(stdout) == 0);
  CHECK(file_contents(b) == "old\nappended\n");
  CHECK(file_contents(a) == "line 1\nline 2\n");

  // And away from ZVFS: writes no longer reach the files.
  f = freopen("/dev/null", "w", stdout);
  CHECK(f != nullptr && f == stdout);
  printf("into the void\n");
  CHECK(fflush(stdout) == 0);
  CHECK(file_contents(b) == "old\nappended\n");

  // stdin from a ZVFS file.
  f = freopen(a.c_str(), "r", stdin);
  CHECK(f != nullptr && f == stdin);
  char line[64];
  CHECK(fgets(line, sizeof line, stdin) != nullptr && strcmp(line, "line 1\n") == 0);
  CHECK(fgets(line, sizeof line, stdin) != nullptr && strcmp(line, "line 2\n") == 0);
  CHECK(fgets(line, sizeof line, stdin) == nullptr && feof(stdin));
  return 0;
}

// ---- fiemap --------------------------------------------------------------------------------

// A struct fiemap followed by room for 8 extents.
struct FiemapBuf {
  alignas(struct fiemap) unsigned char raw[sizeof(struct fiemap) + 8 * sizeof(fiemap_extent)];
  struct fiemap& fm = *reinterpret_cast<struct fiemap*>(raw);
};

int fiemap_call(int fd, FiemapBuf* b, uint64_t start, uint64_t len, uint32_t count,
                uint32_t flags = 0) {
  memset(b->raw, 0, sizeof b->raw);
  b->fm.fm_start = start;
  b->fm.fm_length = len;
  b->fm.fm_flags = flags;
  b->fm.fm_extent_count = count;
  return ioctl(fd, FS_IOC_FIEMAP, &b->fm);
}

int cmd_fiemap(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::vector<char> block(65536, 'e');
  CHECK(pwrite(fd, block.data(), block.size(), 0) == 65536);
  CHECK(pwrite(fd, block.data(), block.size(), 8 << 20) == 65536);
  const uint64_t end = (8 << 20) + 65536;
  FiemapBuf b;
  // Count only.
  CHECK(fiemap_call(fd, &b, 0, FIEMAP_MAX_OFFSET, 0) == 0);
  CHECK(b.fm.fm_mapped_extents == 2);
  // The extents: the two written ranges (at block granularity), the second one last.
  CHECK(fiemap_call(fd, &b, 0, FIEMAP_MAX_OFFSET, 8, FIEMAP_FLAG_SYNC) == 0);
  CHECK(b.fm.fm_mapped_extents == 2);
  const struct fiemap_extent e0 = b.fm.fm_extents[0];
  const struct fiemap_extent e1 = b.fm.fm_extents[1];
  CHECK(e0.fe_logical == 0 && e0.fe_length >= 65536 && e0.fe_length < (8 << 20));
  CHECK((e0.fe_flags & FIEMAP_EXTENT_LAST) == 0 && (e0.fe_flags & FIEMAP_EXTENT_UNKNOWN) != 0);
  CHECK(e1.fe_logical <= (8 << 20) && e1.fe_logical >= e0.fe_logical + e0.fe_length);
  CHECK(e1.fe_logical + e1.fe_length == end && (e1.fe_flags & FIEMAP_EXTENT_LAST) != 0);
  // A range that starts past the first extent; an array of one.
  CHECK(fiemap_call(fd, &b, 1 << 20, FIEMAP_MAX_OFFSET, 8) == 0);
  CHECK(b.fm.fm_mapped_extents == 1 && b.fm.fm_extents[0].fe_logical == e1.fe_logical);
  CHECK(fiemap_call(fd, &b, 0, FIEMAP_MAX_OFFSET, 1) == 0);
  CHECK(b.fm.fm_mapped_extents == 1 && b.fm.fm_extents[0].fe_logical == 0);
  // A range inside the hole; past the end.
  CHECK(fiemap_call(fd, &b, 1 << 20, 1 << 20, 8) == 0 && b.fm.fm_mapped_extents == 0);
  CHECK(fiemap_call(fd, &b, end + 4096, 4096, 8) == 0 && b.fm.fm_mapped_extents == 0);
  // Errors as the kernel gives them.
  errno = 0;
  CHECK(fiemap_call(fd, &b, 0, 0, 8) == -1 && errno == EINVAL);
  errno = 0;
  CHECK(fiemap_call(fd, &b, 0, FIEMAP_MAX_OFFSET, 8, FIEMAP_FLAG_XATTR) == -1 && errno == EBADR);
  CHECK(b.fm.fm_flags == FIEMAP_FLAG_XATTR);
  CHECK(close(fd) == 0);
  return 0;
}

// ---- uring --------------------------------------------------------------------------------

// A ZVFS file holding a few bytes, and a plain file with the 16 bytes it starts with.
struct UringFiles {
  int fd = -1, plain = -1;
  char want[16];
  bool open_both(const char* file) {
    fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    plain = open("/etc/passwd", O_RDONLY);
    return fd >= 0 && write(fd, "zvfs data", 9) == 9 && plain >= 0 &&
           pread(plain, want, sizeof want, 0) == static_cast<ssize_t>(sizeof want);
  }
};

int cmd_uring(const char* file) {
  struct io_uring ring;
  CHECK(io_uring_queue_init(8, &ring, 0) == 0);
  UringFiles u;
  CHECK(u.open_both(file));
  const int fd = u.fd, plain = u.plain;
  const char* want = u.want;
  static char buf[16];
  // A read of the ZVFS file would return the placeholder's zeros: refused, nothing submitted.
  struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  CHECK(sqe != nullptr);
  io_uring_prep_read(sqe, fd, buf, sizeof buf, 0);
  CHECK(io_uring_submit(&ring) == -EINVAL);
  CHECK(io_uring_submit_and_wait(&ring, 1) == -EINVAL);
  struct io_uring_cqe* cqe = nullptr;
  CHECK(io_uring_peek_cqe(&ring, &cqe) == -EAGAIN);  // no completion: the kernel saw nothing
  // The same queued entry on a plain file goes through.
  sqe->fd = plain;
  CHECK(io_uring_submit(&ring) == 1);
  CHECK(io_uring_wait_cqe(&ring, &cqe) == 0 && cqe->res == static_cast<int>(sizeof buf));
  CHECK(memcmp(buf, want, sizeof buf) == 0);
  io_uring_cqe_seen(&ring, cqe);
  // Fixed files: a ZVFS descriptor cannot be registered.
  CHECK(io_uring_register_files(&ring, &fd, 1) == -EINVAL);
  CHECK(io_uring_register_files(&ring, &plain, 1) == 0);
  CHECK(io_uring_register_files_update(&ring, 0, &fd, 1) == -EINVAL);
  io_uring_queue_exit(&ring);
  CHECK(close(fd) == 0 && close(plain) == 0);
  return 0;
}

// A ring set up and driven through libc's syscall(), the way fio's io_uring engine does it.
struct RawRing {
  int fd = -1;
  io_uring_params p{};
  unsigned char* sq = nullptr;
  unsigned char* cq = nullptr;
  io_uring_sqe* sqes = nullptr;
  size_t sq_len = 0, cq_len = 0;

  bool setup(unsigned entries) {
    fd = static_cast<int>(syscall(__NR_io_uring_setup, entries, &p));
    if (fd < 0) return false;
    sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    cq_len = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    void* a = mmap(nullptr, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                   IORING_OFF_SQ_RING);
    void* b = mmap(nullptr, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                   IORING_OFF_CQ_RING);
    void* c = mmap(nullptr, p.sq_entries * sizeof(io_uring_sqe), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (a == MAP_FAILED || b == MAP_FAILED || c == MAP_FAILED) return false;
    sq = static_cast<unsigned char*>(a);
    cq = static_cast<unsigned char*>(b);
    sqes = static_cast<io_uring_sqe*>(c);
    return true;
  }
  unsigned* u32(unsigned char* base, uint32_t off) {
    return reinterpret_cast<unsigned*>(base + off);
  }
  // Queues a read of fd into buf (not yet submitted).
  void queue_read(int file, void* buf, unsigned len) {
    unsigned tail = *u32(sq, p.sq_off.tail);
    unsigned idx = tail & *u32(sq, p.sq_off.ring_mask);
    io_uring_sqe& e = sqes[idx];
    memset(&e, 0, sizeof e);
    e.opcode = IORING_OP_READ;
    e.fd = file;
    e.addr = reinterpret_cast<uintptr_t>(buf);
    e.len = len;
    e.user_data = 7;
    u32(sq, p.sq_off.array)[idx] = idx;
    __atomic_store_n(u32(sq, p.sq_off.tail), tail + 1, __ATOMIC_RELEASE);
  }
  long enter(unsigned to_submit, unsigned min_complete) {
    return syscall(__NR_io_uring_enter, fd, to_submit, min_complete,
                   min_complete ? IORING_ENTER_GETEVENTS : 0, nullptr, 0);
  }
  unsigned queued() { return *u32(sq, p.sq_off.tail) - *u32(sq, p.sq_off.head); }
  unsigned completions() {
    return __atomic_load_n(u32(cq, p.cq_off.tail), __ATOMIC_ACQUIRE) - *u32(cq, p.cq_off.head);
  }
  io_uring_cqe& cqe() {
    unsigned h = *u32(cq, p.cq_off.head) & *u32(cq, p.cq_off.ring_mask);
    return reinterpret_cast<io_uring_cqe*>(cq + p.cq_off.cqes)[h];
  }
  void seen() {
    __atomic_store_n(u32(cq, p.cq_off.head), *u32(cq, p.cq_off.head) + 1, __ATOMIC_RELEASE);
  }
};

int cmd_uring_raw(const char* file) {
  UringFiles u;
  CHECK(u.open_both(file));
  const int fd = u.fd, plain = u.plain;
  const char* want = u.want;
  static char buf[16];
  RawRing r;
  CHECK(r.setup(8));
  // A read of the ZVFS file would return the placeholder's zeros: refused, nothing consumed.
  r.queue_read(fd, buf, sizeof buf);
  errno = 0;
  CHECK(r.enter(1, 1) == -1 && errno == EINVAL);
  CHECK(r.queued() == 1 && r.completions() == 0);
  // The same queued entry on a plain file goes through.
  r.sqes[*r.u32(r.sq, r.p.sq_off.head) & *r.u32(r.sq, r.p.sq_off.ring_mask)].fd = plain;
  CHECK(r.enter(1, 1) == 1);
  CHECK(r.completions() == 1 && r.cqe().res == static_cast<int>(sizeof buf));
  CHECK(memcmp(buf, want, sizeof buf) == 0);
  r.seen();
  // Other system calls through syscall() are untouched.
  CHECK(syscall(SYS_getpid) == getpid());
  errno = 0;
  CHECK(syscall(SYS_close, 1 << 30) == -1 && errno == EBADF);
  // Fixed files: a ZVFS descriptor cannot be registered.
  errno = 0;
  CHECK(syscall(__NR_io_uring_register, r.fd, IORING_REGISTER_FILES, &fd, 1) == -1 &&
        errno == EINVAL);
  CHECK(syscall(__NR_io_uring_register, r.fd, IORING_REGISTER_FILES, &plain, 1) == 0);
  io_uring_files_update up{};
  up.offset = 0;
  up.fds = reinterpret_cast<uintptr_t>(&fd);
  errno = 0;
  CHECK(syscall(__NR_io_uring_register, r.fd, IORING_REGISTER_FILES_UPDATE, &up, 1) == -1 &&
        errno == EINVAL);
  // A ring closed and another set up (often on the same descriptor number) is watched too.
  CHECK(close(r.fd) == 0);
  RawRing r2;
  CHECK(r2.setup(4));
  r2.queue_read(fd, buf, sizeof buf);
  errno = 0;
  CHECK(r2.enter(1, 1) == -1 && errno == EINVAL);
  CHECK(close(r2.fd) == 0 && close(fd) == 0 && close(plain) == 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s COMMAND ARGS (see the source)\n", argv[0]);
    return 2;
  }
  std::string c = argv[1];
  const char* f = argv[2];
  if (c == "append" && argc == 5) return cmd_append(f, atoi(argv[3]), atol(argv[4]));
  if (c == "verify-append" && argc == 5) return cmd_verify_append(f, atoi(argv[3]), atol(argv[4]));
  if (c == "dup-fork") return cmd_dup_fork(f);
  if (c == "exec-parent") return cmd_exec_parent(argv[0], f);
  if (c == "exec-child" && argc == 4) return cmd_exec_child(atoi(f), atoi(argv[3]));
  if (c == "unlink-open") return cmd_unlink_open(f);
  if (c == "rename-over") return cmd_rename_over(f);
  if (c == "writer") return cmd_writer(f);
  if (c == "check-records" && argc == 4) return cmd_check_records(f, atol(argv[3]));
  if (c == "mmap") return cmd_mmap(f);
  if (c == "threads") return cmd_threads(f);
  if (c == "sigalrm") return cmd_sigalrm(f);
  if (c == "fork-threads") return cmd_fork_threads(f);
  if (c == "vfork") return cmd_vfork(f);
  if (c == "close-range") return cmd_close_range(f);
  if (c == "expect-eio") return cmd_expect_eio(f);
  if (c == "overhead") return cmd_overhead(atol(f));
  if (c == "restart" && argc == 4) return cmd_restart(f, argv[3]);
  if (int r = zvfs::test::run_aio_command(c, argc, argv); r >= 0) return r;
  if (int r = zvfs::test::run_posix_aio_command(c, argc, argv); r >= 0) return r;
  if (int r = zvfs::test::run_spawn_command(c, argc, argv); r >= 0) return r;
  if (int r = zvfs::test::run_exec_command(c, argc, argv); r >= 0) return r;
  if (int r = zvfs::test::run_fdpass_command(c, argc, argv); r >= 0) return r;
  if (int r = zvfs::test::run_full_command(c, argc, argv); r >= 0) return r;
  if (int r = zvfs::test::run_times_command(c, argc, argv); r >= 0) return r;
  if (int r = zvfs::test::run_create_command(c, argc, argv); r >= 0) return r;
  if (c == "seek-data") return cmd_seek_data(f);
  if (c == "latency") return cmd_latency(f);
  if (c == "exit-flush") return cmd_exit_flush(f);
  if (c == "churn") return cmd_churn(f);
  if (c == "own-fds") return cmd_own_fds(f);
  if (c == "trunc-lock") return cmd_trunc_lock(f);
  if (c == "fork-unlinked") return cmd_fork_unlinked(f);
  if (c == "opath") return cmd_opath(argv[0], f);
  if (c == "opath-child") return argc > 3 ? cmd_opath_child(atoi(f), atol(argv[3])) : 2;
  if (c == "freopen") return cmd_freopen(f);
  if (c == "dprintf") return cmd_dprintf(f);
  if (c == "create-at-fd-limit") return cmd_create_at_fd_limit(f);
  if (c == "open-other") return cmd_open_other(f);
  if (c == "fiemap") return cmd_fiemap(f);
  if (c == "uring") return cmd_uring(f);
  if (c == "uring-raw") return cmd_uring_raw(f);
  if (c == "direct-flags") return cmd_direct_flags(f);
  if (c == "exec-unlinked") return cmd_exec_unlinked(argv[0], f);
  if (c == "exec-unlinked-child") return cmd_exec_unlinked_child(atoi(f));
  if (c == "count-lines" && argc == 4) return cmd_count_lines(f, atoi(argv[3]));
  fprintf(stderr, "unknown command %s\n", c.c_str());
  return 2;
}
