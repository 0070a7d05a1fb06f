// init.cc — start-up of libzvfs.so inside an application.
//
// The constructor runs before main (and before most other libraries' constructors): it resolves
// the real libc entry points, reads ZVFS_LOG, the configuration file and ZVFS_ROOT, maps the
// descriptor table, installs the fork handlers and re-discovers ZVFS descriptors inherited across
// exec. Until it has run, every hook passes straight through (the table pointer is null), and no
// hook allocates or locks before it: a hook called from an earlier constructor only resolves its
// own real function.
//
// A process that never touches a prefix never connects to the daemon: the IPC session opens on
// the first attach.
#include <pthread.h>

#include "client/adopt.h"
#include "client/exec_handover.h"
#include "client/exec_image.h"
#include "client/fd_table.h"
#include "client/fsize_limit.h"
#include "client/hook.h"
#include "client/prefix.h"
#include "client/real.h"
#include "client/zlog.h"
#include "common/config.h"

namespace zvfs::client {
namespace {

void atfork_prepare() {
  fd_table_lock();
}
void atfork_parent() {
  fd_table_unlock();
}
void atfork_child() {
  fd_table_after_fork_child();
  aio_after_fork_child();
  exec_handover_after_fork_child();
}

__attribute__((constructor(101))) void zvfs_client_init() {
  resolve_all_real();
  zlog_init();
  // The configuration file ($ZVFS_CONFIG or /etc/zvfs/zvfs.conf), read through the real libc:
  // its `root`, `socket`, `timeout-ms` and `plain-suffixes` stand where the environment says
  // nothing. A file that cannot be used is logged and ignored (the program's output is its own).
  char msg[256];
  if (!load_process_config(nullptr, msg, sizeof msg, REAL(open), REAL(read), REAL(close)))
    zlog("configuration ignored: %s", msg);
  prefix_init(nullptr);
  plain_suffixes_init(nullptr);
  fsize_limit_refresh();
  if (!fd_table_init()) {
    zlog("cannot map the descriptor table: ZVFS disabled in this process");
    return;
  }
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  adopt_inherited_fds();
  exec_handover_finish();  // the previous image's session, kept open until now
  exec_image_started();
  for (int fd = 0; fd <= 2; ++fd) std_stream_update(fd);
}

// After every static initialiser of the library (default priority, later than the one above).
__attribute__((constructor)) void zvfs_client_started() {
  stdio_started();
}

}  // namespace
}  // namespace zvfs::client
