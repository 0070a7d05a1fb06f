// daemon_cmds.cc — zvfs up / down / status / scrub / run: talking to (or starting) zvfsd.
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/status_print.h"
#include "common/config.h"
#include "common/path_search.h"
#include "ipc/client_diag.h"
#include "ipc/protocol.h"
#include "ipc/sock.h"

namespace zvfs::cli {

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  std::string p(buf);
  size_t s = p.rfind('/');
  return s == std::string::npos ? "." : p.substr(0, s);
}

std::string default_pool() {
  const char* p = env_or_config("ZVFS_POOL", "pool");
  return p && *p ? p : "/var/lib/zvfs/default.pool";
}

bool help_or_usage(int argc, char** argv, const char* usage, int min_argc, int* rc) {
  bool help = false;
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; ++i)
    help = help || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help");
  if (help) {
    fputs(usage, stdout);
    *rc = kExitOk;
    return true;
  }
  if (argc < min_argc) {
    fputs(usage, stderr);
    *rc = kExitUsage;
    return true;
  }
  return false;
}

int daemon_error(const char* what, int err, const char* socket) {
  if (err == -ENOENT || err == -ECONNREFUSED) {
    fprintf(stderr,
            "zvfs %s: no daemon answers on %s.\n"
            "  Start one with 'zvfs up', or point ZVFS_SOCKET at the running daemon's socket.\n",
            what, socket);
    return kExitNoDaemon;
  }
  if (err == -EACCES || err == -EPERM) {
    fprintf(stderr, "zvfs %s: permission denied on %s (%s).\n", what, socket, strerror(-err));
    return kExitFail;
  }
  if (err == -EPROTONOSUPPORT) {
    fprintf(stderr,
            "zvfs %s: the daemon speaks another protocol version; use matching zvfs "
            "and zvfsd binaries.\n",
            what);
    return kExitFail;
  }
  if (err == -EUSERS) {
    fprintf(stderr,
            "zvfs %s: the daemon at %s refuses more connections from this user (%s): it "
            "reached its --max-sessions-per-user limit.\n",
            what, socket, strerror(-err));
    return kExitFail;
  }
  fprintf(stderr, "zvfs %s: request to the daemon at %s failed: %s\n", what, socket,
          strerror(-err));
  return kExitFail;
}

static std::string find_daemon() {
  std::string d = self_dir();
  for (const std::string& c : {d + "/zvfsd", d + "/../daemon/zvfsd"})
    if (access(c.c_str(), X_OK) == 0) return c;
  return "zvfsd";  // from PATH
}

static std::string find_lib() {
  const char* e = getenv("ZVFS_LIB");
  if (e && *e) return e;
  std::string d = self_dir();
  for (const std::string& c : {d + "/../lib/libzvfs.so", d + "/../client/libzvfs.so"}) {
    char real[PATH_MAX];
    if (access(c.c_str(), R_OK) == 0 && realpath(c.c_str(), real)) return real;
  }
  return "";
}

static bool daemon_answers(const char* sock) {
  alignas(8) uint8_t rep[ipc::kMaxSocketPayload];
  size_t len = 0;
  return ipc::admin_call(sock, ipc::Op::kStats, nullptr, 0, rep, sizeof rep, &len, 2000) >= 0;
}

static const char kUpUsage[] =
    "usage: zvfs up [--pool PATH] [--size SIZE] [--socket PATH] [--log FILE] [-- ZVFSD-ARGS]\n"
    "\n"
    "Starts zvfsd in the background on PATH (default $ZVFS_POOL, else the configuration\n"
    "file's pool, else /var/lib/zvfs/default.pool), creating it as a sparse file of SIZE\n"
    "(default: the file's size, else 8G) if it does not exist, and returns once the daemon\n"
    "accepts connections. zvfsd reads the configuration file too.\n"
    "Does nothing (exit 0) if a daemon already answers on the socket.\n"
    "zvfsd inherits the environment: its guard watches the directories under the prefixes\n"
    "of $ZVFS_ROOT (default /zvfs; `-- --root PREFIXES` names others).\n";

int cmd_up(int argc, char** argv) {
  int rc;
  if (help_or_usage(argc, argv, kUpUsage, 1, &rc)) return rc;
  const char* file_size = process_config().get("size");
  std::string pool = default_pool(), size = file_size && *file_size ? file_size : "8G",
              sock = ipc::default_socket_path(), log;
  std::vector<std::string> extra;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    bool ok = true;
    if (a == "--pool")
      ok = val(&pool);
    else if (a == "--size")
      ok = val(&size);
    else if (a == "--socket")
      ok = val(&sock);
    else if (a == "--log")
      ok = val(&log);
    else if (a == "--") {
      for (++i; i < argc; ++i) extra.push_back(argv[i]);
    } else {
      fprintf(stderr, "zvfs up: unknown argument '%s' (see zvfs up --help)\n", a.c_str());
      return kExitUsage;
    }
    if (!ok) {
      fprintf(stderr, "zvfs up: %s needs a value\n", a.c_str());
      return kExitUsage;
    }
  }
  if (daemon_answers(sock.c_str())) {
    printf("zvfs: a daemon already answers on %s\n", sock.c_str());
    return kExitOk;
  }
  size_t slash = pool.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    std::string dir = pool.substr(0, slash);
    for (size_t p = 1; (p = dir.find('/', p)) != std::string::npos; ++p)
      mkdir(dir.substr(0, p).c_str(), 0755);
    mkdir(dir.c_str(), 0755);
  }
  std::string zvfsd = find_daemon();
  std::vector<std::string> args = {zvfsd, "--pool", pool, "--size", size, "--socket", sock};
  if (!log.empty()) {
    args.push_back("--log");
    args.push_back(log);
  }
  for (auto& e : extra) args.push_back(e);
  std::vector<char*> cargv;
  for (auto& s : args) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    perror("zvfs up: fork");
    return kExitFail;
  }
  if (pid == 0) {
    execvp(cargv[0], cargv.data());
    fprintf(stderr, "zvfs up: cannot run %s: %s\n", cargv[0], strerror(errno));
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "zvfs up: the daemon did not start (see the message above%s%s)\n",
            log.empty() ? "" : " and ", log.c_str());
    return kExitFail;
  }
  printf("zvfs: daemon serving %s on %s\n", pool.c_str(), sock.c_str());
  return kExitOk;
}

// Parses the arguments of a subcommand that talks to a running daemon: --socket PATH, and
// --json where `json` is given.
static bool socket_args(const char* cmd, int argc, char** argv, std::string* sock,
                        bool* json = nullptr) {
  *sock = ipc::default_socket_path();
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
      *sock = argv[++i];
    } else if (json && !strcmp(argv[i], "--json")) {
      *json = true;
    } else {
      fprintf(stderr, "zvfs %s: unknown argument '%s'\n", cmd, argv[i]);
      return false;
    }
  }
  return true;
}

// True once pid has exited (a zombie counts: it holds no files, the pool is exported).
static bool process_gone(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = fopen(path, "re");
  if (!f) return kill(pid, 0) != 0 && errno == ESRCH;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char* rp = strrchr(buf, ')');  // the state follows the command name in parentheses
  return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static const char kDownUsage[] =
    "usage: zvfs down [--socket PATH]\n"
    "\n"
    "Asks the daemon to stop: it finishes in-flight requests, exports the pool cleanly\n"
    "and removes its socket. Waits (up to 60 s) until it is gone.\n";

int cmd_down(int argc, char** argv) {
  int rc;
  if (help_or_usage(argc, argv, kDownUsage, 1, &rc)) return rc;
  std::string sock;
  if (!socket_args("down", argc, argv, &sock)) return kExitUsage;
  alignas(8) uint8_t rep[ipc::kMaxSocketPayload];
  size_t len = 0;
  int r = ipc::admin_call(sock.c_str(), ipc::Op::kStats, nullptr, 0, rep, sizeof rep, &len, 5000);
  if (r < 0) return daemon_error("down", r, sock.c_str());
  uint32_t pid =
      len >= sizeof(ipc::StatsHeader) ? reinterpret_cast<ipc::StatsHeader*>(rep)->daemon_pid : 0;
  r = ipc::admin_call(sock.c_str(), ipc::Op::kShutdown, nullptr, 0, nullptr, 0, nullptr, 5000);
  // A daemon already on its way down may close before answering: that is what we asked for.
  if (r < 0 && r != -ECONNRESET) return daemon_error("down", r, sock.c_str());
  for (int i = 0; i < 600; ++i) {
    bool gone = pid ? process_gone(static_cast<pid_t>(pid)) : access(sock.c_str(), F_OK) != 0;
    if (gone) {
      printf("zvfs: daemon stopped, pool exported\n");
      return kExitOk;
    }
    usleep(100000);
  }
  fprintf(stderr, "zvfs down: the daemon (pid %u) is still running after 60 s\n", pid);
  return kExitFail;
}

static const char kStatusUsage[] =
    "usage: zvfs status [--json] [--socket PATH]\n"
    "\n"
    "Shows the pool (size, use, txg), the client processes (pid, uid, open handles),\n"
    "per-operation counts and latency percentiles, cache hit rate and error counters.\n";

int cmd_status(int argc, char** argv) {
  int rc;
  if (help_or_usage(argc, argv, kStatusUsage, 1, &rc)) return rc;
  bool json = false;
  std::string sock;
  if (!socket_args("status", argc, argv, &sock, &json)) return kExitUsage;
  std::vector<uint8_t> rep(ipc::kMaxSocketPayload);
  size_t len = 0;
  int r = ipc::admin_call(sock.c_str(), ipc::Op::kStats, nullptr, 0, rep.data(), rep.size(), &len,
                          10000);
  if (r < 0) return daemon_error("status", r, sock.c_str());
  StatsView v;
  if (!parse_stats(rep.data(), len, &v)) {
    fprintf(stderr, "zvfs status: malformed reply from the daemon\n");
    return kExitFail;
  }
  std::string out = json ? stats_json(v, sock) : stats_text(v, sock);
  fputs(out.c_str(), stdout);
  return kExitOk;
}

static const char kScrubUsage[] =
    "usage: zvfs scrub [--socket PATH]\n"
    "\n"
    "Asks the daemon to read and verify every block of the pool while it keeps serving,\n"
    "and shows progress. Exit 0 if no damage was found, 1 otherwise.\n";

int cmd_scrub(int argc, char** argv) {
  int rc;
  if (help_or_usage(argc, argv, kScrubUsage, 1, &rc)) return rc;
  std::string sock;
  if (!socket_args("scrub", argc, argv, &sock)) return kExitUsage;
  int r =
      ipc::admin_call(sock.c_str(), ipc::Op::kScrubStart, nullptr, 0, nullptr, 0, nullptr, 10000);
  if (r == -EBUSY) {
    fprintf(stderr, "zvfs scrub: a scrub is already running; showing its progress\n");
  } else if (r < 0) {
    return daemon_error("scrub", r, sock.c_str());
  }
  bool tty = isatty(1);
  for (;;) {
    ipc::ScrubStatusRep st;
    size_t len = 0;
    r = ipc::admin_call(sock.c_str(), ipc::Op::kScrubStatus, nullptr, 0, &st, sizeof st, &len,
                        10000);
    if (r < 0) return daemon_error("scrub", r, sock.c_str());
    if (len != sizeof st) return kExitFail;
    double frac = st.bytes_total ? static_cast<double>(st.bytes_done) / st.bytes_total : 0;
    if (frac > 1) frac = 1;
    if (st.finished) frac = 1;
    int w = 40, fill = static_cast<int>(frac * w);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.resize(static_cast<size_t>(w), '.');
    printf("%sscrub [%s] %5.1f%%  %llu / %llu MiB  errors %llu%s", tty ? "\r" : "", bar.c_str(),
           frac * 100, static_cast<unsigned long long>(st.bytes_done >> 20),
           static_cast<unsigned long long>(st.bytes_total >> 20),
           static_cast<unsigned long long>(st.errors), tty ? "" : "\n");
    fflush(stdout);
    if (st.finished && !st.running) {
      printf("\n");
      if (st.status < 0) {
        fprintf(stderr, "zvfs scrub: failed: %s (see the daemon's log)\n", strerror(-st.status));
        return kExitFail;
      }
      if (st.errors) {
        fprintf(stderr, "zvfs scrub: %llu damaged blocks; the daemon's log lists them\n",
                static_cast<unsigned long long>(st.errors));
        return kExitFail;
      }
      printf("zvfs scrub: no errors\n");
      return kExitOk;
    }
    usleep(tty ? 200000 : 1000000);
  }
}

static int exec_preloaded(const char* cmd, char** argv);

static const char kRunUsage[] =
    "usage: zvfs run [--root PREFIX]... -- CMD ARGS...\n"
    "\n"
    "Runs CMD with libzvfs.so preloaded: files under PREFIX (default $ZVFS_ROOT or\n"
    "/zvfs; several --root allowed) keep their data in the ZVFS pool served by the\n"
    "daemon on $ZVFS_SOCKET. The library is found as ../lib/libzvfs.so next to this\n"
    "program, or at $ZVFS_LIB.\n";

int cmd_run(int argc, char** argv) {
  int rc;
  if (help_or_usage(argc, argv, kRunUsage, 2, &rc)) return rc;
  std::string roots;
  int i = 1;
  for (; i < argc; ++i) {
    if (!strcmp(argv[i], "--")) {
      ++i;
      break;
    }
    if (!strcmp(argv[i], "--root") && i + 1 < argc) {
      char real[PATH_MAX];
      const char* r = realpath(argv[i + 1], real) ? real : argv[i + 1];
      if (!roots.empty()) roots += ':';
      roots += r;
      ++i;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "zvfs run: unknown argument '%s' (the command goes after --)\n", argv[i]);
      return kExitUsage;
    } else {
      break;  // the command, without --
    }
  }
  if (i >= argc) {
    fprintf(stderr, "zvfs run: no command given (zvfs run -- CMD ARGS...)\n");
    return kExitUsage;
  }
  if (!roots.empty()) setenv("ZVFS_ROOT", roots.c_str(), 1);
  return exec_preloaded("run", argv + i);
}

// Whether the program `cmd` names (looked up in PATH as execvp does) looks like a file stored in
// ZVFS: a regular file with bytes but no data blocks, whose contents only the library can read.
// Anything else that matches (a fully sparse file) runs the same way through the shell.
static bool stored_in_zvfs(const char* cmd) {
  char found[PATH_MAX];
  const char* path = cmd;
  if (strchr(cmd, '/') == nullptr) {
    if (!zvfs::search_path(cmd, found, sizeof found)) return false;
    path = found;
  }
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && st.st_blocks == 0 &&
         access(path, X_OK) == 0;
}

// Replaces this process with argv[0] (looked up in PATH) running with the library preloaded.
// Returns only on failure: 1 without the library, 126/127 as a shell would.
static int exec_preloaded(const char* cmd, char** argv) {
  std::string lib = find_lib();
  if (lib.empty()) {
    fprintf(stderr,
            "zvfs %s: libzvfs.so not found next to %s (../lib/libzvfs.so); set "
            "ZVFS_LIB to its path\n",
            cmd, self_dir().c_str());
    return kExitFail;
  }
  const char* pre = getenv("LD_PRELOAD");
  std::string preload = lib;
  if (pre && *pre) {
    preload += ':';
    preload += pre;
  }
  setenv("LD_PRELOAD", preload.c_str(), 1);
  if (stored_in_zvfs(argv[0])) {
    // This process has no library: the kernel would read the empty placeholder. A shell with
    // the library runs it (as it runs any program stored in ZVFS).
    std::vector<char*> sh = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                             const_cast<char*>("exec \"$0\" \"$@\"")};
    for (char** a = argv; *a != nullptr; ++a) sh.push_back(*a);
    sh.push_back(nullptr);
    execv("/bin/sh", sh.data());
  }
  execvp(argv[0], argv);
  fprintf(stderr, "zvfs %s: cannot run %s: %s\n", cmd, argv[0], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}

static const char kCpUsage[] =
    "usage: zvfs cp [CP-OPTIONS] SOURCE... DEST\n"
    "\n"
    "Copies files into, out of or within ZVFS: runs cp(1) with libzvfs.so preloaded, so\n"
    "either side may lie under a prefix ($ZVFS_ROOT, the configuration file's root, or\n"
    "/zvfs). Every option is cp's (-r, -p, -a, --sparse=...). For programs that cannot be\n"
    "preloaded (static or setuid binaries), copy their input out and their output in.\n"
    "Exit code: cp's.\n";

int cmd_cp(int argc, char** argv) {
  int rc;
  if (help_or_usage(argc, argv, kCpUsage, 3, &rc)) return rc;
  std::vector<char*> args;
  args.push_back(const_cast<char*>("cp"));
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  return exec_preloaded("cp", args.data());
}

}  // namespace zvfs::cli
