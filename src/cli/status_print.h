// status_print.h — decoding the daemon's stats reply and printing it (text or JSON).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ipc/protocol.h"

namespace zvfs::cli {

struct StatsView {
  ipc::StatsHeader h;
  std::vector<ipc::OpStats> ops;
  std::vector<ipc::ClientInfo> clients;
  bool client_gid = false;  // the daemon reported gids (older ones did not)
  bool has_write = false;   // the daemon sent the write-path block (older ones did not)
  ipc::StatsWrite w;
  bool has_behind = false;  // the block has the write-behind counters (older ones did not)
  bool has_pool = false;    // the daemon sent the pool block (older ones did not)
  ipc::StatsPool p;
  bool has_fallocated = false;  // the pool block counts fallocate's set-aside (older: not)
};

// A byte count for people: "512 B", "1.5 MiB", "8.0 GiB".
std::string human(uint64_t bytes);

// Validates the reply's layout (counts against its length). False if malformed.
bool parse_stats(const uint8_t* buf, size_t len, StatsView* out);
std::string stats_text(const StatsView& v, const std::string& socket);
std::string stats_json(const StatsView& v, const std::string& socket);

}  // namespace zvfs::cli
