// options.h — zvfsd's command line, environment and configuration file (common/config.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zvfs::daemon {

struct Options {
  std::string pool;
  uint64_t size = 8ull << 30;  // when creating the pool
  std::string socket;          // default: $ZVFS_SOCKET, $ZVFS_SOCKET_PATH, /run/zvfs/zvfs.sock
  bool foreground = false;
  uint64_t cache = 0;  // 0: engine default
  std::string log_file;
  std::string log_level = "info";
  std::string pidfile;
  unsigned socket_mode = 0666;
  std::string socket_group;
  std::string binding = "auto";  // auto | user | trusted
  uint32_t session_workers = 4;
  // How long an idle session worker polls for that session's next request before it sleeps
  // (microseconds; 0: never poll). See docs/PROTOCOL.md, "Doorbell".
  uint32_t poll_us = 1000;
  uint32_t slot_count = 16;
  uint32_t slot_bytes = 1u << 20;
  uint32_t max_sessions = 1024;
  uint32_t max_sessions_per_user = 256;  // live sessions of one uid; 0: no limit
  uint32_t handshake_ms = 10000;  // a connection idle this long before its handshake is closed
  uint32_t txg_ms = 0;            // 0: engine default
  uint32_t block_size = 0;        // data block size of a new pool; 0: engine default
  bool buffered = false;          // no O_DIRECT (for file systems without it)
  bool guard = true;              // refuse placeholder accesses that bypass the library
  bool write_behind = false;      // let clients answer small overwrites before they apply
  // The mount prefixes, absolute (--root, default $ZVFS_ROOT, else /zvfs): the guard marks
  // their directories at start.
  std::vector<std::string> roots;
  uint32_t lock_wait_ms = 10000;  // wait for a pool locked by another process (a dying daemon)
};

// Parses argv over the configuration file (--config FILE, else $ZVFS_CONFIG, else
// /etc/zvfs/zvfs.conf if it exists), which it loads as the process's (process_config()), and
// the environment. Returns 0 to run, 1 for an error (message printed), 2 after --help.
int parse_options(int argc, char** argv, Options* o);

}  // namespace zvfs::daemon
