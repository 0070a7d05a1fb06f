// ipc_bench.cc — round-trip latency of the ZVFS IPC, side by side with its floors.
//
// In one run, on this machine, for 1/2/4/8 client threads:
//   sock-pingpong   bare SOCK_SEQPACKET Unix-socket ping-pong (one echo thread per client)
//   shm-pingpong    bare shared-memory ping-pong between two processes (spin, then futex)
//   zvfs-null       a null request through a ZVFS slot (client library -> zvfsd worker)
//   zvfs-write4k / zvfs-write16k / zvfs-read4k / zvfs-read16k   cached I/O round trips
// The daemon is the real server (sessions, workers, doorbell) in a child process, on a pool
// created in a temp directory (--mem: on the in-memory pool of the daemon tests instead, to
// isolate IPC costs). Output: one line per (case, threads): p50/p99 latency and throughput.
//
// Usage: zvfs_bench_ipc [--ops N] [--threads 1,2,4,8] [--mem] [--json] [--only SUBSTRING]
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../../tests/daemon/harness.h"
#include "../../tests/daemon/mem_pool.h"
#include "common/log.h"
#include "ipc/client.h"
#include "ipc/client_diag.h"
#include "ipc/doorbell.h"
#include "zvfs/blob.h"

using namespace zvfs;

namespace {

struct Result {
  std::string name;
  int threads;
  double p50_us, p99_us, mops;
};

bool g_json = false;
#if ZVFS_BENCH_ENGINE
constexpr bool kHaveEngine = true;
#else
constexpr bool kHaveEngine = false;
#endif

void print(const Result& r) {
  if (g_json)
    printf("{\"case\":\"%s\",\"threads\":%d,\"p50_us\":%.2f,\"p99_us\":%.2f,\"kops\":%.1f}\n",
           r.name.c_str(), r.threads, r.p50_us, r.p99_us, r.mops * 1000);
  else
    printf("%-16s threads %d  p50 %7.2f us  p99 %7.2f us  %8.1f kops/s\n", r.name.c_str(),
           r.threads, r.p50_us, r.p99_us, r.mops * 1000);
  fflush(stdout);
}

// Runs fn(thread, i) ops times in each of `threads` threads; returns latency percentiles.
Result measure(const std::string& name, int threads, int ops,
               const std::function<void(int, int)>& fn) {
  std::vector<std::vector<uint32_t>> lat(static_cast<size_t>(threads));
  std::vector<std::thread> ts;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  uint64_t t0 = 0;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      auto& l = lat[static_cast<size_t>(t)];
      l.reserve(static_cast<size_t>(ops));
      for (int i = 0; i < ops / 10; ++i) fn(t, i);  // warm-up
      ready++;
      while (!go.load()) ipc::cpu_relax();
      for (int i = 0; i < ops; ++i) {
        uint64_t a = ipc::now_ns();
        fn(t, i);
        l.push_back(static_cast<uint32_t>(ipc::now_ns() - a));
      }
    });
  }
  while (ready.load() < threads) usleep(100);
  t0 = ipc::now_ns();
  go.store(true);
  for (auto& th : ts) th.join();
  double secs = static_cast<double>(ipc::now_ns() - t0) / 1e9;
  std::vector<uint32_t> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Result r{name, threads, all[all.size() / 2] / 1000.0, all[all.size() * 99 / 100] / 1000.0,
           static_cast<double>(all.size()) / secs / 1e6};
  return r;
}

void sock_pingpong(int threads, int ops) {
  std::vector<int> cl(static_cast<size_t>(threads));
  std::vector<pid_t> kids;
  for (int t = 0; t < threads; ++t) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
      close(sv[0]);
      char buf[64];
      for (;;) {
        ssize_t n = read(sv[1], buf, sizeof buf);
        if (n <= 0 || write(sv[1], buf, static_cast<size_t>(n)) != n) _exit(0);
      }
    }
    close(sv[1]);
    cl[static_cast<size_t>(t)] = sv[0];
    kids.push_back(pid);
  }
  print(measure("sock-pingpong", threads, ops, [&](int t, int) {
    char buf[32] = {1};
    int s = cl[static_cast<size_t>(t)];
    if (write(s, buf, sizeof buf) != sizeof buf || read(s, buf, sizeof buf) <= 0) abort();
  }));
  for (int s : cl) close(s);
  for (pid_t p : kids) waitpid(p, nullptr, 0);
}

// One cache line per client thread: a request word and a reply word, spin then futex.
struct alignas(64) PingSlot {
  std::atomic<uint32_t> req, rep, server_sleeping, client_sleeping;
};

// The floor: spin (up to 1 ms, so neither side ever sleeps while traffic flows), then sleep.
void wait_for(std::atomic<uint32_t>* w, uint32_t want, std::atomic<uint32_t>* sleeping) {
  if (ipc::spin_until([&] { return w->load() == want; }, 1000000)) return;
  while (w->load() != want) {
    sleeping->store(1);
    uint32_t v = w->load();
    if (v != want) ipc::futex_wait(w, v, 100000000);
    sleeping->store(0);
  }
}

void shm_pingpong(int threads, int ops) {
  auto* slots = static_cast<PingSlot*>(mmap(nullptr, sizeof(PingSlot) * 8, PROT_READ | PROT_WRITE,
                                            MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  memset(static_cast<void*>(slots), 0, sizeof(PingSlot) * 8);
  int total = ops + ops / 10;
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        PingSlot& s = slots[t];
        for (uint32_t i = 1; i <= static_cast<uint32_t>(total); ++i) {
          wait_for(&s.req, i, &s.server_sleeping);
          s.rep.store(i);
          if (s.client_sleeping.load()) ipc::futex_wake(&s.rep, 1);
        }
      });
    }
    for (auto& t : ts) t.join();
    _exit(0);
  }
  std::vector<uint32_t> seq(static_cast<size_t>(threads), 0);
  print(measure("shm-pingpong", threads, ops, [&](int t, int) {
    PingSlot& s = slots[t];
    uint32_t i = ++seq[static_cast<size_t>(t)];
    s.req.store(i);
    if (s.server_sleeping.load()) ipc::futex_wake(&s.req, 1);
    wait_for(&s.rep, i, &s.client_sleeping);
  }));
  waitpid(pid, nullptr, 0);
  munmap(slots, sizeof(PingSlot) * 8);
}

pid_t start_daemon(const std::string& dir, const std::string& sock, bool mem) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  std::unique_ptr<engine::Pool> pool;
  if (mem || !kHaveEngine) {
    pool = std::make_unique<testing::MemPool>();
  } else {
#if ZVFS_BENCH_ENGINE
    engine::PoolConfig cfg;
    cfg.create_size = 1ull << 30;
    auto p = engine::Pool::create(dir + "/bench.pool", cfg);
    if (!p.ok()) {
      fprintf(stderr, "bench: creating the pool: %s\n", p.error().msg);
      _exit(1);
    }
    pool = std::move(*p);
#endif
  }
  testing::InProcessDaemon d(*pool, sock, "user");
  if (!d.start()) _exit(1);
  pause();  // killed by the parent
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  int ops = 20000;
  bool mem = false;
  std::string only;  // run only the measurements whose name contains this
  auto wanted = [&](const std::string& name) { return name.find(only) != std::string::npos; };
  std::vector<int> threads = {1, 2, 4, 8};
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
      ops = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--mem")) {
      mem = true;
    } else if (!strcmp(argv[i], "--json")) {
      g_json = true;
    } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
      only = argv[++i];
    } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads.clear();
      for (char* p = strtok(argv[++i], ","); p; p = strtok(nullptr, ","))
        threads.push_back(atoi(p));
    } else {
      fprintf(stderr,
              "usage: zvfs_bench_ipc [--ops N] [--threads 1,2,4,8] [--mem] [--json] "
              "[--only SUBSTRING]\n");
      return 2;
    }
  }
  log::configure(log::Level::kWarn, "", true);
  std::string dir = testing::make_temp_dir("ipcbench");
  std::string sock = dir + "/bench.sock";
  setenv("ZVFS_SOCKET", sock.c_str(), 1);
  pid_t daemon = start_daemon(dir, sock, mem);
  for (int i = 0; i < 200 && access(sock.c_str(), F_OK) != 0; ++i) usleep(10000);
  std::string file = dir + "/data";
  int fd = open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ipc::AttachInfo info;
  int h = ipc::attach(fd, O_RDWR | O_CREAT, &info);
  if (h < 0) {
    fprintf(stderr, "bench: attach failed: %s\n", strerror(-h));
    kill(daemon, SIGKILL);
    return 1;
  }
  std::vector<uint8_t> buf(16384 * 8, 7);
  for (int t = 0; t < 8; ++t) ipc::pwrite(h, buf.data(), 16384, static_cast<uint64_t>(t) * 16384);
  printf("# IPC round trips, %u CPUs, %d ops per thread, pool %s\n",
         std::thread::hardware_concurrency(), ops,
         mem || !kHaveEngine ? "in memory" : "engine on a temp file");
  for (int t : threads) {
    if (wanted("sock-pingpong")) sock_pingpong(t, ops);
    if (wanted("shm-pingpong")) shm_pingpong(t, ops);
    if (wanted("zvfs-null"))
      print(measure("zvfs-null", t, ops, [&](int, int) { ipc::null_request(); }));
    for (size_t sz : {size_t{4096}, size_t{16384}}) {
      std::string n = sz == 4096 ? "4k" : "16k";
      if (wanted("zvfs-write" + n))
        print(measure("zvfs-write" + n, t, ops, [&](int th, int) {
          ipc::pwrite(h, buf.data() + th * 16384, sz, static_cast<uint64_t>(th) * 16384);
        }));
      if (wanted("zvfs-read" + n))
        print(measure("zvfs-read" + n, t, ops, [&](int th, int) {
          ipc::pread(h, buf.data() + th * 16384, sz, static_cast<uint64_t>(th) * 16384);
        }));
    }
  }
  ipc::detach(h);
  close(fd);
  kill(daemon, SIGKILL);
  waitpid(daemon, nullptr, 0);
  testing::remove_tree(dir);
  return 0;
}
