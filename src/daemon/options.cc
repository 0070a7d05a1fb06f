// options.cc — zvfsd's flags (see options.h and `zvfsd --help`).
#include "daemon/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/roots.h"
#include "ipc/protocol.h"
#include "ipc/sock.h"

namespace zvfs::daemon {

static const char kUsage[] =
    "usage: zvfsd --pool PATH [options]\n"
    "\n"
    "Serves the ZVFS pool at PATH to client processes over a Unix socket.\n"
    "Creates PATH as a sparse file of --size bytes if it does not exist.\n"
    "Daemonizes unless --foreground; returns only once the socket accepts connections.\n"
    "\n"
    "  --pool PATH          pool file or block device (required)\n"
    "  --size SIZE          size when creating the pool (default 8G; K/M/G/T suffixes)\n"
    "  --socket PATH        socket path (default $ZVFS_SOCKET, $ZVFS_SOCKET_PATH,\n"
    "                       or /run/zvfs/zvfs.sock)\n"
    "  --socket-mode MODE   socket permissions, octal (default 0666: authorization rests on\n"
    "                       the file descriptors clients pass)\n"
    "  --socket-group GRP   group owning the socket (with --socket-mode 0660 to restrict)\n"
    "  --foreground         do not daemonize\n"
    "  --cache SIZE         block cache size (default: engine default, 256M)\n"
    "  --log FILE           log file (default: stderr in the foreground, none otherwise)\n"
    "  --log-level LEVEL    debug, info, warn, error (default info)\n"
    "  --pidfile FILE       write the daemon's pid there\n"
    "  --binding KIND       xattr binding files to blobs: auto (trusted.* as root, else\n"
    "                       user.*), user, trusted\n"
    "  --session-workers N  worker threads per client session (default 4)\n"
    "  --slots N            shared-memory request slots per session (default 16)\n"
    "  --slot-size SIZE     data buffer per slot (default 1M)\n"
    "  --max-sessions N     connections beyond this are refused (default 1024)\n"
    "  --max-sessions-per-user N\n"
    "                       connections of one uid beyond this are refused with EUSERS\n"
    "                       (default 256; 0: no limit; root is limited too)\n"
    "  --handshake-ms N     close a connection idle this long before its handshake\n"
    "                       (default 10000)\n"
    "  --txg-ms N           transaction group interval (default: engine default)\n"
    "  --buffered           do not use O_DIRECT on the pool file\n"
    "  --no-guard           let programs without libzvfs.so read and write the placeholders\n"
    "                       (by default, as root, such accesses fail with EPERM and a log\n"
    "                       line: they would see zeros and write bytes nobody reads)\n"
    "  --root PREFIXES      the ZVFS mount prefixes, colon-separated absolute paths (default\n"
    "                       $ZVFS_ROOT, else /zvfs; may be repeated): at start the guard\n"
    "                       marks every directory below them, so that placeholders no client\n"
    "                       has opened since are guarded too\n"
    "  --lock-wait MS       how long to wait for a pool still locked by another process,\n"
    "                       e.g. a daemon killed a moment ago (default 10000)\n"
    "  -h, --help           this help\n";

namespace {

// Appends the entries of a colon-separated list to roots. A relative entry is skipped (as the
// library skips it) or, when strict, reported and refused.
bool add_roots(const char* list, bool strict, std::vector<std::string>* roots) {
  bool ok = true;
  split_colon_list(list, [&](const char* s, size_t len) {
    if (s[0] == '/') {
      roots->emplace_back(s, len);
    } else if (strict) {
      fprintf(stderr, "zvfsd: --root: '%.*s' is not an absolute path\n", static_cast<int>(len), s);
      ok = false;
    }
  });
  return ok;
}

}  // namespace

int parse_options(int argc, char** argv, Options* o) {
  o->socket = ipc::default_socket_path();
  o->roots.clear();
  add_roots(root_list(nullptr), false, &o->roots);
  bool roots_given = false;  // the first --root replaces the default, later ones add to it
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    auto need = [&](const char* what) -> const char* {
      if (i + 1 >= argc) {
        fprintf(stderr, "zvfsd: %s needs a value (%s)\n", a, what);
        return nullptr;
      }
      return argv[++i];
    };
    auto size_arg = [&](uint64_t* out) {
      const char* v = need("a size like 256M or 8G");
      if (!v) return false;
      if (!ipc::parse_size(v, out)) {
        fprintf(stderr, "zvfsd: %s: '%s' is not a size (try 256M or 8G)\n", a, v);
        return false;
      }
      return true;
    };
    auto num_arg = [&](uint32_t* out, uint32_t lo, uint32_t hi) {
      const char* v = need("a number");
      if (!v) return false;
      char* end = nullptr;
      unsigned long n = strtoul(v, &end, 10);
      if (!*v || *end || n < lo || n > hi) {
        fprintf(stderr, "zvfsd: %s: '%s' must be a number in [%u, %u]\n", a, v, lo, hi);
        return false;
      }
      *out = static_cast<uint32_t>(n);
      return true;
    };
    auto str_arg = [&](std::string* out, const char* what) {
      const char* v = need(what);
      if (v) *out = v;
      return v != nullptr;
    };
    const char* v = nullptr;
    uint64_t sz = 0;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(kUsage, stdout);
      return 2;
    } else if (!strcmp(a, "--pool")) {
      if (!str_arg(&o->pool, "a path")) return 1;
    } else if (!strcmp(a, "--size")) {
      if (!size_arg(&o->size)) return 1;
    } else if (!strcmp(a, "--socket")) {
      if (!str_arg(&o->socket, "a path")) return 1;
    } else if (!strcmp(a, "--socket-mode")) {
      if (!(v = need("an octal mode"))) return 1;
      char* end = nullptr;
      unsigned long m = strtoul(v, &end, 8);
      if (!*v || *end || m > 0777) {
        fprintf(stderr, "zvfsd: --socket-mode: '%s' is not an octal mode like 0660\n", v);
        return 1;
      }
      o->socket_mode = static_cast<unsigned>(m);
    } else if (!strcmp(a, "--socket-group")) {
      if (!str_arg(&o->socket_group, "a group name or id")) return 1;
    } else if (!strcmp(a, "--foreground") || !strcmp(a, "-f")) {
      o->foreground = true;
    } else if (!strcmp(a, "--cache")) {
      if (!size_arg(&o->cache)) return 1;
    } else if (!strcmp(a, "--log")) {
      if (!str_arg(&o->log_file, "a file")) return 1;
    } else if (!strcmp(a, "--log-level")) {
      if (!str_arg(&o->log_level, "debug|info|warn|error")) return 1;
    } else if (!strcmp(a, "--pidfile")) {
      if (!str_arg(&o->pidfile, "a file")) return 1;
    } else if (!strcmp(a, "--binding")) {
      if (!(v = need("auto|user|trusted"))) return 1;
      if (strcmp(v, "auto") && strcmp(v, "user") && strcmp(v, "trusted")) {
        fprintf(stderr, "zvfsd: --binding: '%s' is not one of auto, user, trusted\n", v);
        return 1;
      }
      o->binding = v;
    } else if (!strcmp(a, "--session-workers")) {
      if (!num_arg(&o->session_workers, 1, 64)) return 1;
    } else if (!strcmp(a, "--slots")) {
      if (!num_arg(&o->slot_count, 1, 64)) return 1;
    } else if (!strcmp(a, "--slot-size")) {
      if (!size_arg(&sz)) return 1;
      if (sz < 4096 || sz > (64u << 20) || sz % 4096) {
        fprintf(stderr, "zvfsd: --slot-size must be a multiple of 4K between 4K and 64M\n");
        return 1;
      }
      o->slot_bytes = static_cast<uint32_t>(sz);
    } else if (!strcmp(a, "--max-sessions")) {
      if (!num_arg(&o->max_sessions, 1, 65536)) return 1;
    } else if (!strcmp(a, "--max-sessions-per-user")) {
      if (!num_arg(&o->max_sessions_per_user, 0, 65536)) return 1;
    } else if (!strcmp(a, "--handshake-ms")) {
      if (!num_arg(&o->handshake_ms, 1, 600000)) return 1;
    } else if (!strcmp(a, "--txg-ms")) {
      if (!num_arg(&o->txg_ms, 1, 600000)) return 1;
    } else if (!strcmp(a, "--lock-wait")) {
      if (!num_arg(&o->lock_wait_ms, 0, 600000)) return 1;
    } else if (!strcmp(a, "--buffered")) {
      o->buffered = true;
    } else if (!strcmp(a, "--no-guard")) {
      o->guard = false;
    } else if (!strcmp(a, "--root")) {
      if (!(v = need("colon-separated absolute paths"))) return 1;
      if (!roots_given) o->roots.clear();
      roots_given = true;
      if (!add_roots(v, true, &o->roots)) return 1;
    } else {
      fprintf(stderr, "zvfsd: unknown argument '%s' (see zvfsd --help)\n", a);
      return 1;
    }
  }
  if (o->pool.empty()) {
    fprintf(stderr, "zvfsd: --pool PATH is required (see zvfsd --help)\n");
    return 1;
  }
  return 0;
}

}  // namespace zvfs::daemon
