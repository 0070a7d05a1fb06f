// commands.h — the `zvfs` command line: one function per subcommand.
//
// Exit codes (all subcommands):
//   0  success
//   1  the operation failed (message says why and what to do)
//   2  usage error (bad flags)
//   3  no daemon answers on the socket (status, down, scrub)
//   4  fsck: problems found and left unrepaired
#pragma once

#include <string>

namespace zvfs::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFail = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNoDaemon = 3;
inline constexpr int kExitProblems = 4;

int cmd_up(int argc, char** argv);
int cmd_down(int argc, char** argv);
int cmd_status(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_cp(int argc, char** argv);
int cmd_scrub(int argc, char** argv);
int cmd_fsck(int argc, char** argv);
int cmd_upgrade(int argc, char** argv);
int cmd_grow(int argc, char** argv);
int cmd_create(int argc, char** argv);

// Helpers shared by the subcommands.
std::string self_dir();  // directory of the running zvfs binary
std::string default_pool();
// -h/--help (before any "--") prints `usage` to stdout and sets *rc = 0; fewer than `min_argc`
// arguments (argv[0] counts) print it to stderr and set *rc = 2. Returns true in both cases:
// the subcommand returns *rc without running.
bool help_or_usage(int argc, char** argv, const char* usage, int min_argc, int* rc);
// Prints a message for a failed daemon request: no daemon, permission, protocol.
int daemon_error(const char* what, int err, const char* socket);

}  // namespace zvfs::cli
