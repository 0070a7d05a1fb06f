// harness.h — helpers for the daemon tests: temp directories, an in-process daemon on a given
// Pool (the real server, sessions and workers, on a temp socket), and random data.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "daemon/binding.h"
#include "daemon/blob_table.h"
#include "daemon/context.h"
#include "daemon/options.h"
#include "daemon/server.h"
#include "ipc/doorbell.h"

namespace zvfs::testing {

inline std::string make_temp_dir(const char* tag) {
  std::string t = std::string("/tmp/zvfs-") + tag + "-XXXXXX";
  std::vector<char> buf(t.begin(), t.end());
  buf.push_back(0);
  if (!mkdtemp(buf.data())) return "";
  return buf.data();
}

inline void remove_tree(const std::string& dir) {
  if (dir.size() < 10 || dir.rfind("/tmp/zvfs-", 0) != 0) return;
  std::string cmd = "rm -rf '" + dir + "'";
  if (system(cmd.c_str()) != 0) return;
}

// For a suite whose client library talks to an in-process daemon: a temporary directory (into
// *dir), its socket path (into *sock) exported as ZVFS_SOCKET, a 3 s client timeout, and only
// warnings logged.
inline void client_suite_setup(const char* tag, std::string* dir, std::string* sock) {
  *dir = make_temp_dir(tag);
  *sock = *dir + "/zvfs.sock";
  setenv("ZVFS_SOCKET", sock->c_str(), 1);
  setenv("ZVFS_TIMEOUT_MS", "3000", 1);
  log::configure(log::Level::kWarn, "", true);
}

// The real server of zvfsd, run in a thread of the test process.
class InProcessDaemon {
 public:
  InProcessDaemon(engine::Pool& pool, const std::string& socket, const std::string& binding)
      : table_(pool) {
    opts_.socket = socket;
    opts_.binding = binding;
    opts_.pool = "(memory)";
    ctx_.pool = &pool;
    ctx_.blobs = &table_;
    ctx_.opts = &opts_;
    ctx_.binding_xattr = daemon::binding_xattr_name(binding);
    ctx_.start_ns = ipc::now_ns();
    server_ = std::make_unique<daemon::Server>(ctx_);
  }
  ~InProcessDaemon() { stop(); }
  bool start() {
    if (!server_->listen().ok()) return false;
    thread_ = std::thread([this] { server_->run(-1); });
    return true;
  }
  void stop() {
    if (!thread_.joinable()) return;
    server_->request_stop();
    thread_.join();
  }
  daemon::BlobTable& table() { return table_; }
  daemon::Context& ctx() { return ctx_; }
  daemon::Options& opts() { return opts_; }

 private:
  daemon::Options opts_;
  daemon::BlobTable table_;
  daemon::Context ctx_;
  std::unique_ptr<daemon::Server> server_;
  std::thread thread_;
};

inline std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t x = rng();
    memcpy(v.data() + i, &x, std::min<size_t>(8, n - i));
  }
  return v;
}

}  // namespace zvfs::testing
