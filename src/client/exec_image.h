// exec_image.h — running programs stored in ZVFS.
//
// The kernel executes a file by reading it itself, and a ZVFS file's placeholder holds no data.
// So every exec call the library sees (execve, execv, execvp, execvpe, execveat, fexecve,
// posix_spawn, posix_spawnp; the execl family goes through them) that names a ZVFS file runs a
// stand-in the kernel can read, chosen here:
//   - a script ("#!interpreter [argument]" in its first 256 bytes, parsed as the kernel parses
//     it): the interpreter, with the argument vector the kernel would build (interpreter, its
//     argument, the script's name as the kernel gives it, the caller's arguments after argv[0]).
//     The interpreter reads the script through the library, so $0 is what it would be. An
//     interpreter that is itself in ZVFS is resolved the same way (at most 5 scripts, as Linux).
//     If the new program's environment does not preload the library (a program that sets its
//     child's environment), the interpreter could not read the script: it runs as below, from
//     a copy the kernel hands the interpreter as /dev/fd/N (left open in the new program).
//   - anything else (an ELF program): a sealed copy of the file in an anonymous memory file
//     (memfd_create), executed by descriptor (posix_spawn: by its /proc/PID/fd path).
// Checked first as the kernel checks them: the caller may execute the file (faccessat X_OK with
// the effective ids) and its file system is not mounted noexec. Set-user-ID and set-group-ID
// bits are not applied (as on a nosuid mount; a log line says so).
//
// Invariant: a call that names no ZVFS file is left exactly as the program made it
// (`redirected` false): only a regular file with no data blocks is looked at beyond its stat.
// The copy's memory file is named "zvfs:<the program's file name>"; the new image, started with
// the library, takes the program's file name as its comm (exec_image_started), as the kernel
// would have given it. Unlike the file itself, a copied program's /proc/self/exe names the
// memory file.
#pragma once

#include <limits.h>

namespace zvfs::client {

struct ExecTarget {
  bool redirected = false;  // false: run the call as the program made it
  // What to run instead: execveat(dirfd, path, argv, envp, flags), or spawn_path for posix_spawn.
  int dirfd = -1;
  const char* path = nullptr;
  int flags = 0;
  char* const* argv = nullptr;
  const char* spawn_path = nullptr;
  // Owned (exec_target_release): the copy, the argument vectors built for scripts.
  int memfd = -1;
  void* owned[5] = {};  // one argument vector per script level
  char fd_path[40] = {};
  char found[PATH_MAX] = {};  // a program found by a PATH search
};

// What an exec of (dirfd, path) with `at_flags` (AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, as execveat
// takes them), `argv` and the new program's environment `envp` runs. 0 (see t->redirected), or
// -errno as the exec would have failed.
int exec_target_resolve(int dirfd, const char* path, int at_flags, char* const argv[],
                        char* const envp[], ExecTarget* t);
// The same for a name searched in PATH (execvp, execvpe, posix_spawnp): redirected only when the
// program the search finds first is stored in ZVFS. A name with a slash is a path.
int exec_target_resolve_search(const char* file, char* const argv[], char* const envp[],
                               ExecTarget* t);
// Frees what resolve made (after a failed exec, or in the parent after a spawn).
void exec_target_release(ExecTarget* t);
// Execs a redirected target with `envp` (and the session hand-over, exec_handover.h). Returns
// only on failure: -1 with errno, `t` released.
int exec_target_run(ExecTarget* t, char* const envp[]);
// Start-up of every image: a program copied by exec_target_resolve gets the comm the kernel would
// have given it (one prctl otherwise).
void exec_image_started();

}  // namespace zvfs::client
