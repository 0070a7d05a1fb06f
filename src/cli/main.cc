// main.cc — `zvfs`: the command line (git/zpool style subcommands). See commands.h.
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/config.h"

namespace {

const char kUsage[] =
    "usage: zvfs <command> [options]\n"
    "\n"
    "Daemon:\n"
    "  up        start zvfsd on the default pool ($ZVFS_POOL or /var/lib/zvfs/default.pool)\n"
    "  down      stop the daemon cleanly (pool exported)\n"
    "  status    pool, clients, per-operation counts and latencies (--json for scripts)\n"
    "  scrub     verify every block of the pool, with a progress bar\n"
    "Applications:\n"
    "  run       run a command with ZVFS preloaded: zvfs run [--root PREFIX] -- CMD ARGS...\n"
    "  cp        copy files in or out: zvfs cp [CP-OPTIONS] SOURCE... DEST (cp, preloaded)\n"
    "Pools (offline, no daemon on the pool):\n"
    "  create    create a pool: zvfs create POOL --size SIZE\n"
    "  fsck      check (and repair) a pool: zvfs fsck POOL [--repair] [--root DIR]...\n"
    "  upgrade   move a pool to this build's on-disk format: zvfs upgrade POOL\n"
    "  grow      make a pool larger: zvfs grow POOL [--size SIZE]\n"
    "\n"
    "Environment: ZVFS_SOCKET (or ZVFS_SOCKET_PATH) the daemon's socket\n"
    "             (default /run/zvfs/zvfs.sock), ZVFS_POOL, ZVFS_ROOT (colon-separated\n"
    "             prefixes, default /zvfs), ZVFS_LIB (libzvfs.so), ZVFS_LOG, ZVFS_TIMEOUT_MS,\n"
    "             ZVFS_PLAIN_SUFFIXES (new files that stay plain, default -shm),\n"
    "             ZVFS_WRITE_BEHIND (0: writes wait until the daemon has applied them),\n"
    "             ZVFS_CONFIG (configuration file, default /etc/zvfs/zvfs.conf: `name = value`\n"
    "             lines for what the environment does not set; see zvfsd --help).\n"
    "Run 'zvfs <command> --help' for a command's options.\n"
    "Exit codes: 0 ok, 1 failed, 2 usage, 3 no daemon, 4 fsck found problems left unrepaired.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace zvfs::cli;
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
      !strcmp(argv[1], "help")) {
    fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? kExitUsage : kExitOk;
  }
  // The configuration file's socket, root and pool stand where the environment says nothing.
  char msg[512];
  if (!zvfs::load_process_config(nullptr, msg, sizeof msg)) {
    fprintf(stderr, "zvfs: %s\n", msg);
    return kExitFail;
  }
  struct {
    const char* name;
    int (*fn)(int, char**);
  } cmds[] = {{"up", cmd_up},     {"down", cmd_down},     {"status", cmd_status},
              {"run", cmd_run},   {"cp", cmd_cp},         {"scrub", cmd_scrub},
              {"fsck", cmd_fsck}, {"create", cmd_create}, {"upgrade", cmd_upgrade},
              {"grow", cmd_grow}};
  for (auto& c : cmds)
    if (!strcmp(argv[1], c.name)) return c.fn(argc - 1, argv + 1);
  fprintf(stderr, "zvfs: '%s' is not a command. See 'zvfs --help'.\n", argv[1]);
  return kExitUsage;
}
