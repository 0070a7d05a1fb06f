// mp_spawn.cc — zvfs_mptest's subcommands for programs started by posix_spawn, posix_spawnp,
// fexecve and execveat (the new program is zvfs_mptest itself, run as exec-child or
// exec-unlinked-child, see mp_prog.cc).
//
//   spawn FILE               each way of starting a program: the new program reads and writes
//                            an inherited ZVFS descriptor (shared offset included)
//   spawn-parent-exits FILE  posix_spawn of a shell without the library that starts the
//                            reader only after its parent exited holding an unlinked file: the
//                            session handed over keeps the blob alive until the reader attaches
//   spawn-threads FILE       threads spawning at once all hand the session over
//   spawn-fail FILE          failed spawns and execs (no such program, a program stored in
//                            ZVFS without execute permission) leave the caller working, its
//                            session close-on-exec
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "mp_check.h"
#include "mp_cmds.h"

namespace zvfs::test {
namespace {

std::string lines() {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += "inherited line " + std::to_string(i) + "\n";
  return data;
}

// Starts `self exec-child FD CLOEXEC_FD` the way `how` says; returns its pid (or -1).
pid_t start(const std::string& how, const char* self, int fd, int cloexec_fd) {
  std::string a = std::to_string(fd), b = std::to_string(cloexec_fd);
  char* const argv[] = {const_cast<char*>(self), const_cast<char*>("exec-child"), a.data(),
                        b.data(), nullptr};
  pid_t pid = -1;
  if (how == "posix_spawn") {
    CHECK(posix_spawn(&pid, self, nullptr, nullptr, argv, environ) == 0);
    return pid;
  }
  if (how == "posix_spawnp") {
    CHECK(posix_spawnp(&pid, self, nullptr, nullptr, argv, environ) == 0);
    return pid;
  }
  pid = fork();
  CHECK(pid >= 0);
  if (pid > 0) return pid;
  if (how == "fexecve") {
    int prog = open(self, O_RDONLY | O_CLOEXEC);
    fexecve(prog, argv, environ);
  } else if (how == "execveat") {
    execveat(AT_FDCWD, self, argv, environ, 0);
  } else {
    int prog = open(self, O_PATH | O_CLOEXEC);
    execveat(prog, "", argv, environ, AT_EMPTY_PATH);
  }
  _exit(127);
}

int cmd_spawn(const char* self, const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::string data = lines();
  CHECK(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  // Close-on-exec, at a number the new program's library will not reuse for its own.
  int low = open(file, O_RDONLY | O_CLOEXEC);
  CHECK(low >= 0);
  int cloexec = fcntl(low, F_DUPFD_CLOEXEC, 200);
  CHECK(cloexec >= 200 && close(low) == 0);
  for (const char* how : {"posix_spawn", "posix_spawnp", "fexecve", "execveat", "execveat-fd"}) {
    CHECK(ftruncate(fd, static_cast<off_t>(data.size())) == 0);
    CHECK(lseek(fd, 100, SEEK_SET) == 100);
    pid_t pid = start(how, self, fd, cloexec);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
    if (WEXITSTATUS(st) != 0) {
      fprintf(stderr, "the program started by %s failed\n", how);
      return WEXITSTATUS(st);
    }
    // It read 200 bytes from the shared offset, then appended "child\n".
    CHECK(lseek(fd, 0, SEEK_CUR) == static_cast<off_t>(data.size() + 6));
    char tail[6];
    CHECK(pread(cloexec, tail, 6, static_cast<off_t>(data.size())) == 6);
    CHECK(memcmp(tail, "child\n", 6) == 0);
  }
  CHECK(close(cloexec) == 0 && close(fd) == 0);
  return 0;
}

// The environment without LD_PRELOAD (a program started with it runs without the library).
std::vector<char*> env_without_preload() {
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (strncmp(*e, "LD_PRELOAD=", 11) != 0) env.push_back(*e);
  env.push_back(nullptr);
  return env;
}

int cmd_spawn_parent_exits(const char* self, const char* file) {
  const char* preload = getenv("LD_PRELOAD");
  CHECK(preload != nullptr);
  // Orphans are re-parented here, so the reader's exit status can be collected.
  CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  pid_t parent = fork();
  CHECK(parent >= 0);
  if (parent == 0) {
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    std::string data = exec_unlinked_data();
    CHECK(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    CHECK(unlink(file) == 0);
    int go[2];
    CHECK(pipe2(go, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    CHECK(posix_spawn_file_actions_init(&fa) == 0);
    CHECK(posix_spawn_file_actions_adddup2(&fa, go[0], 0) == 0);
    // The shell waits until this process is gone (its end of the pipe closed), then starts the
    // reader with the library.
    std::string a = std::to_string(fd);
    const char* script = "read x; exec env LD_PRELOAD=\"$1\" \"$0\" exec-unlinked-child \"$2\"";
    char* const argv[] = {const_cast<char*>("sh"),
                          const_cast<char*>("-c"),
                          const_cast<char*>(script),
                          const_cast<char*>(self),
                          const_cast<char*>(preload),
                          a.data(),
                          nullptr};
    std::vector<char*> env = env_without_preload();
    pid_t sh = -1;
    CHECK(posix_spawn(&sh, "/bin/sh", &fa, nullptr, argv, env.data()) == 0);
    exit(0);  // without closing fd: the exit ends this process's session
  }
  int st;
  CHECK(waitpid(parent, &st, 0) == parent && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  pid_t reader = waitpid(-1, &st, 0);
  CHECK(reader > 0 && WIFEXITED(st));
  return WEXITSTATUS(st);
}

// Every socket this process holds (the library's session) is close-on-exec.
bool sockets_cloexec() {
  int n = 0;
  for (int fd = 3; fd < 1024; ++fd) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    ++n;
    if ((fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0) return false;
  }
  return n > 0;
}

// Threads spawning at once: each program gets the session's socket (a shell without the library
// checks that ZVFS_SESSION_FD names an open socket), and afterwards it is close-on-exec again.
int cmd_spawn_threads(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  std::vector<char*> env = env_without_preload();
  const char* script = "[ -n \"$ZVFS_SESSION_FD\" ] && [ -S /proc/self/fd/$ZVFS_SESSION_FD ]";
  char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>(script),
                        nullptr};
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        pid_t pid = -1;
        int st = 0;
        if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, env.data()) != 0 ||
            waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
          ++bad;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(bad == 0);
  CHECK(sockets_cloexec());
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_spawn_fail(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, "still here", 10) == 10);
  char* const argv[] = {const_cast<char*>("nothing"), nullptr};
  pid_t pid = -1;
  CHECK(posix_spawn(&pid, "/nonexistent/program", nullptr, nullptr, argv, environ) == ENOENT);
  CHECK(sockets_cloexec());
  CHECK(posix_spawnp(&pid, "zvfs-no-such-program", nullptr, nullptr, argv, environ) == ENOENT);
  CHECK(sockets_cloexec());
  CHECK(fexecve(1000, argv, environ) == -1 && errno == EBADF);
  CHECK(sockets_cloexec());
  CHECK(execveat(AT_FDCWD, "/nonexistent/program", argv, environ, 0) == -1 && errno == ENOENT);
  CHECK(sockets_cloexec());
  CHECK(getenv("ZVFS_SESSION_FD") == nullptr);
  // A program stored in ZVFS that may not be executed: refused as the kernel refuses it.
  int prog = open("prog.sh", O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(prog >= 0 && fchmod(prog, 0644) == 0);
  const char script[] = "#!/bin/sh\nexit 0\n";
  CHECK(write(prog, script, sizeof script - 1) == static_cast<ssize_t>(sizeof script - 1));
  std::string path = std::string(getcwd(nullptr, 0)) + "/prog.sh";
  CHECK(posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv, environ) == EACCES);
  CHECK(posix_spawnp(&pid, path.c_str(), nullptr, nullptr, argv, environ) == EACCES);
  CHECK(fexecve(prog, argv, environ) == -1 && errno == EACCES);
  CHECK(execveat(AT_FDCWD, "prog.sh", argv, environ, 0) == -1 && errno == EACCES);
  CHECK(execveat(prog, "", argv, environ, AT_EMPTY_PATH) == -1 && errno == EACCES);
  CHECK(sockets_cloexec());
  // The caller's ZVFS descriptor still works.
  char back[10];
  CHECK(pread(fd, back, 10, 0) == 10 && memcmp(back, "still here", 10) == 0);
  CHECK(close(prog) == 0 && close(fd) == 0);
  return 0;
}

}  // namespace

int run_spawn_command(const std::string& c, int, char** argv) {
  const char* f = argv[2];
  if (c == "spawn") return cmd_spawn(argv[0], f);
  if (c == "spawn-parent-exits") return cmd_spawn_parent_exits(argv[0], f);
  if (c == "spawn-fail") return cmd_spawn_fail(f);
  if (c == "spawn-threads") return cmd_spawn_threads(f);
  return -1;
}

}  // namespace zvfs::test
