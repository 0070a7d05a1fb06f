// multiprocess_test.cc — 8 client processes x 4 threads against one daemon (the real server in a
// process of its own, on the in-memory pool; the test process stays single-threaded so that
// forking the clients is safe even under sanitizers): each thread rewrites and verifies its own
// region of a shared file, fills a private file of its process, and appends records to a shared
// log. The parent then verifies every region, every private file, and that the log holds exactly
// all records, each intact (O_APPEND atomic across processes and threads).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include "cli/status_print.h"
#include "common/log.h"
#include "harness.h"
#include "ipc/client.h"
#include "ipc/client_diag.h"
#include "mem_pool.h"

namespace zvfs::testing {
namespace {

constexpr int kProcs = 8, kThreads = 4, kIters = 40;
constexpr size_t kRegion = 64 * 1024, kRecord = 512;

void fill(uint8_t* p, size_t n, int proc, int thread, int iter) {
  for (size_t i = 0; i < n; ++i)
    p[i] = static_cast<uint8_t>(proc * 37 + thread * 11 + iter + i / 512);
}

int open_attach(const std::string& path, int flags, int* fd) {
  *fd = open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (*fd < 0) return -1;
  ipc::AttachInfo info;
  return ipc::attach(*fd, flags, &info);
}

// Body of one child process; returns its exit code.
int child(const std::string& dir, int proc) {
  int sfd, lfd, pfd;
  int sh = open_attach(dir + "/shared", O_RDWR, &sfd);
  int lh = open_attach(dir + "/log", O_WRONLY | O_APPEND, &lfd);
  int ph = open_attach(dir + "/private" + std::to_string(proc), O_RDWR | O_CREAT, &pfd);
  if (sh < 0 || lh < 0 || ph < 0) return 10;
  std::vector<std::thread> ts;
  std::atomic<int> err{0};
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<uint8_t> buf(kRegion), back(kRegion);
      uint64_t off = static_cast<uint64_t>(proc * kThreads + t) * kRegion;
      for (int it = 0; it < kIters; ++it) {
        fill(buf.data(), kRegion, proc, t, it);
        if (ipc::pwrite(sh, buf.data(), kRegion, off) != static_cast<ssize_t>(kRegion)) err = 1;
        if (ipc::pread(sh, back.data(), kRegion, off) != static_cast<ssize_t>(kRegion) ||
            memcmp(buf.data(), back.data(), kRegion) != 0)
          err = 2;
        if (ipc::pwrite(ph, buf.data(), 4096, static_cast<uint64_t>(t) * 4096) != 4096) err = 3;
        uint8_t rec[kRecord];
        fill(rec, kRecord, proc, t, 0);
        rec[0] = static_cast<uint8_t>(proc);
        rec[1] = static_cast<uint8_t>(t);
        rec[2] = static_cast<uint8_t>(it);
        uint64_t end = 0;
        if (ipc::append(lh, rec, kRecord, &end) != kRecord || end % kRecord != 0) err = 4;
      }
    });
  }
  for (auto& t : ts) t.join();
  if (ipc::sync(sh, false) != 0 || ipc::sync(ph, false) != 0) err = 5;
  return err.load();
}

TEST(MultiProcess, EightProcessesFourThreads) {
  log::configure(log::Level::kWarn, "", true);
  std::string dir = make_temp_dir("mp");
  std::string sock = dir + "/zvfs.sock";
  setenv("ZVFS_SOCKET", sock.c_str(), 1);
  pid_t daemon = fork();
  ASSERT_GE(daemon, 0);
  if (daemon == 0) {
    MemPool pool;
    InProcessDaemon d(pool, sock, "user");
    if (!d.start()) _exit(1);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    int sig = 0;
    sigwait(&set, &sig);
    d.stop();
    _exit(0);
  }
  auto open_handles = [&sock]() -> int64_t {
    std::vector<uint8_t> rep(ipc::kMaxSocketPayload);
    size_t len = 0;
    cli::StatsView v;
    if (ipc::admin_call(sock.c_str(), ipc::Op::kStats, nullptr, 0, rep.data(), rep.size(), &len,
                        2000) < 0 ||
        !cli::parse_stats(rep.data(), len, &v))
      return -1;
    return static_cast<int64_t>(v.h.open_handles);
  };
  for (int i = 0; i < 500 && open_handles() < 0; ++i) usleep(10000);
  ASSERT_EQ(open_handles(), 0);
  // The parent creates the shared files (bound, empty) and keeps them open.
  int sfd, lfd;
  int sh = open_attach(dir + "/shared", O_RDWR | O_CREAT, &sfd);
  int lh = open_attach(dir + "/log", O_RDWR | O_CREAT, &lfd);
  ASSERT_GE(sh, 0);
  ASSERT_GE(lh, 0);
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(child(dir, p));
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child exit " << WEXITSTATUS(st);
  }
  // Every region holds its last iteration.
  std::vector<uint8_t> want(kRegion), got(kRegion);
  for (int p = 0; p < kProcs; ++p) {
    for (int t = 0; t < kThreads; ++t) {
      fill(want.data(), kRegion, p, t, kIters - 1);
      uint64_t off = static_cast<uint64_t>(p * kThreads + t) * kRegion;
      ASSERT_EQ(ipc::pread(sh, got.data(), kRegion, off), static_cast<ssize_t>(kRegion));
      ASSERT_EQ(0, memcmp(want.data(), got.data(), kRegion)) << p << "/" << t;
    }
    int pfd;
    int ph = open_attach(dir + "/private" + std::to_string(p), O_RDONLY, &pfd);
    ASSERT_GE(ph, 0);
    for (int t = 0; t < kThreads; ++t) {
      fill(want.data(), 4096, p, t, kIters - 1);
      ASSERT_EQ(ipc::pread(ph, got.data(), 4096, static_cast<uint64_t>(t) * 4096), 4096);
      ASSERT_EQ(0, memcmp(want.data(), got.data(), 4096));
    }
    ipc::detach(ph);
    close(pfd);
  }
  // The log: exactly all records, each intact, each (proc, thread, iter) once.
  size_t total = static_cast<size_t>(kProcs) * kThreads * kIters;
  std::vector<uint8_t> log(total * kRecord + 1);
  ASSERT_EQ(ipc::pread(lh, log.data(), log.size(), 0), static_cast<ssize_t>(total * kRecord));
  std::vector<int> seen(total, 0);
  uint8_t rec[kRecord];
  for (size_t r = 0; r < total; ++r) {
    const uint8_t* p = log.data() + r * kRecord;
    int proc = p[0], t = p[1], it = p[2];
    ASSERT_LT(proc, kProcs);
    ASSERT_LT(t, kThreads);
    ASSERT_LT(it, kIters);
    fill(rec, kRecord, proc, t, 0);
    ASSERT_EQ(0, memcmp(rec + 3, p + 3, kRecord - 3)) << "torn record " << r;
    seen[static_cast<size_t>((proc * kThreads + t) * kIters + it)]++;
  }
  for (int s : seen) ASSERT_EQ(s, 1);
  ipc::detach(sh);
  ipc::detach(lh);
  close(sfd);
  close(lfd);
  // All children are gone: no handle left behind.
  for (int i = 0; i < 500 && open_handles() != 0; ++i) usleep(10000);
  EXPECT_EQ(open_handles(), 0);
  kill(daemon, SIGTERM);
  int st = 0;
  ASSERT_EQ(waitpid(daemon, &st, 0), daemon);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  remove_tree(dir);
}

}  // namespace
}  // namespace zvfs::testing
