// harness.h — running programs under libzvfs.so against a daemon started for the test.
//
// Zvfsd starts the daemon built in this tree in the foreground on a sparse pool file and a
// socket inside a fresh temporary directory, waits (bounded) until the socket accepts, and
// stops it by its PID (SIGTERM, bounded wait, then SIGKILL). run() executes a program with an
// extra environment and working directory, captures its stdout, and kills it if it outlives its
// time limit. Paths of the products come from compile definitions set by CMake.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace zvfs::test {

struct RunResult {
  int status = -1;  // exit status, or 128 + signal, or -1 if it could not run / timed out
  std::string out;  // stdout
  std::string err;  // stderr
};

// env entries "NAME=value" are added to (or replace in) the current environment; a later entry
// for the same name wins.
RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
              const std::string& cwd, int timeout_s = 120);

// A fresh directory under $TMPDIR (or /tmp), removed by remove_tree.
std::string make_temp_dir(const char* tag);
void remove_tree(const std::string& dir);

class Zvfsd {
 public:
  ~Zvfsd() { stop(); }
  // Starts the daemon on a pool of `size` (zvfsd --size); returns false (with a reason) if
  // it did not come up.
  bool start(std::string* why, const char* size = "2G");
  // Flags added to zvfsd's command line from the next start on.
  void set_extra_args(std::vector<std::string> args) { extra_args_ = std::move(args); }
  // Kills it (SIGKILL) and starts it again on the same pool and socket.
  bool restart(std::string* why);
  // Stops it (SIGTERM, then SIGKILL after a bounded wait); returns its exit status.
  int stop();
  void kill9();
  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }
  const std::string& dir() const { return dir_; }
  const std::string& log() const { return log_; }

 private:
  bool launch(std::string* why);
  pid_t pid_ = -1;
  std::string dir_, socket_, pool_, log_;
  std::string size_ = "2G";
  std::vector<std::string> extra_args_;
};

// The environment that preloads the library with `root` as the only prefix.
std::vector<std::string> preload_env(const std::string& root, const std::string& socket);

extern const char* const kLibPath;
extern const char* const kZvfsdPath;
extern const char* const kDiffProg;
extern const char* const kMpProg;

}  // namespace zvfs::test
