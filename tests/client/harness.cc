// harness.cc — see harness.h.
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

namespace zvfs::test {

const char* const kLibPath = ZVFS_TEST_LIB;
const char* const kZvfsdPath = ZVFS_TEST_ZVFSD;
const char* const kDiffProg = ZVFS_TEST_DIFFPROG;
const char* const kMpProg = ZVFS_TEST_MPPROG;

namespace {

double now_s() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::vector<std::string> merged_env(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    std::string name = kv.substr(0, kv.find('='));
    bool replaced = false;
    for (const auto& x : extra)
      if (x.substr(0, x.find('=')) == name) replaced = true;
    if (!replaced) env.push_back(kv);
  }
  // Later entries of `extra` override earlier ones.
  for (size_t i = 0; i < extra.size(); ++i) {
    std::string name = extra[i].substr(0, extra[i].find('='));
    bool overridden = false;
    for (size_t j = i + 1; j < extra.size(); ++j)
      if (extra[j].substr(0, extra[j].find('=')) == name) overridden = true;
    if (!overridden) env.push_back(extra[i]);
  }
  return env;
}

// Waits for pid until the deadline; kills it after. Returns the wait status or -1.
int wait_bounded(pid_t pid, double deadline) {
  int st = 0;
  while (true) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return st;
    if (r < 0) return -1;
    if (now_s() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    usleep(2000);
  }
}

}  // namespace

RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
              const std::string& cwd, int timeout_s) {
  RunResult res;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return res;
  std::vector<std::string> envs = merged_env(env);
  std::vector<char*> av, ev;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  for (const auto& e : envs) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    execve(av[0], av.data(), ev.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  double deadline = now_s() + timeout_s;
  struct pollfd pf[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_pipes = 2;
  char buf[65536];
  while (open_pipes > 0 && now_s() < deadline) {
    if (poll(pf, 2, 100) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (pf[i].fd < 0 || (pf[i].revents & (POLLIN | POLLHUP)) == 0) continue;
      ssize_t n = read(pf[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? res.out : res.err).append(buf, static_cast<size_t>(n));
      } else {
        close(pf[i].fd);
        pf[i].fd = -1;
        --open_pipes;
      }
    }
  }
  for (auto& p : pf)
    if (p.fd >= 0) close(p.fd);
  int st = wait_bounded(pid, deadline + 1);
  if (st == -1) {
    res.status = -1;
  } else if (WIFEXITED(st)) {
    res.status = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    res.status = 128 + WTERMSIG(st);
  }
  return res;
}

std::string make_temp_dir(const char* tag) {
  const char* base = getenv("TMPDIR");
  std::string tmpl =
      std::string(base != nullptr && base[0] != '\0' ? base : "/tmp") + "/zvfs-" + tag + "-XXXXXX";
  std::vector<char> b(tmpl.begin(), tmpl.end());
  b.push_back('\0');
  if (mkdtemp(b.data()) == nullptr) return "";
  return std::string(b.data());
}

void remove_tree(const std::string& dir) {
  if (dir.size() < 6) return;
  RunResult r = run({"/bin/rm", "-rf", dir}, {}, "", 60);
  (void)r;
}

std::vector<std::string> preload_env(const std::string& root, const std::string& socket) {
  return {std::string("LD_PRELOAD=") + ZVFS_TEST_PRELOAD_FIRST + kLibPath, "ZVFS_ROOT=" + root,
          "ZVFS_SOCKET=" + socket, "ASAN_OPTIONS=detect_leaks=0", "ZVFS_TIMEOUT_MS=20000"};
}

bool Zvfsd::start(std::string* why, const char* size) {
  size_ = size;
  dir_ = make_temp_dir("daemon");
  if (dir_.empty()) {
    *why = "mkdtemp failed";
    return false;
  }
  socket_ = dir_ + "/zvfs.sock";
  pool_ = dir_ + "/pool.img";
  log_ = dir_ + "/zvfsd.log";
  return launch(why);
}

bool Zvfsd::restart(std::string* why) {
  kill9();
  // The dead daemon's pool lock can outlive it briefly (the kernel tears its io_uring rings
  // down asynchronously): retry for a bounded time.
  double deadline = now_s() + 30;
  while (true) {
    if (launch(why)) return true;
    if (now_s() > deadline) return false;
    usleep(100 * 1000);
  }
}

bool Zvfsd::launch(std::string* why) {
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open((dir_ + "/zvfsd.out").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<std::string> args = {kZvfsdPath, "--pool", pool_,   "--size", size_,
                                     "--socket", socket_,  "--log", log_,     "--foreground"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(kZvfsdPath, argv.data());
    _exit(127);
  }
  if (pid_ < 0) {
    *why = "fork failed";
    return false;
  }
  double deadline = now_s() + 60;
  while (now_s() < deadline) {
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      *why = "zvfsd exited during start-up; see " + dir_ + "/zvfsd.out";
      return false;
    }
    int s = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, socket_.c_str(), sizeof a.sun_path - 1);
    bool ok = s >= 0 && connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (s >= 0) close(s);
    if (ok) return true;
    usleep(20000);
  }
  *why = "zvfsd did not accept connections within 60 s";
  stop();
  return false;
}

int Zvfsd::stop() {
  if (pid_ <= 0) return 0;
  kill(pid_, SIGTERM);
  int st = wait_bounded(pid_, now_s() + 30);
  pid_ = -1;
  if (st == -1) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void Zvfsd::kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace zvfs::test
