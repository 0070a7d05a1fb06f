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
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

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

}  // namespace

int run_times_command(const std::string& c, int, char** argv) {
  if (c == "mtime-order") return cmd_mtime_order(argv[2]);
  return -1;
}

}  // namespace zvfs::test
