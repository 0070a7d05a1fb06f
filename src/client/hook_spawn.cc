// hook_spawn.cc — posix_spawn, posix_spawnp, fexecve and execveat: the other ways of starting a
// program, with the same hand-over of the IPC session as execve (exec_handover.h).
//
// glibc's posix_spawn/posix_spawnp and fexecve call its internal execve, which no hook sees, and
// execveat is a call of its own; so each is interposed here: a program stored in ZVFS runs as
// exec_image.h arranges (the kernel would execute the empty placeholder), and when a ZVFS
// descriptor survives into the new program, ZVFS_SESSION_FD goes into its environment (a copy of
// envp with the entry added) and the session's socket stays inheritable for
// the duration of the call. posix_spawn returns in the parent, so the socket is made
// close-on-exec again there, whether the spawn succeeded or failed; fexecve and execveat return
// only on failure, and undo it then.
//
// posix_spawn reports errors as its return value, the exec calls as -1 and errno.
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

#include "client/exec_handover.h"
#include "client/exec_image.h"
#include "client/fd_table.h"
#include "client/hook.h"
#include "client/real.h"

using namespace zvfs::client;

namespace zvfs::client {
namespace {

using SpawnFn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                        const posix_spawnattr_t*, char* const[], char* const[]);

SpawnFn real_spawn(SpawnFn* slot, const char* name) {
  if (*slot == nullptr) *slot = reinterpret_cast<SpawnFn>(resolve_next(name));
  return *slot;
}

SpawnFn real_posix_spawn() {
  static SpawnFn real = nullptr;
  return real_spawn(&real, "posix_spawn");
}

// A redirected spawn (exec_image.h) runs its stand-in with the non-searching posix_spawn `f`: a
// script's interpreter is a path, as the kernel takes it.
int spawn_target(SpawnFn f, ExecTarget* t, pid_t* pid, const posix_spawn_file_actions_t* actions,
                 const posix_spawnattr_t* attr, char* const envp[]) {
  int rc = with_handover_env(
      envp, [&](char* const* env) { return f(pid, t->spawn_path, actions, attr, t->argv, env); });
  exec_target_release(t);
  return rc;
}

}  // namespace
}  // namespace zvfs::client

ZVFS_HOOK int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                          const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  SpawnFn f = real_posix_spawn();
  if (f == nullptr) return ENOSYS;
  ExecTarget t;
  int r = exec_target_resolve(AT_FDCWD, path, 0, argv, envp, &t);
  if (r < 0) return -r;
  if (t.redirected) return spawn_target(f, &t, pid, actions, attr, envp);
  return with_handover_env(
      envp, [&](char* const* env) { return f(pid, path, actions, attr, argv, env); });
}

ZVFS_HOOK int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                           const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  static SpawnFn real = nullptr;
  SpawnFn f = real_spawn(&real, "posix_spawnp");
  SpawnFn plain = real_posix_spawn();
  if (f == nullptr || plain == nullptr) return ENOSYS;
  ExecTarget t;
  int r = exec_target_resolve_search(file, argv, envp, &t);
  if (r < 0) return -r;
  if (t.redirected) return spawn_target(plain, &t, pid, actions, attr, envp);
  return with_handover_env(
      envp, [&](char* const* env) { return f(pid, file, actions, attr, argv, env); });
}

ZVFS_HOOK int fexecve(int fd, char* const argv[], char* const envp[]) noexcept {
  ExecTarget t;
  int r = exec_target_resolve(fd, "", AT_EMPTY_PATH, argv, envp, &t);
  if (r < 0) return set_errno_result(r);
  if (t.redirected) return exec_target_run(&t, envp);
  return with_handover_env(envp, [&](char* const* env) { return REAL(fexecve)(fd, argv, env); });
}

ZVFS_HOOK int execveat(int dirfd, const char* path, char* const argv[], char* const envp[],
                       int flags) noexcept {
  ExecTarget t;
  int r = exec_target_resolve(dirfd, path, flags, argv, envp, &t);
  if (r < 0) return set_errno_result(r);
  if (t.redirected) return exec_target_run(&t, envp);
  return with_handover_env(
      envp, [&](char* const* env) { return REAL(execveat)(dirfd, path, argv, env, flags); });
}
