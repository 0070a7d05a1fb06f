// memd.cc — zvfs_memd: the daemon's real server (sessions, handles, bindings, deferred deletes)
// on an in-memory pool, with zvfsd's command line. The client tests run against zvfsd when the
// tree builds it and against this otherwise, so the preload library can be tested on its own
// (data does not survive the process, which none of these tests needs).
//
//   zvfs_memd --socket PATH [--pool P] [--size S] [--log F] [--foreground]
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <memory>
#include <string>

#include "../daemon/harness.h"
#include "../daemon/mem_pool.h"
#include "common/log.h"

int main(int argc, char** argv) {
  std::string socket;
  std::string log_file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--foreground") continue;
    if (i + 1 >= argc) {
      fprintf(stderr, "zvfs_memd: %s needs a value\n", a.c_str());
      return 2;
    }
    if (a == "--socket")
      socket = argv[++i];
    else if (a == "--log")
      log_file = argv[++i];
    else
      ++i;  // --pool, --size, --cache: meaningless for a memory pool
  }
  if (socket.empty()) {
    fprintf(stderr, "zvfs_memd: --socket PATH is required\n");
    return 2;
  }
  zvfs::log::configure(zvfs::log::Level::kInfo, log_file, log_file.empty());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // the server threads inherit the mask
  auto pool = std::make_unique<zvfs::testing::MemPool>();
  auto d = std::make_unique<zvfs::testing::InProcessDaemon>(*pool, socket, "user");
  if (!d->start()) {
    fprintf(stderr, "zvfs_memd: cannot listen on %s\n", socket.c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  d->stop();
  return 0;
}
