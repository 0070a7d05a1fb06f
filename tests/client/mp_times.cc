// mp_times.cc — zvfs_mptest's scenarios for the times a program sets, through libzvfs.so.
//
//   mtime-order FILE
//                    rounds of a write, a time set by the program, and a close, each within
//                    one clock tick: a time set after the last write stays (as `cp -p` and
//                    `tar` set it), one set before a write gives way to that write's, as on
//                    ext4; through futimens, utimensat (by descriptor and by name), futimes,
//                    utimes, utime and syscall(SYS_utimensat). The daemon cannot order a set
//                    and a write of the same tick from the inode's ctime: the library's report
//                    of the set does (also after a write-behind the daemon applies after it).
//   mtime-random FILE SEED STEPS
//                    a seeded random sequence of writes, truncates, reads, chmods, time sets
//                    and closes on FILE; at each close its mtime must be ext4's: the last
//                    set's time if no change came after it, else that change's time.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <algorithm>
#include <random>
#include <string>

#include "mp_check.h"
#include "mp_cmds.h"

namespace zvfs::test {
namespace {

constexpr time_t kOld = 1000000000;  // 2001: far from now

enum class Setter {
  kFutimens,
  kUtimensatFd,
  kUtimensatName,
  kFutimes,
  kUtimes,
  kUtime,
  kSyscallFd,
  kSyscallName
};

// Sets FILE's mtime (and atime) to kOld + nsec (microseconds where the call takes those).
void set_old(Setter how, int fd, const std::string& path, long usec) {
  const struct timespec ts[2] = {{kOld, 0}, {kOld, usec * 1000}};
  const struct timeval tv[2] = {{kOld, 0}, {kOld, usec}};
  const struct utimbuf ub = {kOld, kOld};
  switch (how) {
    case Setter::kFutimens:
      CHECK(futimens(fd, ts) == 0);
      break;
    case Setter::kUtimensatFd:
      CHECK(utimensat(fd, "", ts, AT_EMPTY_PATH) == 0);
      break;
    case Setter::kUtimensatName:
      CHECK(utimensat(AT_FDCWD, path.c_str(), ts, 0) == 0);
      break;
    case Setter::kFutimes:
      CHECK(futimes(fd, tv) == 0);
      break;
    case Setter::kUtimes:
      CHECK(utimes(path.c_str(), tv) == 0);
      break;
    case Setter::kUtime:
      CHECK(utime(path.c_str(), &ub) == 0);
      break;
    case Setter::kSyscallFd:
      CHECK(syscall(SYS_utimensat, fd, nullptr, ts, 0) == 0);
      break;
    case Setter::kSyscallName:
      CHECK(syscall(SYS_utimensat, AT_FDCWD, path.c_str(), ts, 0) == 0);
      break;
  }
}

struct timespec mtime_of(const std::string& path) {
  struct stat st;
  CHECK(stat(path.c_str(), &st) == 0);
  return st.st_mtim;
}

int cmd_mtime_order(const std::string& base) {
  const Setter all[] = {Setter::kFutimens,  Setter::kUtimensatFd, Setter::kUtimensatName,
                        Setter::kFutimes,   Setter::kUtimes,      Setter::kUtime,
                        Setter::kSyscallFd, Setter::kSyscallName};
  for (int round = 0; round < 10; round++) {
    for (Setter how : all) {
      const std::string path =
          base + "." + std::to_string(round) + "." + std::to_string(static_cast<int>(how));
      const long usec = how == Setter::kUtime ? 0 : 123;
      // Set after the last write: kept.
      int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      CHECK(fd >= 0);
      CHECK(pwrite(fd, "abc", 3, 0) == 3);
      CHECK(pwrite(fd, "d", 1, 3) == 1);
      set_old(how, fd, path, usec);
      CHECK(close(fd) == 0);
      struct timespec m = mtime_of(path);
      CHECK(m.tv_sec == kOld && m.tv_nsec == usec * 1000);
      // An overwrite (a write-behind where the daemon allows them), then the set: kept.
      fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
      CHECK(fd >= 0);
      CHECK(pwrite(fd, "b", 1, 1) == 1);
      set_old(how, fd, path, usec + 1);
      CHECK(close(fd) == 0);
      m = mtime_of(path);
      CHECK(m.tv_sec == kOld && m.tv_nsec == (how == Setter::kUtime ? 0 : (usec + 1) * 1000));
      // Set before a write: the write's time shows at the close.
      struct timespec before;
      clock_gettime(CLOCK_REALTIME, &before);
      fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
      CHECK(fd >= 0);
      CHECK(pwrite(fd, "e", 1, 4) == 1);
      set_old(how, fd, path, usec);
      CHECK(pwrite(fd, "f", 1, 5) == 1);
      CHECK(close(fd) == 0);
      m = mtime_of(path);
      CHECK(m.tv_sec >= before.tv_sec - 1);
      struct stat st;
      CHECK(stat(path.c_str(), &st) == 0 && st.st_size == 6);
      CHECK(unlink(path.c_str()) == 0);
    }
  }
  return 0;
}

// A seeded random sequence on one file of overwrites, growing writes, truncates, reads,
// chmods, time sets (every setter) and closes; at each close the file's mtime must be what ext4
// would show: the last set's time if a set came after the last change, else the time of that
// change (no older than the clock just before it, within the coarse clock's tick).
int cmd_mtime_random(const std::string& path, uint64_t seed, int steps) {
  std::mt19937_64 rng(seed);
  auto rnd = [&](uint64_t n) { return rng() % n; };
  const Setter all[] = {Setter::kFutimens,  Setter::kUtimensatFd, Setter::kUtimensatName,
                        Setter::kFutimes,   Setter::kUtimes,      Setter::kUtime,
                        Setter::kSyscallFd, Setter::kSyscallName};
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CHECK(fd >= 0);
  off_t size = 0;
  bool set_last = false;             // the last event that moves the mtime was a set...
  struct timespec set_value {};      // ...to this
  struct timespec change_before {};  // else: the clock just before the last change
  clock_gettime(CLOCK_REALTIME, &change_before);
  char buf[256] = {};
  std::string trace[8];  // the last operations, printed when a check fails
  auto note = [&](int step, const std::string& what) {
    trace[step % 8] = std::to_string(step) + " " + what;
  };
  auto dump = [&](int step) {
    for (int i = step - 7; i <= step; i++)
      if (i >= 0) fprintf(stderr, "  %s\n", trace[i % 8].c_str());
  };
  for (int step = 0; step < steps; step++) {
    const uint64_t what = rnd(100);
    if (what < 25) {  // overwrite inside the file (a write-behind where allowed)
      if (size == 0) continue;
      const off_t off = static_cast<off_t>(rnd(static_cast<uint64_t>(size)));
      const size_t n = std::min<size_t>(1 + rnd(64), static_cast<size_t>(size - off));
      clock_gettime(CLOCK_REALTIME, &change_before);
      CHECK(pwrite(fd, buf, n, off) == static_cast<ssize_t>(n));
      note(step, "overwrite " + std::to_string(off) + "+" + std::to_string(n));
      set_last = false;
    } else if (what < 40) {  // growing write
      const size_t n = 1 + rnd(200);
      clock_gettime(CLOCK_REALTIME, &change_before);
      CHECK(pwrite(fd, buf, n, size) == static_cast<ssize_t>(n));
      note(step, "write " + std::to_string(size) + "+" + std::to_string(n));
      size += static_cast<off_t>(n);
      set_last = false;
    } else if (what < 48) {  // truncate to another size
      const off_t to = static_cast<off_t>(rnd(static_cast<uint64_t>(size) + 300));
      if (to == size) continue;
      clock_gettime(CLOCK_REALTIME, &change_before);
      CHECK(ftruncate(fd, to) == 0);
      note(step, "truncate " + std::to_string(to));
      size = to;
      set_last = false;
    } else if (what < 55) {  // reads and chmods leave the mtime alone
      if (rnd(2) == 0) {
        CHECK(pread(fd, buf, sizeof buf, 0) >= 0);
        note(step, "read");
      } else {
        CHECK(fchmod(fd, rnd(2) == 0 ? 0644 : 0600) == 0);
        note(step, "chmod");
      }
    } else if (what < 85) {  // a set by the program
      const Setter how = all[rnd(8)];
      const long usec = how == Setter::kUtime ? 0 : static_cast<long>(rnd(1000000));
      set_old(how, fd, path, usec);
      note(step, "set " + std::to_string(static_cast<int>(how)) + " " + std::to_string(usec));
      set_last = true;
      set_value = {kOld, usec * 1000};
    } else {  // close: the mtime must be exact now; then open again
      CHECK(close(fd) == 0);
      note(step, "close");
      const struct timespec m = mtime_of(path);
      const bool want_set = set_last;
      if (want_set ? m.tv_sec != set_value.tv_sec || m.tv_nsec != set_value.tv_nsec
                   : m.tv_sec < change_before.tv_sec - 1)
        dump(step);
      if (set_last) {
        if (m.tv_sec != set_value.tv_sec || m.tv_nsec != set_value.tv_nsec)
          fprintf(stderr, "step %d: mtime %ld.%09ld, set %ld.%09ld\n", step,
                  static_cast<long>(m.tv_sec), m.tv_nsec, static_cast<long>(set_value.tv_sec),
                  set_value.tv_nsec);
        CHECK(m.tv_sec == set_value.tv_sec && m.tv_nsec == set_value.tv_nsec);
      } else {
        if (m.tv_sec < change_before.tv_sec - 1)
          fprintf(stderr, "step %d: mtime %ld.%09ld, change after %ld.%09ld\n", step,
                  static_cast<long>(m.tv_sec), m.tv_nsec, static_cast<long>(change_before.tv_sec),
                  change_before.tv_nsec);
        CHECK(m.tv_sec >= change_before.tv_sec - 1);
      }
      struct stat st;
      CHECK(stat(path.c_str(), &st) == 0 && st.st_size == size);
      fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
      CHECK(fd >= 0);
    }
  }
  CHECK(close(fd) == 0);
  CHECK(unlink(path.c_str()) == 0);
  return 0;
}

}  // namespace

int run_times_command(const std::string& c, int, char** argv) {
  if (c == "mtime-order") return cmd_mtime_order(argv[2]);
  if (c == "mtime-random")
    return cmd_mtime_random(argv[2], strtoull(argv[3], nullptr, 10), atoi(argv[4]));
  return -1;
}

}  // namespace zvfs::test
