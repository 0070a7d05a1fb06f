// exec_handover.h — blob references kept alive across exec.
//
// The IPC session's socket is close-on-exec, so exec ends the session and the daemon drops the
// process's handles at once, while the new image attaches the inherited ZVFS descriptors again
// only in its constructor. In between, nothing references the blobs: if the last other holder
// (say the parent) closes an unlinked file then, its blob is freed under the new program. So an
// exec that keeps a ZVFS descriptor open keeps the session's socket open too (FD_CLOEXEC cleared
// just before, restored if exec fails) and names it in ZVFS_SESSION_FD; the new image closes
// it after re-attaching its descriptors, and removes the variable from its environment. A
// program started without the library keeps that socket (and the old session's references)
// until it exits.
//
// posix_spawn/posix_spawnp (glibc's call its internal execve) hand over the same way: the entry
// goes into the child's environment and the parent makes the socket close-on-exec again when the
// call returns, whether the spawn succeeded or not. Threads spawning at once share the hand-over:
// the socket stays inheritable until the last of them returns.
#pragma once

#include <errno.h>
#include <stdlib.h>

namespace zvfs::client {

// Before exec: the "ZVFS_SESSION_FD=N" entry to add to the new program's environment (a
// thread-local buffer), or nullptr when no ZVFS descriptor survives the exec (then nothing was
// changed).
const char* exec_handover_prepare();
// The exec failed (or the spawn returned): the session's socket becomes close-on-exec again,
// once no other thread's hand-over is in progress. Call once per non-null prepare.
void exec_handover_failed();
// atfork child: no hand-over is in progress in the new process.
void exec_handover_after_fork_child();
// In the new image, after the inherited descriptors were re-attached: closes the old session.
void exec_handover_finish();

// The environment `envp` plus `entry` (replacing any ZVFS_SESSION_FD=): a malloc'ed array (the
// strings are shared), or nullptr if out of memory.
char** env_with_entry(char* const envp[], const char* entry);

// Sets / removes ZVFS_SESSION_FD in the process's environment from an entry of
// exec_handover_prepare. Returns 0 or -1 (out of memory).
int exec_handover_setenv(const char* entry);
void exec_handover_unsetenv();

// Runs call(env) with `envp` plus the hand-over entry (envp itself when there is nothing to
// hand over), then undoes the hand-over: call returns only if the exec failed, or for a spawn.
// errno is what call left.
template <class Call>
auto with_handover_env(char* const envp[], Call&& call) {
  const char* entry = exec_handover_prepare();
  if (entry == nullptr) return call(envp);
  char** env = env_with_entry(envp, entry);
  if (env == nullptr) {
    exec_handover_failed();
    return call(envp);
  }
  auto r = call(env);
  int e = errno;
  free(env);
  exec_handover_failed();
  errno = e;
  return r;
}

// The same for calls that take the process's environment (execv, execvp): the entry is put
// into `environ` for the call.
template <class Call>
auto with_handover_environ(Call&& call) {
  const char* entry = exec_handover_prepare();
  if (entry == nullptr) return call();
  if (exec_handover_setenv(entry) != 0) {
    exec_handover_failed();
    return call();
  }
  auto r = call();
  int e = errno;
  exec_handover_unsetenv();
  exec_handover_failed();
  errno = e;
  return r;
}

}  // namespace zvfs::client
