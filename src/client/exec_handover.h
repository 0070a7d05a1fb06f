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
#pragma once

namespace zvfs::client {

// Before exec: the "ZVFS_SESSION_FD=N" entry to add to the new program's environment (a static
// buffer), or nullptr when no ZVFS descriptor survives the exec (then nothing was changed).
const char* exec_handover_prepare();
// The exec failed: the session's socket becomes close-on-exec again.
void exec_handover_failed();
// In the new image, after the inherited descriptors were re-attached: closes the old session.
void exec_handover_finish();

// The environment `envp` plus `entry` (replacing any ZVFS_SESSION_FD=): a malloc'ed array (the
// strings are shared), or nullptr if out of memory.
char** env_with_entry(char* const envp[], const char* entry);

}  // namespace zvfs::client
