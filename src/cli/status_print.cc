// status_print.cc — `zvfs status` output (see status_print.h).
#include "cli/status_print.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "daemon/op_stats.h"
#include "zvfs/blob.h"

namespace zvfs::cli {

bool parse_stats(const uint8_t* buf, size_t len, StatsView* out) {
  if (len < sizeof(ipc::StatsHeader)) return false;
  memcpy(&out->h, buf, sizeof out->h);
  // Client records: as long as the daemon says (never shorter than the first version's, bounded
  // so that a count times a size cannot overflow); the known fields are at their start.
  size_t rec = out->h.client_info_bytes ? out->h.client_info_bytes : ipc::kClientInfoV1Bytes;
  if (rec < ipc::kClientInfoV1Bytes || rec > ipc::kMaxSocketPayload) return false;
  if (out->h.op_count > ipc::kOpMax || out->h.client_count > ipc::kMaxSocketPayload) return false;
  size_t need = sizeof out->h + out->h.op_count * sizeof(ipc::OpStats) + out->h.client_count * rec;
  // Then, from newer daemons, the write-path block of its own stated size.
  out->has_write = false;
  out->w = ipc::StatsWrite{};
  if (len > need) {
    uint32_t wb = 0;
    if (len - need < ipc::kStatsWriteV1Bytes) return false;
    memcpy(&wb, buf + need, sizeof wb);
    if (wb < ipc::kStatsWriteV1Bytes || wb > len - need) return false;
    memcpy(&out->w, buf + need, wb < sizeof out->w ? wb : sizeof out->w);
    out->has_write = true;
    out->has_behind = wb >= ipc::kStatsWriteV2Bytes;
    // Blocks of later versions may follow, each starting with its own u32 size (at least 8),
    // as long as they tile the rest of the reply exactly. The first is the pool block; later
    // ones are skipped.
    out->has_pool = false;
    out->has_fallocated = false;
    out->p = ipc::StatsPool{};
    for (size_t pos = need + wb; pos < len;) {
      uint32_t bytes = 0;
      if (len - pos < sizeof bytes) return false;
      memcpy(&bytes, buf + pos, sizeof bytes);
      if (bytes < 8 || bytes > len - pos) return false;
      if (pos == need + wb) {
        if (bytes < ipc::kStatsPoolV1Bytes) return false;
        memcpy(&out->p, buf + pos, bytes < sizeof out->p ? bytes : sizeof out->p);
        out->has_pool = true;
        out->has_fallocated = bytes >= ipc::kStatsPoolV2Bytes;
      }
      pos += bytes;
    }
  } else if (need != len) {
    return false;
  }
  size_t pos = sizeof out->h;
  out->ops.resize(out->h.op_count);
  for (auto& o : out->ops) {
    memcpy(&o, buf + pos, sizeof o);
    pos += sizeof o;
  }
  out->client_gid = rec >= offsetof(ipc::ClientInfo, gid) + sizeof(uint32_t);
  out->clients.assign(out->h.client_count, ipc::ClientInfo{});
  for (auto& c : out->clients) {
    memcpy(&c, buf + pos, rec < sizeof c ? rec : sizeof c);
    pos += rec;
  }
  return true;
}

static std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
static std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

std::string human(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt("%llu B", static_cast<unsigned long long>(b)) : fmt("%.1f %s", v, units[u]);
}

static double hit_rate(const ipc::StatsHeader& h) {
  uint64_t t = h.cache_hits + h.cache_misses;
  return t ? 100.0 * static_cast<double>(h.cache_hits) / static_cast<double>(t) : 0;
}

std::string stats_text(const StatsView& v, const std::string& socket) {
  const ipc::StatsHeader& h = v.h;
  std::string s;
  s += fmt("daemon   pid %u on %s, up %llu s\n", h.daemon_pid, socket.c_str(),
           static_cast<unsigned long long>(h.uptime_ms / 1000));
  double used =
      h.pool_size ? 100.0 * static_cast<double>(h.pool_allocated) / static_cast<double>(h.pool_size)
                  : 0;
  s += fmt("pool     %s, %s used (%.1f%%), %s free, %llu blobs\n", human(h.pool_size).c_str(),
           human(h.pool_allocated).c_str(), used, human(h.pool_free).c_str(),
           static_cast<unsigned long long>(h.blob_count));
  if (v.has_pool) {
    if (v.p.fallocated_bytes > 0)
      s += fmt("         %s of the free space set aside by fallocate for open files\n",
               human(v.p.fallocated_bytes).c_str());
    s += fmt("format   %u, %s blocks\n", v.p.format_version, human(v.p.block_size).c_str());
    if (v.p.format_version < engine::kPoolFormatVersion)
      s +=
          fmt("         format %u stores small files in less space: `zvfs upgrade POOL` while "
              "the daemon is down\n",
              engine::kPoolFormatVersion);
    if (v.p.flags & ipc::kStatsPoolHostLimited)
      s += fmt(
          "         free space limited by the file system holding the pool file (%s free "
          "there)\n",
          human(v.p.host_free_bytes < 0 ? 0 : static_cast<uint64_t>(v.p.host_free_bytes)).c_str());
  }
  s += fmt("txg      open %llu, synced %llu, dirty %s", static_cast<unsigned long long>(h.txg),
           static_cast<unsigned long long>(h.synced_txg), human(h.dirty_bytes).c_str());
  s += v.has_write ? fmt(" of %s\n", human(v.w.dirty_max_bytes).c_str()) : "\n";
  if (v.has_write) {
    s += fmt("writes   delayed %.3f s near the dirty limit, stopped %llu times at it\n",
             static_cast<double>(v.w.throttle_delay_ns) / 1e9,
             static_cast<unsigned long long>(v.w.throttle_waits));
    s += fmt("log      %llu records in %llu blocks, %s written\n",
             static_cast<unsigned long long>(v.w.log_records),
             static_cast<unsigned long long>(v.w.log_blocks), human(v.w.log_bytes).c_str());
    if (v.has_behind)
      s += fmt("behind   %llu writes answered before they were applied, %llu fsyncs joined one\n",
               static_cast<unsigned long long>(v.w.behind_writes),
               static_cast<unsigned long long>(v.w.behind_syncs));
  }
  s += fmt("cache    %s of %s, hit rate %.1f%% (%llu hits, %llu misses)\n",
           human(h.cache_bytes).c_str(), human(h.cache_max_bytes).c_str(), hit_rate(h),
           static_cast<unsigned long long>(h.cache_hits),
           static_cast<unsigned long long>(h.cache_misses));
  s += fmt("errors   checksum %llu, io %llu, bad requests %llu\n",
           static_cast<unsigned long long>(h.checksum_errors),
           static_cast<unsigned long long>(h.io_errors),
           static_cast<unsigned long long>(h.bad_requests));
  s += fmt("handles  %llu open on %llu blobs; %zu clients (%llu connections since start)\n",
           static_cast<unsigned long long>(h.open_handles),
           static_cast<unsigned long long>(h.open_blobs), v.clients.size(),
           static_cast<unsigned long long>(h.sessions_total));
  if (!v.clients.empty()) {
    s += "\nCLIENT      PID    UID    GID  HANDLES    REQUESTS\n";
    for (auto& c : v.clients)
      s += fmt("%6llu %8d %6u %6s %8llu %11llu\n", static_cast<unsigned long long>(c.session_id),
               c.pid, c.uid, v.client_gid ? fmt("%u", c.gid).c_str() : "-",
               static_cast<unsigned long long>(c.handles),
               static_cast<unsigned long long>(c.requests));
  }
  if (!v.ops.empty()) {
    s += "\nOPERATION            COUNT   ERRORS    AVG us    p50 us    p99 us\n";
    for (auto& o : v.ops) {
      double avg = o.count ? static_cast<double>(o.total_ns) / static_cast<double>(o.count) : 0;
      s += fmt("%-14s %11llu %8llu %9.1f %9.1f %9.1f\n", ipc::op_name(static_cast<ipc::Op>(o.op)),
               static_cast<unsigned long long>(o.count), static_cast<unsigned long long>(o.errors),
               avg / 1000, daemon::hist_percentile(o.hist, 0.5) / 1000,
               daemon::hist_percentile(o.hist, 0.99) / 1000);
    }
  }
  return s;
}

std::string stats_json(const StatsView& v, const std::string& socket) {
  const ipc::StatsHeader& h = v.h;
  auto u = [](uint64_t x) { return static_cast<unsigned long long>(x); };
  std::string s = "{";
  s += fmt("\"daemon\":{\"pid\":%u,\"uptime_ms\":%llu,\"socket\":\"", h.daemon_pid, u(h.uptime_ms));
  for (char c : socket) {
    if (c == '"' || c == '\\') s += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) s += c;
  }
  s += "\"},";
  s +=
      fmt("\"pool\":{\"size_bytes\":%llu,\"allocated_bytes\":%llu,\"free_bytes\":%llu,"
          "\"blobs\":%llu,\"txg\":%llu,\"synced_txg\":%llu,\"dirty_bytes\":%llu",
          u(h.pool_size), u(h.pool_allocated), u(h.pool_free), u(h.blob_count), u(h.txg),
          u(h.synced_txg), u(h.dirty_bytes));
  if (v.has_pool)
    s +=
        fmt(",\"format_version\":%u,\"block_size\":%u,\"host_limited\":%s,"
            "\"host_free_bytes\":%lld",
            v.p.format_version, v.p.block_size,
            (v.p.flags & ipc::kStatsPoolHostLimited) ? "true" : "false",
            static_cast<long long>(v.p.host_free_bytes));
  if (v.has_fallocated) s += fmt(",\"fallocated_bytes\":%llu", u(v.p.fallocated_bytes));
  s += "},";
  s +=
      fmt("\"cache\":{\"bytes\":%llu,\"max_bytes\":%llu,\"hits\":%llu,\"misses\":%llu,"
          "\"hit_rate\":%.4f},",
          u(h.cache_bytes), u(h.cache_max_bytes), u(h.cache_hits), u(h.cache_misses),
          hit_rate(h) / 100);
  if (v.has_write)
    s +=
        fmt("\"writes\":{\"dirty_max_bytes\":%llu,\"throttle_delay_ns\":%llu,"
            "\"throttle_waits\":%llu},\"log\":{\"records\":%llu,\"blocks\":%llu,\"bytes\":%llu},",
            u(v.w.dirty_max_bytes), u(v.w.throttle_delay_ns), u(v.w.throttle_waits),
            u(v.w.log_records), u(v.w.log_blocks), u(v.w.log_bytes));
  if (v.has_behind)
    s += fmt("\"write_behind\":{\"writes\":%llu,\"joined_syncs\":%llu},", u(v.w.behind_writes),
             u(v.w.behind_syncs));
  s += fmt("\"errors\":{\"checksum\":%llu,\"io\":%llu,\"bad_requests\":%llu},",
           u(h.checksum_errors), u(h.io_errors), u(h.bad_requests));
  s += fmt("\"open_handles\":%llu,\"open_blobs\":%llu,\"connections_total\":%llu,",
           u(h.open_handles), u(h.open_blobs), u(h.sessions_total));
  s += "\"clients\":[";
  for (size_t i = 0; i < v.clients.size(); ++i) {
    auto& c = v.clients[i];
    // A daemon that does not report gids gets "gid":null.
    s +=
        fmt("%s{\"session\":%llu,\"pid\":%d,\"uid\":%u,\"gid\":%s,\"handles\":%llu,"
            "\"requests\":%llu}",
            i ? "," : "", u(c.session_id), c.pid, c.uid,
            v.client_gid ? fmt("%u", c.gid).c_str() : "null", u(c.handles), u(c.requests));
  }
  s += "],\"ops\":{";
  for (size_t i = 0; i < v.ops.size(); ++i) {
    auto& o = v.ops[i];
    s += fmt(
        "%s\"%s\":{\"count\":%llu,\"errors\":%llu,\"total_ns\":%llu,\"p50_ns\":%.0f,"
        "\"p99_ns\":%.0f}",
        i ? "," : "", ipc::op_name(static_cast<ipc::Op>(o.op)), u(o.count), u(o.errors),
        u(o.total_ns), daemon::hist_percentile(o.hist, 0.5), daemon::hist_percentile(o.hist, 0.99));
  }
  s += "}}\n";
  return s;
}

}  // namespace zvfs::cli
