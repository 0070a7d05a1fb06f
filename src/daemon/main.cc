// main.cc — zvfsd: imports (or creates) the pool, serves it on the socket, exports on stop.
//
// Start-up order: parse flags; unless --foreground, fork and let the parent wait on a pipe
// until the child reports "ready" (socket accepting) or an error, so `zvfsd ...` returns only
// once clients can connect and exits non-zero with the reason otherwise. SIGTERM/SIGINT are
// blocked in every thread and read through a signalfd by the accept loop.
// Crash: nothing to clean up; the next start imports the pool (the engine replays its intent
// log) and replaces the stale socket file. A start right after a kill -9 may find the pool still
// locked by the dead daemon for a moment: open_pool() waits for it (--lock-wait).
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <thread>

#include "common/log.h"
#include "daemon/binding.h"
#include "daemon/blob_table.h"
#include "daemon/context.h"
#include "daemon/options.h"
#include "daemon/pool_open.h"
#include "daemon/server.h"
#include "ipc/doorbell.h"

using namespace zvfs;

namespace {

int g_ready_fd = -1;  // write end of the pipe to the waiting parent (daemon mode)

void report(const std::string& msg) {
  if (g_ready_fd >= 0) {
    (void)!write(g_ready_fd, msg.data(), msg.size());
    close(g_ready_fd);
    g_ready_fd = -1;
  }
}

[[noreturn]] void fail(const std::string& msg) {
  LOG_ERROR("daemon", "%s", msg.c_str());
  if (g_ready_fd >= 0)
    report("E" + msg);
  else
    fprintf(stderr, "zvfsd: %s\n", msg.c_str());
  _exit(1);
}

// Parent side of daemon mode: returns the exit code for `zvfsd`.
int wait_for_child(int rfd, pid_t child) {
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = read(rfd, buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
  close(rfd);
  if (!msg.empty() && msg[0] == 'R') return 0;
  if (!msg.empty() && msg[0] == 'E') {
    fprintf(stderr, "zvfsd: %s\n", msg.c_str() + 1);
  } else {
    int st = 0;
    waitpid(child, &st, 0);
    fprintf(stderr, "zvfsd: the daemon exited during start-up (see its log)\n");
  }
  return 1;
}

void daemonize() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    perror("zvfsd: pipe");
    exit(1);
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("zvfsd: fork");
    exit(1);
  }
  if (pid > 0) {
    close(p[1]);
    exit(wait_for_child(p[0], pid));
  }
  close(p[0]);
  g_ready_fd = p[1];
  setsid();
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
}

}  // namespace

int main(int argc, char** argv) {
  daemon::Options o;
  int pr = daemon::parse_options(argc, argv, &o);
  if (pr != 0) return pr == 2 ? 0 : 1;
  // Relative paths would break once the daemon changes nothing but callers expect absolute.
  if (o.pool[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) o.pool = std::string(cwd) + "/" + o.pool;
  }
  if (!o.foreground) daemonize();

  bool to_stderr = o.foreground || o.log_file.empty();
  if (!log::configure(log::parse_level(o.log_level), o.log_file, to_stderr && o.foreground))
    fail("cannot open the log file " + o.log_file);

  // Every open handle holds a descriptor: allow as many as the hard limit permits.
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

  engine::PoolConfig cfg;
  cfg.create_size = o.size;
  if (o.cache) cfg.cache_bytes = o.cache;
  if (o.txg_ms) cfg.txg_interval_ms = o.txg_ms;
  if (o.block_size) cfg.block_size = o.block_size;
  cfg.direct_io = !o.buffered;
  std::string why;
  auto opened = daemon::open_pool(o.pool, cfg, static_cast<int>(o.lock_wait_ms), &why);
  if (!opened.ok()) fail(why);
  std::unique_ptr<engine::Pool> pool = std::move(opened->pool);
  LOG_INFO("daemon", "%s pool %s", opened->created ? "created" : "imported", o.pool.c_str());
  if (o.block_size && !opened->created) {
    const uint32_t have = pool->stats().block_size;
    if (have != o.block_size)
      LOG_WARN("daemon",
               "the pool %s has %u-byte blocks; --block-size %u applies only to a new pool",
               o.pool.c_str(), have, o.block_size);
  }

  daemon::BlobTable blobs(*pool);
  daemon::Context ctx;
  ctx.pool = pool.get();
  ctx.blobs = &blobs;
  ctx.opts = &o;
  ctx.binding_xattr = daemon::binding_xattr_name(o.binding);
  ctx.pool_guid = pool->stats().pool_guid;
  ctx.start_ns = ipc::now_ns();
  unsigned cpus = std::thread::hardware_concurrency();
  ctx.spinners_max = cpus > 1 ? static_cast<int>(cpus - 1) : 1;
  LOG_INFO("daemon", "binding xattr %s, %u workers per session", ctx.binding_xattr,
           o.session_workers);

  {
    daemon::Server server(ctx);
    Status ls = server.listen();
    if (!ls.ok()) {
      (void)pool->export_pool();
      fail(std::string(ls.error().msg) + " " + o.socket + ": " + strerror(ls.code()));
    }
    if (!o.pidfile.empty()) {
      FILE* f = fopen(o.pidfile.c_str(), "we");
      if (f) {
        fprintf(f, "%d\n", static_cast<int>(getpid()));
        fclose(f);
      }
    }
    report("R");
    server.run(sfd);
  }
  Status es = pool->export_pool();
  if (!o.pidfile.empty()) unlink(o.pidfile.c_str());
  if (!es.ok()) {
    LOG_ERROR("daemon", "exporting the pool failed: %s", es.error().msg);
    return 1;
  }
  LOG_INFO("daemon", "pool exported cleanly");
  return 0;
}
