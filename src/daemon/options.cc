// options.cc — zvfsd's flags (see options.h and `zvfsd --help`).
#include "daemon/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <initializer_list>
#include <string>

#include "common/config.h"
#include "common/roots.h"
#include "common/size_text.h"
#include "ipc/protocol.h"
#include "ipc/sock.h"
#include "zvfs/blob.h"

namespace zvfs::daemon {

static const char kUsage[] =
    "usage: zvfsd [--pool PATH] [options]\n"
    "\n"
    "Serves the ZVFS pool at PATH to client processes over a Unix socket.\n"
    "Creates PATH as a sparse file of --size bytes if it does not exist.\n"
    "Daemonizes unless --foreground; returns only once the socket accepts connections.\n"
    "\n"
    "  --config FILE        configuration file (default $ZVFS_CONFIG, else\n"
    "                       /etc/zvfs/zvfs.conf if it exists; see below)\n"
    "  --pool PATH          pool file or block device (required, here or in the file)\n"
    "  --size SIZE          size when creating the pool (default 8G; K/M/G/T suffixes)\n"
    "  --block-size SIZE    data block size when creating the pool, a power of two from\n"
    "                       4K to 1M (default 16K); writes smaller than a block copy the\n"
    "                       rest of it: match the application's page (8K for PostgreSQL)\n"
    "  --socket PATH        socket path (default $ZVFS_SOCKET, $ZVFS_SOCKET_PATH,\n"
    "                       or /run/zvfs/zvfs.sock)\n"
    "  --socket-mode MODE   socket permissions, octal (default 0666: authorization rests on\n"
    "                       the file descriptors clients pass)\n"
    "  --socket-group GRP   group owning the socket (with --socket-mode 0660 to restrict)\n"
    "  --foreground         do not daemonize\n"
    "  --cache SIZE         block cache size (default: engine default, 256M)\n"
    "  --log FILE           log file (default: stderr in the foreground, none otherwise)\n"
    "  --log-level LEVEL    debug, info, warn, error, off (default info)\n"
    "  --pidfile FILE       write the daemon's pid there\n"
    "  --binding KIND       xattr binding files to blobs: auto (trusted.* as root, else\n"
    "                       user.*), user, trusted\n"
    "  --session-workers N  worker threads per client session (default 4)\n"
    "  --poll-us N          after a request, one worker per session polls this many\n"
    "                       microseconds for the next one before it sleeps (default 1000;\n"
    "                       0: never). A polling worker answers in under 1 us where waking\n"
    "                       a sleeping one takes up to 50 us, at the cost of CPU time; at\n"
    "                       most CPUs - 1 workers poll (1 on one CPU), none while several\n"
    "                       clients oversubscribe the CPUs\n"
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
    "  --write-behind yes|no\n"
    "                       let clients answer a small overwrite before the daemon has\n"
    "                       applied it (default no; docs/PROTOCOL.md)\n"
    "  --root PREFIXES      the ZVFS mount prefixes, colon-separated absolute paths (default\n"
    "                       $ZVFS_ROOT, else /zvfs; may be repeated): at start the guard\n"
    "                       marks every directory below them, so that placeholders no client\n"
    "                       has opened since are guarded too\n"
    "  --lock-wait MS       how long to wait for a pool still locked by another process,\n"
    "                       e.g. a daemon killed a moment ago (default 10000)\n"
    "  -h, --help           this help\n"
    "\n"
    "The configuration file holds `name = value` lines (# comments) with the long options\n"
    "above as names (`cache = 1G`, `root = /zvfs:/data`; buffered, guard and write-behind take\n"
    "yes or no; not foreground), and the library's `timeout-ms` and `plain-suffixes`; the\n"
    "library also reads `write-behind` (no: it never answers a write early). The library and\n"
    "zvfs read its socket and root too. Flags win over the environment ($ZVFS_SOCKET,\n"
    "$ZVFS_ROOT), which wins over the file.\n";

namespace {

// Appends the entries of a colon-separated list to roots. A relative entry is skipped (as the
// library skips it) or, when strict, reported and refused.
bool add_roots(const char* list, bool strict, const char* where, std::vector<std::string>* roots) {
  bool ok = true;
  split_colon_list(list, [&](const char* s, size_t len) {
    if (s[0] == '/') {
      roots->emplace_back(s, len);
    } else if (strict) {
      fprintf(stderr, "zvfsd: %s: '%.*s' is not an absolute path\n", where, static_cast<int>(len),
              s);
      ok = false;
    }
  });
  return ok;
}

bool parse_bool(const char* v, bool* out) {
  static constexpr struct {
    const char* word;
    bool value;
  } kWords[] = {{"yes", true}, {"true", true},   {"on", true},   {"1", true},
                {"no", false}, {"false", false}, {"off", false}, {"0", false}};
  for (const auto& w : kWords) {
    if (!strcmp(v, w.word)) {
      *out = w.value;
      return true;
    }
  }
  return false;
}

// Sets the option `name` (a long option without its dashes) to `v`, from the command line or
// the configuration file; `where` names the source in messages ("--cache", or
// "/etc/zvfs/zvfs.conf:3: cache"). Returns false after printing what is wrong; true for a
// setting that is not zvfsd's (the library's, in the file).
bool set_option(Options* o, const char* name, const char* v, const char* where) {
  auto size_arg = [&](uint64_t* out) {
    if (parse_size(v, out)) return true;
    fprintf(stderr, "zvfsd: %s: '%s' is not a size (try 256M or 8G)\n", where, v);
    return false;
  };
  auto num_arg = [&](uint32_t* out, uint32_t lo, uint32_t hi) {
    char* end = nullptr;
    unsigned long n = strtoul(v, &end, 10);
    if (*v && !*end && n >= lo && n <= hi) {
      *out = static_cast<uint32_t>(n);
      return true;
    }
    fprintf(stderr, "zvfsd: %s: '%s' must be a number in [%u, %u]\n", where, v, lo, hi);
    return false;
  };
  // One of a few names, each spelled out in the message when v is none of them.
  auto choice_arg = [&](std::initializer_list<const char*> names, std::string* out) {
    for (const char* c : names) {
      if (!strcmp(v, c)) {
        *out = v;
        return true;
      }
    }
    std::string list;
    for (const char* c : names) list += (list.empty() ? "" : ", ") + std::string(c);
    fprintf(stderr, "zvfsd: %s: '%s' is not one of %s\n", where, v, list.c_str());
    return false;
  };
  auto bool_arg = [&](bool* out) {
    if (parse_bool(v, out)) return true;
    fprintf(stderr, "zvfsd: %s: '%s' must be yes or no\n", where, v);
    return false;
  };
  // The numeric settings: name, field, accepted range.
  static constexpr struct {
    const char* name;
    uint32_t Options::*field;
    uint32_t lo, hi;
  } kNumbers[] = {
      {"session-workers", &Options::session_workers, 1, 64},
      {"poll-us", &Options::poll_us, 0, 1000000},
      {"slots", &Options::slot_count, 1, 64},
      {"max-sessions", &Options::max_sessions, 1, 65536},
      {"max-sessions-per-user", &Options::max_sessions_per_user, 0, 65536},
      {"handshake-ms", &Options::handshake_ms, 1, 600000},
      {"txg-ms", &Options::txg_ms, 1, 600000},
      {"lock-wait", &Options::lock_wait_ms, 0, 600000},
  };
  for (const auto& k : kNumbers)
    if (!strcmp(name, k.name)) return num_arg(&(o->*k.field), k.lo, k.hi);
  uint64_t sz = 0;
  std::string n = name;
  if (n == "pool") {
    o->pool = v;
  } else if (n == "size") {
    return size_arg(&o->size);
  } else if (n == "socket") {
    o->socket = v;
  } else if (n == "socket-mode") {
    char* end = nullptr;
    unsigned long m = strtoul(v, &end, 8);
    if (!*v || *end || m > 0777) {
      fprintf(stderr, "zvfsd: %s: '%s' is not an octal mode like 0660\n", where, v);
      return false;
    }
    o->socket_mode = static_cast<unsigned>(m);
  } else if (n == "socket-group") {
    o->socket_group = v;
  } else if (n == "block-size") {
    if (!size_arg(&sz)) return false;
    if (!engine::valid_block_size(sz)) {
      fprintf(stderr, "zvfsd: %s must be a power of two between 4K and 1M\n", where);
      return false;
    }
    o->block_size = static_cast<uint32_t>(sz);
  } else if (n == "cache") {
    return size_arg(&o->cache);
  } else if (n == "log") {
    o->log_file = v;
  } else if (n == "log-level") {
    return choice_arg({"debug", "info", "warn", "error", "off"}, &o->log_level);
  } else if (n == "pidfile") {
    o->pidfile = v;
  } else if (n == "binding") {
    return choice_arg({"auto", "user", "trusted"}, &o->binding);
  } else if (n == "slot-size") {
    if (!size_arg(&sz)) return false;
    if (sz < 4096 || sz > (64u << 20) || sz % 4096) {
      fprintf(stderr, "zvfsd: %s must be a multiple of 4K between 4K and 64M\n", where);
      return false;
    }
    o->slot_bytes = static_cast<uint32_t>(sz);
  } else if (n == "buffered") {
    return bool_arg(&o->buffered);
  } else if (n == "guard") {
    return bool_arg(&o->guard);
  } else if (n == "write-behind") {
    return bool_arg(&o->write_behind);
  } else if (n == "root") {
    o->roots.clear();
    return add_roots(v, true, where, &o->roots);
  }
  return true;
}

// The path of --config FILE in argv, or nullptr; false if --config lacks its value.
bool config_flag(int argc, char** argv, const char** path) {
  *path = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--config") != 0) continue;
    if (i + 1 >= argc) {
      fprintf(stderr, "zvfsd: --config needs a value (a file)\n");
      return false;
    }
    *path = argv[++i];
  }
  return true;
}

}  // namespace

int parse_options(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i)
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(kUsage, stdout);
      return 2;
    }
  // Built-in defaults, then the configuration file, then the environment, then the flags.
  const char* config = nullptr;
  if (!config_flag(argc, argv, &config)) return 1;
  char msg[512];
  if (!load_process_config(config, msg, sizeof msg)) {
    fprintf(stderr, "zvfsd: %s\n", msg);
    return 1;
  }
  bool named = false;
  const char* used = config ? config : config_path(&named);
  const Config& file = process_config();
  for (int i = 0; i < file.size(); ++i) {
    const Config::Entry& e = file.entry(i);
    std::string where = std::string(used) + ":" + std::to_string(e.line) + ": " + e.name;
    if (!set_option(o, e.name, e.value, where.c_str())) return 1;
  }
  // $ZVFS_SOCKET and $ZVFS_ROOT over the file (the same precedence every client applies).
  o->socket = ipc::default_socket_path();
  o->roots.clear();
  add_roots(root_list(nullptr), false, "ZVFS_ROOT", &o->roots);
  bool roots_given = false;  // the first --root replaces the default, later ones add to it
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (!strcmp(a, "--foreground") || !strcmp(a, "-f")) {
      o->foreground = true;
      continue;
    }
    if (!strcmp(a, "--buffered") || !strcmp(a, "--no-guard")) {
      set_option(o, a[2] == 'b' ? "buffered" : "guard", a[2] == 'b' ? "yes" : "no", a);
      continue;
    }
    // Every other flag is a daemon setting of the file's, spelled --name VALUE (but guard and
    // buffered, which are the switches above).
    bool known = !strcmp(a, "--config") ||
                 (!strncmp(a, "--", 2) && (config_users(a + 2) & kForDaemon) != 0 &&
                  strcmp(a, "--guard") != 0);
    if (!known) {
      fprintf(stderr, "zvfsd: unknown argument '%s' (see zvfsd --help)\n", a);
      return 1;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "zvfsd: %s needs a value\n", a);
      return 1;
    }
    const char* v = argv[++i];
    if (!strcmp(a, "--config")) continue;
    if (!strcmp(a, "--root")) {
      if (!roots_given) o->roots.clear();
      roots_given = true;
      if (!add_roots(v, true, "--root", &o->roots)) return 1;
      continue;
    }
    if (!set_option(o, a + 2, v, a)) return 1;
  }
  if (o->pool.empty()) {
    fprintf(stderr,
            "zvfsd: no pool: give --pool PATH, or `pool = PATH` in the configuration file "
            "(see zvfsd --help)\n");
    return 1;
  }
  return 0;
}

}  // namespace zvfs::daemon
