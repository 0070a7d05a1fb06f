// mp_create.cc — zvfs_mptest's scenarios for a file that one process creates while others open
// it, through libzvfs.so. Between the creator's open and its attach, the file is empty and not
// yet bound to a blob; whichever attach comes first binds it, and every opener must reach that
// one blob (a PostgreSQL backend opens relation forks that another backend has just created).
//
//   open-before-bind FILE
//                    the window made by hand: the kernel half of a create (a raw system call),
//                    then an open without O_CREAT (and a read-only one by the owner), then the
//                    creator's open: all reach one blob. Names that stay plain are never bound.
//   create-race DIR ROLE OPENERS ROUNDS
//                    ROLE 0 creates DIR/r<i> (O_CREAT|O_EXCL) and writes it, round after round;
//                    ROLE 1..OPENERS spin on open(O_RDWR) of the same name meanwhile, then read
//                    until they see the creator's page and write their own mark after it.
//                    Rounds are paced through files in $ZVFS_TEST_OUTSIDE (plain directory).
//   create-race-check DIR OPENERS ROUNDS
//                    every DIR/r<i> holds the creator's page and every opener's mark.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "mp_check.h"
#include "mp_cmds.h"

namespace zvfs::test {
namespace {

constexpr size_t kPage = 8192;
constexpr size_t kMark = 512;

// An empty file made by the kernel half of another process's create (the raw system call), not
// yet bound by that process's attach.
void make_unbound(const std::string& name) {
  int raw = static_cast<int>(
      syscall(SYS_openat, AT_FDCWD, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  CHECK(raw >= 0 && syscall(SYS_close, raw) == 0);
}

// Whether fd's file can be mapped shared and writable: a plain file can, a ZVFS file cannot.
bool maps_shared(int fd) {
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return false;
  CHECK(munmap(p, 4096) == 0);
  return true;
}

void fill_page(char* page, int round) {
  for (size_t i = 0; i < kPage; ++i) page[i] = static_cast<char>('a' + (i + round) % 23);
}

int cmd_open_before_bind(const char* file) {
  // A backend opens a relation fork (O_RDWR, no O_CREAT) that another backend has just created
  // and not yet attached. Both must reach the one blob, in either direction.
  make_unbound(file);
  int opener = open(file, O_RDWR);
  CHECK(opener >= 0);
  int creator = open(file, O_RDWR | O_CREAT, 0644);
  CHECK(creator >= 0);
  char page[kPage], got[kPage];
  fill_page(page, 0);
  CHECK(pwrite(creator, page, kPage, 0) == static_cast<ssize_t>(kPage));
  CHECK(pread(opener, got, kPage, 0) == static_cast<ssize_t>(kPage));
  CHECK(memcmp(page, got, kPage) == 0);
  CHECK(pwrite(opener, "Z", 1, 100) == 1 && pread(creator, got, 1, 100) == 1 && got[0] == 'Z');
  struct stat st;
  CHECK(fstat(opener, &st) == 0 && st.st_size == static_cast<off_t>(kPage) && !maps_shared(opener));
  CHECK(close(opener) == 0 && close(creator) == 0);

  // A reader that owns the file (a base backup's sender) is bound the same way.
  std::string second = std::string(file) + ".ro";
  make_unbound(second);
  int reader = open(second.c_str(), O_RDONLY);
  CHECK(reader >= 0);
  creator = open(second.c_str(), O_WRONLY | O_CREAT, 0644);
  CHECK(creator >= 0 && pwrite(creator, page, 4096, 0) == 4096);
  CHECK(pread(reader, got, kPage, 0) == 4096 && memcmp(page, got, 4096) == 0);
  CHECK(close(reader) == 0 && close(creator) == 0);

  // A name that stays plain is never bound, however it is opened (fopen included).
  std::string shm = std::string(file) + "-shm";
  make_unbound(shm);
  int plain = open(shm.c_str(), O_RDWR);
  CHECK(plain >= 0 && ftruncate(plain, 4096) == 0 && maps_shared(plain) && close(plain) == 0);
  std::string shm2 = std::string(file) + "2-shm";
  FILE* f = fopen(shm2.c_str(), "w+");
  CHECK(f != nullptr && fputs("plain", f) >= 0 && fflush(f) == 0);
  CHECK(maps_shared(fileno(f)) && fclose(f) == 0);
  return 0;
}

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string round_name(const char* dir, int round) {
  return std::string(dir) + "/r" + std::to_string(round);
}

// The pacing file of `role` for `round`, in the plain directory beside the prefix.
std::string ready_name(int round, int role) {
  const char* out = getenv("ZVFS_TEST_OUTSIDE");
  CHECK(out != nullptr);
  return std::string(out) + "/ready." + std::to_string(round) + "." + std::to_string(role);
}

void touch_plain(const std::string& name) {
  int fd = open(name.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  CHECK(fd >= 0 && close(fd) == 0);
}

void creator_round(const char* dir, int round, int openers) {
  // Create only once every opener is spinning on the name.
  for (int k = 1; k <= openers; ++k) {
    const double deadline = now_s() + 30;
    struct stat st;
    while (stat(ready_name(round, k).c_str(), &st) != 0) CHECK(now_s() < deadline);
  }
  int fd = open(round_name(dir, round).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  CHECK(fd >= 0);
  char page[kPage];
  fill_page(page, round);
  CHECK(pwrite(fd, page, kPage, 0) == static_cast<ssize_t>(kPage));
  CHECK(close(fd) == 0);
}

void opener_round(const char* dir, int round, int role) {
  touch_plain(ready_name(round, role));
  const std::string name = round_name(dir, round);
  const double deadline = now_s() + 30;
  int fd;
  while ((fd = open(name.c_str(), O_RDWR | O_CLOEXEC)) < 0) {
    CHECK(errno == ENOENT && now_s() < deadline);
  }
  // The creator's page arrives whenever its write lands; a descriptor that took the file for a
  // plain one reads the placeholder instead (zeros, or EPERM from the daemon's guard).
  char want[kPage], got[kPage];
  fill_page(want, round);
  for (;;) {
    ssize_t n = pread(fd, got, kPage, 0);
    CHECK(n >= 0);
    if (n == static_cast<ssize_t>(kPage) && memcmp(want, got, kPage) == 0) break;
    CHECK(now_s() < deadline);
    usleep(100);
  }
  char mark[kMark];
  memset(mark, '0' + role, kMark);
  CHECK(pwrite(fd, mark, kMark, static_cast<off_t>(kPage + (role - 1) * kMark)) ==
        static_cast<ssize_t>(kMark));
  CHECK(close(fd) == 0);
}

int cmd_create_race(const char* dir, int role, int openers, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    if (role == 0)
      creator_round(dir, i, openers);
    else
      opener_round(dir, i, role);
  }
  return 0;
}

int cmd_create_race_check(const char* dir, int openers, int rounds) {
  std::string data;
  for (int i = 0; i < rounds; ++i) {
    int fd = open(round_name(dir, i).c_str(), O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    const size_t size = kPage + static_cast<size_t>(openers) * kMark;
    data.assign(size + 1, '\0');
    CHECK(pread(fd, data.data(), size + 1, 0) == static_cast<ssize_t>(size));
    CHECK(close(fd) == 0);
    char want[kPage];
    fill_page(want, i);
    CHECK(memcmp(data.data(), want, kPage) == 0);
    for (int k = 1; k <= openers; ++k)
      for (size_t j = 0; j < kMark; ++j)
        CHECK(data[kPage + static_cast<size_t>(k - 1) * kMark + j] == '0' + k);
  }
  return 0;
}

}  // namespace

int run_create_command(const std::string& c, int argc, char** argv) {
  if (c == "open-before-bind") return cmd_open_before_bind(argv[2]);
  if (c == "create-race" && argc == 6)
    return cmd_create_race(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
  if (c == "create-race-check" && argc == 5)
    return cmd_create_race_check(argv[2], atoi(argv[3]), atoi(argv[4]));
  return -1;
}

}  // namespace zvfs::test
