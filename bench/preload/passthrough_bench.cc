// passthrough_bench.cc — what libzvfs.so costs a program on files that are not ZVFS files.
//
// The library hooks every call that can reach file data, so it is on the path of every read,
// write, lseek, fstat, open and close a program makes, ZVFS file or not. For a descriptor that
// is not a ZVFS file the hook is one table lookup before the real call; this measures it.
//
// The benchmark runs itself as a child twice per round, once plainly and once with the library
// preloaded (with ZVFS_ROOT set to a directory that exists, so the prefix logic is live, and no
// daemon: nothing here may need one), alternating for --rounds rounds. Each child times
// --ops calls of each kind on a small file outside the prefix (and on /dev/zero, /dev/null)
// and prints nanoseconds per call. The parent reports, per call, the fastest round of each
// side (the least disturbed by the rest of the machine) and the difference.
//
// Usage: zvfs_bench_passthrough [--lib PATH] [--ops N] [--rounds R] [--dir DIR]
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace {

uint64_t now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

struct Case {
  const char* name;
  bool (*call)(int fd, const char* path);  // false on an unexpected failure
};

int g_zero = -1, g_null = -1;
char g_byte;

const Case kCases[] = {
    {"pread 1 B (ext4 file)", [](int fd, const char*) { return pread(fd, &g_byte, 1, 0) == 1; }},
    {"pwrite 1 B (ext4 file)", [](int fd, const char*) { return pwrite(fd, "x", 1, 0) == 1; }},
    {"read 1 B (/dev/zero)", [](int, const char*) { return read(g_zero, &g_byte, 1) == 1; }},
    {"write 1 B (/dev/null)", [](int, const char*) { return write(g_null, "x", 1) == 1; }},
    {"lseek SEEK_CUR", [](int fd, const char*) { return lseek(fd, 0, SEEK_CUR) >= 0; }},
    {"fstat",
     [](int fd, const char*) {
       struct stat st;
       return fstat(fd, &st) == 0;
     }},
    {"fcntl F_GETFL", [](int fd, const char*) { return fcntl(fd, F_GETFL) >= 0; }},
    {"dup + close", [](int fd, const char*) { return close(dup(fd)) == 0; }},
    {"stat (path)",
     [](int, const char* path) {
       struct stat st;
       return stat(path, &st) == 0;
     }},
    {"open + close (path)",
     [](int, const char* path) {
       int f = open(path, O_RDONLY | O_CLOEXEC);
       return f >= 0 && close(f) == 0;
     }},
};

// The child: times every case, prints "index ns_per_call" lines.
int child(const char* path, long ops) {
  int fd = open(path, O_RDWR | O_CLOEXEC);
  g_zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  g_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (fd < 0 || g_zero < 0 || g_null < 0) {
    perror("passthrough: open");
    return 1;
  }
  for (size_t c = 0; c < sizeof kCases / sizeof kCases[0]; ++c) {
    long n = ops;
    if (strstr(kCases[c].name, "path") != nullptr) n = ops / 4;  // path walks are slower
    for (long i = 0; i < n / 20; ++i) kCases[c].call(fd, path);  // warm up
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; ++i) {
      if (!kCases[c].call(fd, path)) {
        fprintf(stderr, "passthrough: %s failed: %s\n", kCases[c].name, strerror(errno));
        return 1;
      }
    }
    printf("%zu %.1f\n", c, static_cast<double>(now_ns() - t0) / static_cast<double>(n));
  }
  return 0;
}

// Runs this program as a child (preloading lib if not null); fills ns[case].
bool run_child(const char* self, const char* lib, const std::string& root, const char* path,
               long ops, std::vector<double>* ns) {
  int p[2];
  if (pipe(p) != 0) return false;
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    if (lib != nullptr) {
      setenv("LD_PRELOAD", lib, 1);
      setenv("ZVFS_ROOT", root.c_str(), 1);
      setenv("ZVFS_SOCKET", (root + "/no-daemon.sock").c_str(), 1);
    } else {
      unsetenv("LD_PRELOAD");
    }
    std::string n = std::to_string(ops);
    execl("/proc/self/exe", self, "--child", path, n.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(p[1]);
  std::string out;
  char buf[4096];
  ssize_t r;
  while ((r = read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(r));
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return false;
  ns->assign(sizeof kCases / sizeof kCases[0], -1);
  size_t pos = 0;
  while (pos < out.size()) {
    size_t c;
    double v;
    if (sscanf(out.c_str() + pos, "%zu %lf", &c, &v) == 2 && c < ns->size()) (*ns)[c] = v;
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return std::all_of(ns->begin(), ns->end(), [](double v) { return v >= 0; });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "--child") == 0) return child(argv[2], atol(argv[3]));
  const char* lib = ZVFS_BENCH_LIB;
  long ops = 2000000;
  int rounds = 5;
  std::string dir = "/var/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--lib" && i + 1 < argc) {
      lib = argv[++i];
    } else if (a == "--ops" && i + 1 < argc) {
      ops = atol(argv[++i]);
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = atoi(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else {
      fprintf(stderr,
              "usage: zvfs_bench_passthrough [--lib PATH] [--ops N] [--rounds R] [--dir DIR]\n");
      return 2;
    }
  }
  if (access(lib, R_OK) != 0) {
    fprintf(stderr, "passthrough: no library at %s (--lib PATH)\n", lib);
    return 2;
  }
  std::string work = dir + "/zvfs-passthrough.XXXXXX";
  if (mkdtemp(work.data()) == nullptr) {
    perror("passthrough: mkdtemp");
    return 1;
  }
  std::string root = work + "/prefix", file = work + "/plain.dat";
  mkdir(root.c_str(), 0755);
  int fd = open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && pwrite(fd, "0123456789", 10, 0) == 10;
  if (fd >= 0) close(fd);
  const size_t n = sizeof kCases / sizeof kCases[0];
  std::vector<double> best_plain(n, 1e18), best_lib(n, 1e18), ns;
  for (int r = 0; ok && r < rounds; ++r) {
    ok = run_child(argv[0], nullptr, root, file.c_str(), ops, &ns);
    for (size_t c = 0; ok && c < n; ++c) best_plain[c] = std::min(best_plain[c], ns[c]);
    ok = ok && run_child(argv[0], lib, root, file.c_str(), ops, &ns);
    for (size_t c = 0; ok && c < n; ++c) best_lib[c] = std::min(best_lib[c], ns[c]);
  }
  unlink(file.c_str());
  rmdir(root.c_str());
  rmdir(work.c_str());
  if (!ok) {
    fprintf(stderr, "passthrough: a child run failed\n");
    return 1;
  }
  printf("# non-ZVFS calls, ns per call, fastest of %d alternating rounds of %ld calls\n", rounds,
         ops);
  printf("%-24s %10s %10s %10s\n", "call", "plain", "preloaded", "extra");
  for (size_t c = 0; c < n; ++c)
    printf("%-24s %10.1f %10.1f %+10.1f\n", kCases[c].name, best_plain[c], best_lib[c],
           best_lib[c] - best_plain[c]);
  return 0;
}
