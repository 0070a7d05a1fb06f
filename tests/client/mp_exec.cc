// mp_exec.cc — zvfs_mptest's subcommands for programs stored in ZVFS (client/exec_image.h).
//
//   exec-zvfs DIR-NAME      a script and an ELF program stored in ZVFS run through every exec
//                           call the library sees: the script under its interpreter with the
//                           arguments and $0 the kernel gives it, the program with its own name
//                           as comm; a PATH search finds them; nested interpreters work
//   exec-zvfs-refused NAME  the errors the kernel would give: no execute permission (EACCES), a
//                           script named by a close-on-exec descriptor (ENOENT), a "#!" line
//                           without interpreter or without end (ENOEXEC), interpreters nested
//                           too deep (ELOOP); the caller goes on working
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "mp_check.h"
#include "mp_cmds.h"

namespace zvfs::test {
namespace {

struct Outcome {
  int status = -1;  // waitpid status
  std::string out;  // what the program wrote to stdout
};

std::string drain(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

// Runs exec_fn in a child whose stdout is a pipe; if it returns, the child exits with 100 + errno.
Outcome run_exec(const std::function<void()>& exec_fn) {
  int p[2];
  CHECK(pipe(p) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    exec_fn();
    _exit(100 + errno);
  }
  close(p[1]);
  Outcome o;
  o.out = drain(p[0]);
  close(p[0]);
  CHECK(waitpid(pid, &o.status, 0) == pid);
  return o;
}

// The same for posix_spawn/posix_spawnp: the spawn's own result, the child's outcome. With
// `closefrom`, the child closes every descriptor from 3 on before the exec.
Outcome run_spawn(bool search, const char* prog, char* const argv[], int* spawn_rc,
                  bool closefrom = false) {
  int p[2];
  CHECK(pipe(p) == 0);
  posix_spawn_file_actions_t fa;
  CHECK(posix_spawn_file_actions_init(&fa) == 0);
  CHECK(posix_spawn_file_actions_adddup2(&fa, p[1], 1) == 0);
  CHECK(posix_spawn_file_actions_addclose(&fa, p[0]) == 0);
  if (closefrom) CHECK(posix_spawn_file_actions_addclosefrom_np(&fa, 3) == 0);
  pid_t pid = -1;
  *spawn_rc = search ? posix_spawnp(&pid, prog, &fa, nullptr, argv, environ)
                     : posix_spawn(&pid, prog, &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  Outcome o;
  o.out = drain(p[0]);
  close(p[0]);
  if (*spawn_rc == 0) CHECK(waitpid(pid, &o.status, 0) == pid);
  return o;
}

bool exited(const Outcome& o, int code) {
  return WIFEXITED(o.status) && WEXITSTATUS(o.status) == code;
}

void put_file(const std::string& name, const std::string& data, mode_t mode) {
  int fd = open(name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  CHECK(fd >= 0);
  CHECK(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  CHECK(fchmod(fd, mode) == 0);
  CHECK(close(fd) == 0);
}

// A copy of a system program (read from outside the prefix) stored in ZVFS.
void copy_program(const char* from, const std::string& to) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  CHECK(in >= 0);
  std::string data = drain(in);
  close(in);
  CHECK(data.size() > 1000);
  put_file(to, data, 0755);
}

// The script prints "$0|$*|its interpreter's comm" and exits 7.
constexpr char kScript[] = "#!/bin/sh -e  \necho \"$0|$*|$(cat /proc/$$/comm)\"\nexit 7\n";

int cmd_exec_zvfs(const char* name) {
  const std::string cwd = getcwd(nullptr, 0);
  const std::string script = name, abs = cwd + "/" + name, rel = "./" + script;
  put_file(script, kScript, 0755);
  char* const argv[] = {const_cast<char*>("argv0"), const_cast<char*>("a1"),
                        const_cast<char*>("a 2"), nullptr};
  const std::string want_abs = abs + "|a1 a 2|sh\n", want_rel = rel + "|a1 a 2|sh\n";
  Outcome o = run_exec([&] { execve(abs.c_str(), argv, environ); });
  CHECK(exited(o, 7) && o.out == want_abs);
  o = run_exec([&] { execv(rel.c_str(), argv); });
  CHECK(exited(o, 7) && o.out == want_rel);
  o = run_exec([&] { execvp(rel.c_str(), argv); });
  CHECK(exited(o, 7) && o.out == want_rel);
  o = run_exec([&] { execvpe(abs.c_str(), argv, environ); });
  CHECK(exited(o, 7) && o.out == want_abs);
  o = run_exec([&] { execl(abs.c_str(), "argv0", "x", static_cast<char*>(nullptr)); });
  CHECK(exited(o, 7) && o.out == abs + "|x|sh\n");
  o = run_exec([&] { execle(abs.c_str(), "argv0", static_cast<char*>(nullptr), environ); });
  CHECK(exited(o, 7) && o.out == abs + "||sh\n");
  o = run_exec([&] { execveat(AT_FDCWD, script.c_str(), argv, environ, 0); });
  CHECK(exited(o, 7) && o.out == script + "|a1 a 2|sh\n");
  // By descriptor: the interpreter opens /dev/fd/N, so N must stay open in the new program.
  int dir = open(".", O_PATH | O_DIRECTORY);
  CHECK(dir >= 0);
  o = run_exec([&] { execveat(dir, script.c_str(), argv, environ, 0); });
  CHECK(exited(o, 7) && o.out == "/dev/fd/" + std::to_string(dir) + "/" + script + "|a1 a 2|sh\n");
  int fd = open(script.c_str(), O_RDONLY);
  CHECK(fd >= 0);
  const std::string by_fd = "/dev/fd/" + std::to_string(fd) + "|a1 a 2|sh\n";
  o = run_exec([&] { execveat(fd, "", argv, environ, AT_EMPTY_PATH); });
  CHECK(exited(o, 7) && o.out == by_fd);
  o = run_exec([&] { fexecve(fd, argv, environ); });
  CHECK(exited(o, 7) && o.out == by_fd);
  int rc = -1;
  o = run_spawn(false, abs.c_str(), argv, &rc);
  CHECK(rc == 0 && exited(o, 7) && o.out == want_abs);

  // A new environment without the library: the interpreter could not read the script, so the
  // kernel hands it a copy as /dev/fd/N.
  std::vector<char*> bare;
  for (char** e = environ; *e != nullptr; ++e)
    if (strncmp(*e, "LD_PRELOAD=", 11) != 0) bare.push_back(*e);
  bare.push_back(nullptr);
  // (The interpreter's comm is the kernel's: for an exec by descriptor, its file's name.)
  auto by_copy = [](const Outcome& r) {
    return exited(r, 7) && r.out.rfind("/dev/fd/", 0) == 0 &&
           r.out.find("|a1 a 2|") != std::string::npos;
  };
  o = run_exec([&] { execve(abs.c_str(), argv, bare.data()); });
  CHECK(by_copy(o));
  {
    int p[2];
    CHECK(pipe(p) == 0);
    posix_spawn_file_actions_t fa;
    CHECK(posix_spawn_file_actions_init(&fa) == 0);
    CHECK(posix_spawn_file_actions_adddup2(&fa, p[1], 1) == 0);
    pid_t pid = -1;
    CHECK(posix_spawn(&pid, abs.c_str(), &fa, nullptr, argv, bare.data()) == 0);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    o.out = drain(p[0]);
    close(p[0]);
    CHECK(waitpid(pid, &o.status, 0) == pid);
    CHECK(by_copy(o));
  }

  // Found by a PATH search.
  const std::string old_path = getenv("PATH") != nullptr ? getenv("PATH") : "/usr/bin:/bin";
  CHECK(setenv("PATH", ("/nonexistent:" + cwd + ":" + old_path).c_str(), 1) == 0);
  const std::string want_found = cwd + "/" + script + "|a1 a 2|sh\n";
  o = run_exec([&] { execvp(script.c_str(), argv); });
  CHECK(exited(o, 7) && o.out == want_found);
  o = run_exec([&] { execlp(script.c_str(), "argv0", "a1", "a 2", static_cast<char*>(nullptr)); });
  CHECK(exited(o, 7) && o.out == want_found);
  o = run_spawn(true, script.c_str(), argv, &rc);
  CHECK(rc == 0 && exited(o, 7) && o.out == want_found);

  // An ELF program: runs from a copy, named after its file.
  copy_program("/bin/cat", "zcat");
  char* const cat_argv[] = {const_cast<char*>("cat"), const_cast<char*>("/proc/self/comm"),
                            nullptr};
  o = run_exec([&] { execv("./zcat", cat_argv); });
  CHECK(exited(o, 0) && o.out == "zcat\n");
  o = run_exec([&] { execvp("zcat", cat_argv); });
  CHECK(exited(o, 0) && o.out == "zcat\n");
  o = run_spawn(true, "zcat", cat_argv, &rc);
  CHECK(rc == 0 && exited(o, 0) && o.out == "zcat\n");
  o = run_spawn(false, "./zcat", cat_argv, &rc, /*closefrom=*/true);
  CHECK(rc == 0 && exited(o, 0) && o.out == "zcat\n");
  int cat_fd = open("zcat", O_RDONLY | O_CLOEXEC);
  CHECK(cat_fd >= 0);
  o = run_exec([&] { fexecve(cat_fd, cat_argv, environ); });
  CHECK(exited(o, 0) && o.out == "zcat\n");
  // It reads files in ZVFS itself (the library is in the new image too).
  char* const cat_script[] = {const_cast<char*>("cat"), const_cast<char*>(script.c_str()), nullptr};
  o = run_exec([&] { execv("./zcat", cat_script); });
  CHECK(exited(o, 0) && o.out == kScript);
  CHECK(setenv("PATH", old_path.c_str(), 1) == 0);

  // A script whose interpreter is a script in ZVFS: the kernel's rules, one level further.
  const std::string outer = script + "-outer";
  put_file(outer, "#!" + abs + "\nthis line is never run\n", 0755);
  o = run_exec([&] { execv(("./" + outer).c_str(), argv); });
  CHECK(exited(o, 7) && o.out == abs + "|./" + outer + " a1 a 2|sh\n");
  CHECK(close(fd) == 0 && close(cat_fd) == 0 && close(dir) == 0);
  return 0;
}

int cmd_exec_zvfs_refused(const char* name) {
  const std::string script = name;
  char* const argv[] = {const_cast<char*>("argv0"), nullptr};
  // Not executable: as the kernel, EACCES.
  put_file(script, kScript, 0644);
  errno = 0;
  CHECK(execv(script.c_str(), argv) == -1 && errno == EACCES);
  int rc = -1;
  (void)run_spawn(false, script.c_str(), argv, &rc);
  CHECK(rc == EACCES);
  // A script named by a descriptor that exec closes: the interpreter could not open it.
  CHECK(chmod(script.c_str(), 0755) == 0);
  int fd = open(script.c_str(), O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  errno = 0;
  CHECK(fexecve(fd, argv, environ) == -1 && errno == ENOENT);
  CHECK(close(fd) == 0);
  // "#!" lines the kernel does not run.
  put_file(script, "#!   \nexit 0\n", 0755);
  errno = 0;
  CHECK(execv(script.c_str(), argv) == -1 && errno == ENOEXEC);
  put_file(script, "#!/bin/sh" + std::string(300, ' ') + "x\n", 0755);
  errno = 0;
  CHECK(execv(script.c_str(), argv) == -1 && errno == ENOEXEC);
  // Interpreters nested five deep: ELOOP, as Linux refuses them.
  const std::string cwd = getcwd(nullptr, 0);
  put_file(script + "0", kScript, 0755);
  for (int i = 1; i <= 5; ++i) {
    put_file(script + std::to_string(i), "#!" + cwd + "/" + script + std::to_string(i - 1) + "\n",
             0755);
  }
  Outcome o = run_exec([&] { execv((script + "4").c_str(), argv); });
  CHECK(exited(o, 7));  // five scripts run
  // Also from a thread with a small stack: the levels keep no path buffers on it.
  o = run_exec([&] {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    pthread_t th;
    const std::string prog = script + "4";
    auto body = [](void* p) -> void* {
      char* const args[] = {const_cast<char*>("argv0"), nullptr};
      execv(static_cast<const std::string*>(p)->c_str(), args);
      _exit(100 + errno);
    };
    if (pthread_create(&th, &attr, body, const_cast<std::string*>(&prog)) == 0)
      pthread_join(th, nullptr);
  });
  CHECK(exited(o, 7));
  errno = 0;
  CHECK(execv((script + "5").c_str(), argv) == -1 && errno == ELOOP);
  // The caller goes on: its ZVFS files work.
  int w = open(script.c_str(), O_RDWR | O_TRUNC);
  CHECK(w >= 0 && write(w, "fine", 4) == 4);
  char back[4];
  CHECK(pread(w, back, 4, 0) == 4 && memcmp(back, "fine", 4) == 0);
  CHECK(close(w) == 0);
  return 0;
}

}  // namespace

int run_exec_command(const std::string& c, int argc, char** argv) {
  if (argc < 3) return -1;
  if (c == "exec-zvfs") return cmd_exec_zvfs(argv[2]);
  if (c == "exec-zvfs-refused") return cmd_exec_zvfs_refused(argv[2]);
  return -1;
}

}  // namespace zvfs::test
