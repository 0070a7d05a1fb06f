// zvfsd_e2e_test.cc — the real zvfsd binary on the real engine, over a 256 MiB sparse pool in a
// temp directory: daemon mode start-up and `zvfs down`, status through the CLI, and a daemon
// kill -9 in the middle of a multi-process workload: clients recover, everything they synced
// is there after the restart, and a handle that had unsynced writes gets EIO once; a restart
// right after a kill -9 under load (the pool still locked by the dead daemon for a moment).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "cli/status_print.h"
#include "common/test_files.h"
#include "harness.h"
#include "ipc/client.h"
#include "ipc/client_diag.h"
#include "ipc/sock.h"

namespace zvfs::testing {
namespace {

const char* kZvfsd = ZVFSD_PATH;
const char* kZvfs = ZVFS_CLI_PATH;
const char* kLib = ZVFS_LIB_PATH;
#ifdef ZVFS_SANITIZED_BUILD
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
// Why a test that preloads the library into system programs (sh, cp, dd) runs only in the
// normal build.
constexpr const char* kNeedsPlainBuild =
    "runs system programs under libzvfs.so, which the sanitizer build cannot preload into them "
    "(this test runs in the normal build)";

class Zvfsd : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("e2e");
    sock_ = dir_ + "/zvfsd.sock";
    pool_ = dir_ + "/test.pool";
    setenv("ZVFS_SOCKET", sock_.c_str(), 1);
    setenv("ZVFS_CONFIG", "", 1);  // no configuration file of the machine's
  }
  void TearDown() override {
    stop();
    remove_tree(dir_);
  }
  // Starts zvfsd in the foreground as our child and waits until it answers (or exits).
  // `flag` and `value`, if given, are one more option.
  bool start(const char* size = "256M", const char* lock_wait_ms = "10000",
             const char* flag = nullptr, const char* value = nullptr) {
    pid_ = fork();
    if (pid_ == 0) {
      std::string log = dir_ + "/zvfsd.log";
      std::string err = dir_ + "/zvfsd.stderr";
      int efd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (efd >= 0) dup2(efd, 2);
      execl(kZvfsd, kZvfsd, "--pool", pool_.c_str(), "--size", size, "--socket", sock_.c_str(),
            "--foreground", "--log", log.c_str(), "--log-level", "warn", "--cache", "32M",
            "--buffered", "--lock-wait", lock_wait_ms, flag, value, static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 1500; ++i) {
      size_t len = 0;
      uint8_t rep[8192];
      if (ipc::admin_call(sock_.c_str(), ipc::Op::kScrubStatus, nullptr, 0, rep, sizeof rep, &len,
                          1000) >= 0)
        return true;
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      usleep(20000);
    }
    return false;
  }
  void kill9() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  int stop() {
    if (pid_ <= 0) return 0;
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  int run(const std::string& cmd) {
    int st = system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

  std::string dir_, sock_, pool_;
  pid_t pid_ = -1;
};

TEST_F(Zvfsd, DaemonModeStatusAndDown) {
  std::string cli = std::string(kZvfs) + " ";
  EXPECT_EQ(run(cli + "status >/dev/null 2>&1"), 3);  // no daemon yet
  std::string log = dir_ + "/d.log";
  ASSERT_EQ(run(std::string(kZvfsd) + " --pool " + pool_ + " --size 256M --socket " + sock_ +
                " --log " + log + " --buffered --pidfile " + dir_ + "/pid"),
            0);
  // Returned only once the socket accepts.
  EXPECT_EQ(run(cli + "status --json > " + dir_ + "/st.json"), 0);
  struct stat st;
  ASSERT_EQ(stat(pool_.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 256 << 20);
  EXPECT_LT(st.st_blocks * 512, 64 << 20);  // sparse
  EXPECT_EQ(run("grep -q '\"pool\":{\"size_bytes\"' " + dir_ + "/st.json"), 0);
  // A new pool has this build's format; its file system has room, so no host limit.
  EXPECT_EQ(run("grep -q '\"format_version\":2,\"block_size\":16384,\"host_limited\":false,' " +
                dir_ + "/st.json"),
            0);
  EXPECT_EQ(run(cli + "scrub > /dev/null"), 0);
  EXPECT_EQ(run(cli + "down > /dev/null"), 0);
  EXPECT_NE(access(sock_.c_str(), F_OK), 0);  // socket removed
  EXPECT_EQ(run(cli + "status >/dev/null 2>&1"), 3);
  // A second start imports the pool it created.
  ASSERT_TRUE(start());
  EXPECT_EQ(stop(), 0);
}

TEST_F(Zvfsd, DataSurvivesCleanRestart) {
  ASSERT_TRUE(start());
  std::string path = dir_ + "/f";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ipc::AttachInfo info;
  int h = ipc::attach(fd, O_RDWR | O_CREAT, &info);
  ASSERT_GE(h, 0) << strerror(-h);
  ASSERT_TRUE(info.zvfs);
  auto data = random_bytes(3 << 20, 11);
  ASSERT_EQ(ipc::pwrite(h, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  ASSERT_EQ(ipc::detach(h), 0);
  EXPECT_EQ(stop(), 0);
  ASSERT_TRUE(start());
  h = ipc::attach(fd, O_RDWR, &info);
  ASSERT_GE(h, 0);
  EXPECT_EQ(info.size, data.size());
  std::vector<uint8_t> back(data.size());
  ASSERT_EQ(ipc::pread(h, back.data(), back.size(), 0), static_cast<ssize_t>(data.size()));
  EXPECT_EQ(0, memcmp(back.data(), data.data(), data.size()));
  ipc::detach(h);
  close(fd);
}

// Shared between the test and its worker processes.
struct Progress {
  std::atomic<int> stop;
  std::atomic<int> synced[4];  // last iteration whose sync returned 0
  std::atomic<int> failures[4];
};

constexpr size_t kBlock = 16384;

// Runs body() in a forked child that exits with its result; the child is killed when the test
// process ends, even by a failed assertion that skipped the test's own clean-up.
template <class F>
pid_t spawn(F body) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    _exit(body());
  }
  return pid;
}

std::string read_file(const std::string& path) {
  std::string out;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

void fill(uint8_t* p, int worker, int iter) {
  for (size_t i = 0; i < kBlock; ++i) p[i] = static_cast<uint8_t>(worker * 50 + iter + i / 1024);
}

int worker(const std::string& path, int w, Progress* pr) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ipc::AttachInfo info;
  int h = ipc::attach(fd, O_RDWR | O_CREAT, &info);
  if (h < 0) return 10;
  uint8_t buf[kBlock];
  int lost_reported = 0;
  for (int it = 0; it < 100000 && !pr->stop.load(); ++it) {
    fill(buf, w, it);
    if (ipc::pwrite(h, buf, kBlock, static_cast<uint64_t>(it) * kBlock) != kBlock) {
      pr->failures[w]++;
      continue;
    }
    int r = ipc::sync(h, it % 2 == 0);
    if (r == 0) {
      pr->synced[w].store(it);
    } else if (r == -EIO && lost_reported == 0) {
      lost_reported = 1;  // the daemon died with this write unsynced: reported once
      --it;               // write it again
    } else {
      pr->failures[w]++;
    }
    usleep(200);
  }
  return 0;
}

TEST_F(Zvfsd, KillNineMidWorkloadClientsRecover) {
  setenv("ZVFS_TIMEOUT_MS", "30000", 1);
  ASSERT_TRUE(start());
  auto* pr = static_cast<Progress*>(
      mmap(nullptr, sizeof(Progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  memset(static_cast<void*>(pr), 0, sizeof *pr);
  for (auto& s : pr->synced) s.store(-1);
  // A file with synced data and one with unsynced writes, held by this process.
  int afd = open((dir_ + "/a").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  int bfd = open((dir_ + "/b").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ipc::AttachInfo info;
  int a = ipc::attach(afd, O_RDWR | O_CREAT, &info);
  int b = ipc::attach(bfd, O_RDWR | O_CREAT, &info);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  auto adata = random_bytes(1 << 20, 5);
  ASSERT_EQ(ipc::pwrite(a, adata.data(), adata.size(), 0), static_cast<ssize_t>(adata.size()));
  ASSERT_EQ(ipc::sync(a, false), 0);
  ASSERT_EQ(ipc::pwrite(b, "unsynced", 8, 0), 8);
  std::vector<pid_t> kids;
  for (int w = 0; w < 4; ++w) {
    pid_t pid = spawn([&] { return worker(dir_ + "/w" + std::to_string(w), w, pr); });
    ASSERT_GE(pid, 0);
    kids.push_back(pid);
  }
  // Let the workers sync some iterations, then crash the daemon and bring it back.
  for (int i = 0; i < 500 && pr->synced[3].load() < 5; ++i) usleep(10000);
  kill9();
  int before[4];
  for (int w = 0; w < 4; ++w) before[w] = pr->synced[w].load();
  ASSERT_TRUE(start());
  // The workers make progress again.
  for (int i = 0; i < 1000; ++i) {
    bool all = true;
    for (int w = 0; w < 4; ++w) all = all && pr->synced[w].load() > before[w] + 5;
    if (all) break;
    usleep(10000);
  }
  pr->stop.store(1);
  for (pid_t pid : kids) {
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  for (int w = 0; w < 4; ++w) {
    EXPECT_GT(pr->synced[w].load(), before[w] + 5) << "worker " << w << " did not recover";
    EXPECT_EQ(pr->failures[w].load(), 0) << "worker " << w;
  }
  // Every iteration the workers saw synced is there, after a crash and a restart. This process
  // reconnects first: the new daemon's placeholder guard lets only its clients open the files.
  ASSERT_EQ(ipc::null_request(), 0);
  for (int w = 0; w < 4; ++w) {
    int fd = open((dir_ + "/w" + std::to_string(w)).c_str(), O_RDONLY | O_CLOEXEC);
    int h = ipc::attach(fd, O_RDONLY, &info);
    ASSERT_GE(h, 0);
    uint8_t want[kBlock], got[kBlock];
    for (int it = 0; it <= pr->synced[w].load(); ++it) {
      fill(want, w, it);
      ASSERT_EQ(ipc::pread(h, got, kBlock, static_cast<uint64_t>(it) * kBlock),
                static_cast<ssize_t>(kBlock));
      ASSERT_EQ(0, memcmp(want, got, kBlock)) << "worker " << w << " iteration " << it;
    }
    ipc::detach(h);
    close(fd);
  }
  // This process: synced data intact, the unsynced handle reports the loss once.
  std::vector<uint8_t> back(adata.size());
  ASSERT_EQ(ipc::pread(a, back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(0, memcmp(back.data(), adata.data(), adata.size()));
  EXPECT_EQ(ipc::sync(a, false), 0);
  EXPECT_EQ(ipc::sync(b, false), -EIO);
  EXPECT_EQ(ipc::sync(b, false), 0);
  ipc::detach(a);
  ipc::detach(b);
  close(afd);
  close(bfd);
  munmap(pr, sizeof *pr);
  EXPECT_EQ(stop(), 0);
  unsetenv("ZVFS_TIMEOUT_MS");
}

// A client process writing and syncing 16 KiB blocks in a loop until it is killed; bumps *synced
// after each sync that succeeded.
int sync_loop(const std::string& path, std::atomic<int>* synced) {
  // A client connects before it opens a file that a daemon guards (placeholder_guard.h).
  if (ipc::ensure_session() != 0) return 11;
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ipc::AttachInfo info;
  int h = ipc::attach(fd, O_RDWR | O_CREAT, &info);
  if (h < 0) return 10;
  uint8_t buf[kBlock];
  for (int it = 0;; ++it) {
    fill(buf, 0, it);
    if (ipc::pwrite(h, buf, kBlock, static_cast<uint64_t>(it % 256) * kBlock) == kBlock &&
        ipc::sync(h, false) == 0)
      synced->fetch_add(1);
  }
}

// A daemon killed with SIGKILL while clients keep it busy is restarted at once on the same pool,
// several times in a row: the new daemon waits for the dead one's lock on the pool (released by
// the kernel only after it has torn down the dead process's rings) instead of failing.
TEST_F(Zvfsd, KillNineUnderLoadThenImmediateRestart) {
  setenv("ZVFS_TIMEOUT_MS", "30000", 1);
  auto* synced =
      static_cast<std::atomic<int>*>(mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                                          MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(synced, MAP_FAILED);
  ASSERT_TRUE(start());
  for (int round = 0; round < 5; ++round) {
    synced->store(0);
    std::vector<pid_t> kids;
    for (int k = 0; k < 3; ++k) {
      pid_t pid = spawn([&] { return sync_loop(dir_ + "/load" + std::to_string(k), synced); });
      ASSERT_GE(pid, 0);
      kids.push_back(pid);
    }
    for (int i = 0; i < 1000 && synced->load() < 30; ++i) usleep(10000);
    ASSERT_GE(synced->load(), 30) << "round " << round << ": the clients made no progress";
    kill9();
    bool up = start();
    for (pid_t pid : kids) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    ASSERT_TRUE(up) << "round " << round
                    << ": the restarted daemon exited: " << read_file(dir_ + "/zvfsd.stderr");
  }
  EXPECT_EQ(stop(), 0);
  munmap(synced, sizeof(std::atomic<int>));
  unsetenv("ZVFS_TIMEOUT_MS");
}

// A pool locked by another process: the daemon waits (bounded) and starts as soon as the lock is
// released; if it is not released in time, it fails with a message that says so.
TEST_F(Zvfsd, WaitsForALockedPoolThenGivesUpClearly) {
  ASSERT_TRUE(start());
  ASSERT_EQ(stop(), 0);
  int lfd = open(pool_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(lfd, 0);
  ASSERT_EQ(flock(lfd, LOCK_EX | LOCK_NB), 0);
  // Not released in time: a clear failure.
  EXPECT_FALSE(start("256M", "300"));
  std::string err = read_file(dir_ + "/zvfsd.stderr");
  EXPECT_NE(err.find("in use by another process"), std::string::npos) << err;
  EXPECT_NE(err.find("still locked after 0.3 s"), std::string::npos) << err;
  // Released while the daemon waits: it starts.
  pid_t releaser = spawn([&] {
    // Release once the daemon has said it is waiting (bounded).
    for (int i = 0; i < 1000; ++i) {
      if (read_file(dir_ + "/zvfsd.log").find("locked by another process") != std::string::npos)
        break;
      usleep(10000);
    }
    return flock(lfd, LOCK_UN);
  });
  ASSERT_GE(releaser, 0);
  close(lfd);  // the child's copy of the descriptor holds the lock now
  EXPECT_TRUE(start("256M", "20000"));
  int st = 0;
  waitpid(releaser, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_NE(read_file(dir_ + "/zvfsd.log").find("locked by another process"), std::string::npos);
  EXPECT_EQ(stop(), 0);
}

// Stats straight from the daemon, decoded as `zvfs status` does.
cli::StatsView daemon_stats(const std::string& sock) {
  std::vector<uint8_t> rep(ipc::kMaxSocketPayload);
  size_t len = 0;
  cli::StatsView v;
  if (ipc::admin_call(sock.c_str(), ipc::Op::kStats, nullptr, 0, rep.data(), rep.size(), &len,
                      5000) < 0 ||
      !cli::parse_stats(rep.data(), len, &v))
    v.h.daemon_pid = 0;
  return v;
}

TEST_F(Zvfsd, KilledClientLeavesNoHandleInStats) {
  ASSERT_TRUE(start());
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  // The client runs with a gid of its own where the test may give it one (as root), so the
  // daemon's report cannot match by accident.
  const gid_t kid_gid = getuid() == 0 ? 4321 : getgid();
  pid_t kid = spawn([&] {
    if (getgid() != kid_gid && setgid(kid_gid) != 0) return 3;
    for (int i = 0; i < 3; ++i) {
      int fd = open((dir_ + "/k" + std::to_string(i)).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      ipc::AttachInfo info;
      int h = ipc::attach(fd, O_RDWR | O_CREAT, &info);
      if (h < 0 || ipc::pwrite(h, "data", 4, 0) != 4) return 2;
    }
    (void)!write(p[1], "r", 1);
    pause();
    return 0;
  });
  ASSERT_GE(kid, 0);
  char c;
  ASSERT_EQ(read(p[0], &c, 1), 1);
  cli::StatsView v = daemon_stats(sock_);
  ASSERT_NE(v.h.daemon_pid, 0u);
  EXPECT_EQ(v.h.open_handles, 3u);
  bool listed = false;
  for (auto& ci : v.clients)
    listed =
        listed || (ci.pid == kid && ci.uid == getuid() && ci.gid == kid_gid && ci.handles == 3);
  EXPECT_TRUE(v.client_gid);
  EXPECT_TRUE(listed);
  // `zvfs status` shows the client's pid, uid and gid, as text and as JSON.
  std::string cli = std::string(kZvfs) + " status --socket " + sock_;
  ASSERT_EQ(run(cli + " > " + dir_ + "/st.txt"), 0);
  ASSERT_EQ(run(cli + " --json > " + dir_ + "/st.json"), 0);
  std::string txt = read_file(dir_ + "/st.txt"), json = read_file(dir_ + "/st.json");
  EXPECT_NE(txt.find("PID    UID    GID"), std::string::npos) << txt;
  char row[64];
  snprintf(row, sizeof row, " %8d %6u %6u %8d ", kid, getuid(), kid_gid, 3);
  EXPECT_NE(txt.find(row), std::string::npos) << row << "\n" << txt;
  char obj[96];
  snprintf(obj, sizeof obj, "\"pid\":%d,\"uid\":%u,\"gid\":%u,\"handles\":3,", kid, getuid(),
           kid_gid);
  EXPECT_NE(json.find(obj), std::string::npos) << obj << "\n" << json;
  kill(kid, SIGKILL);
  waitpid(kid, nullptr, 0);
  // The session releases its handles first and leaves the client list just after: wait for
  // both (the list was checked right after the handles reached 0, and raced with the second).
  auto gone = [&] {
    cli::StatsView s = daemon_stats(sock_);
    if (s.h.open_handles != 0) return false;
    for (auto& ci : s.clients)
      if (ci.pid == kid) return false;
    return true;
  };
  for (int i = 0; i < 500 && !gone(); ++i) usleep(10000);
  v = daemon_stats(sock_);
  EXPECT_EQ(v.h.open_handles, 0u);
  EXPECT_EQ(v.h.open_blobs, 0u);
  for (auto& ci : v.clients) EXPECT_NE(ci.pid, kid);
  close(p[0]);
  close(p[1]);
}

// Space fallocate set aside shows in `zvfs status` until the file's last close gives it back.
TEST_F(Zvfsd, StatusShowsFallocatedSpace) {
  ASSERT_TRUE(start());
  int fd = open((dir_ + "/pre").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ipc::AttachInfo info;
  int h = ipc::attach(fd, O_RDWR | O_CREAT, &info);
  ASSERT_GE(h, 0);
  ASSERT_EQ(ipc::fallocate(h, 0, 0, 8 << 20), 0);
  cli::StatsView v = daemon_stats(sock_);
  ASSERT_TRUE(v.has_fallocated);
  EXPECT_EQ(v.p.fallocated_bytes, 8u << 20);
  const std::string cli = std::string(kZvfs) + " status --socket " + sock_;
  ASSERT_EQ(run(cli + " > " + dir_ + "/st.txt"), 0);
  ASSERT_EQ(run(cli + " --json > " + dir_ + "/st.json"), 0);
  const std::string txt = read_file(dir_ + "/st.txt");
  EXPECT_NE(txt.find("8.0 MiB of the free space set aside by fallocate"), std::string::npos) << txt;
  EXPECT_NE(read_file(dir_ + "/st.json").find("\"fallocated_bytes\":8388608"), std::string::npos);
  ipc::detach(h);
  close(fd);
  v = daemon_stats(sock_);
  EXPECT_EQ(v.p.fallocated_bytes, 0u);
  ASSERT_EQ(run(cli + " > " + dir_ + "/st.txt"), 0);
  EXPECT_EQ(read_file(dir_ + "/st.txt").find("set aside"), std::string::npos);
}

// Opens a connection that said hello (a session), retrying while the daemon still counts the
// connections it just closed. -1 on failure.
int hello_session(const std::string& sock) {
  for (int i = 0; i < 500; ++i) {
    int s = ipc::sock_connect(sock.c_str());
    if (s < 0) return -1;
    ipc::HelloReq req;
    req.pid = static_cast<uint32_t>(getpid());
    alignas(8) uint8_t out[sizeof(ipc::MsgHeader) + sizeof req];
    alignas(8) uint8_t in[sizeof(ipc::MsgHeader) + sizeof(ipc::HelloRep)];
    size_t n = ipc::encode_message(static_cast<uint16_t>(ipc::Op::kHello), 1, 0, &req, sizeof req,
                                   out, sizeof out);
    size_t got = 0;
    int memfd = -1;
    int r = ipc::sock_send(s, out, n, -1);
    if (r == 0) r = ipc::sock_recv(s, in, sizeof in, &got, &memfd, 5000);
    if (memfd >= 0) close(memfd);
    ipc::MsgHeader h;
    if (r == 0 && got >= sizeof h) {
      memcpy(&h, in, sizeof h);
      if (h.status == 0) return s;
      r = h.status;
    }
    close(s);
    if (r != -EUSERS) return -1;
    usleep(10000);
  }
  return -1;
}

TEST_F(Zvfsd, PerUserSessionLimit) {
  ASSERT_TRUE(start("256M", "10000", "--max-sessions-per-user", "1"));
  int held = hello_session(sock_);
  ASSERT_GE(held, 0);
  std::string err = dir_ + "/status.err";
  EXPECT_EQ(run(std::string(kZvfs) + " status --socket " + sock_ + " > /dev/null 2> " + err), 1);
  EXPECT_NE(read_file(err).find("--max-sessions-per-user"), std::string::npos) << read_file(err);
  // The client library reports the refusal at once (EUSERS), not as an absent daemon (EIO after
  // its connection timeout).
  int fd = open((dir_ + "/refused").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ipc::AttachInfo info;
  EXPECT_EQ(ipc::attach(fd, O_RDWR | O_CREAT, &info), -EUSERS);
  close(fd);
  close(held);
  EXPECT_EQ(stop(), 0);
  EXPECT_NE(read_file(dir_ + "/zvfsd.log").find("--max-sessions-per-user); refusing pid"),
            std::string::npos);
  // A bad value is refused at start-up.
  EXPECT_EQ(run(std::string(kZvfsd) + " --pool " + pool_ + " --max-sessions-per-user x 2> " + err),
            1);
  EXPECT_NE(read_file(err).find("--max-sessions-per-user"), std::string::npos);
}

// The load monitor hands its busy-waiting verdict to every session's region every 5 ms, also
// to a session whose client has gone but which the accept loop has not reaped yet (up to
// 500 ms): the region is unmapped by then. It once wrote there and the daemon crashed.
TEST_F(Zvfsd, SessionsEndingBetweenReapsDoNotCrashTheLoadMonitor) {
  ASSERT_TRUE(start());
  for (int i = 0; i < 30; ++i) {
    int s = hello_session(sock_);
    ASSERT_GE(s, 0);
    close(s);
    usleep(15000);  // exposure: three verdicts land while the session is finished, not reaped
  }
  int st;
  EXPECT_EQ(waitpid(pid_, &st, WNOHANG), 0) << "zvfsd died";
  EXPECT_NE(daemon_stats(sock_).h.daemon_pid, 0u);
}

TEST_F(Zvfsd, UpgradeIsOfflineAndLeavesACurrentPoolAlone) {
  std::string cli = std::string(kZvfs) + " ";
  ASSERT_TRUE(start());
  EXPECT_EQ(run(cli + "upgrade " + pool_ + " 2> " + dir_ + "/busy.err"), 1);
  EXPECT_NE(read_file(dir_ + "/busy.err").find("stop it first (zvfs down)"), std::string::npos);
  EXPECT_EQ(stop(), 0);
  EXPECT_EQ(run(cli + "upgrade " + pool_ + " > " + dir_ + "/up.out"), 0);
  EXPECT_NE(read_file(dir_ + "/up.out").find("is already at format 2"), std::string::npos)
      << read_file(dir_ + "/up.out");
  EXPECT_EQ(run(cli + "upgrade " + dir_ + "/no-such-pool 2>/dev/null"), 1);
  EXPECT_EQ(run(cli + "upgrade 2>/dev/null"), 2);
  EXPECT_EQ(run(cli + "upgrade --help > /dev/null"), 0);
  EXPECT_EQ(run(cli + "fsck " + pool_ + " > /dev/null"), 0);
}

TEST_F(Zvfsd, GrowMakesAPoolFileLargerOffline) {
  std::string cli = std::string(kZvfs) + " ";
  ASSERT_TRUE(start("64M"));
  EXPECT_EQ(run(cli + "grow " + pool_ + " --size 128M 2> " + dir_ + "/busy.err"), 1);
  EXPECT_NE(read_file(dir_ + "/busy.err").find("stop it first (zvfs down)"), std::string::npos);
  EXPECT_EQ(stop(), 0);
  struct stat st;
  ASSERT_EQ(stat(pool_.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 64 << 20) << "not extended while a daemon had the pool";
  EXPECT_EQ(run(cli + "grow " + pool_ + " 2>/dev/null"), 2) << "a file needs --size";
  EXPECT_EQ(run(cli + "grow " + pool_ + " --size 32M 2>/dev/null"), 2) << "never shrinks";
  EXPECT_EQ(run(cli + "grow " + pool_ + " --size 128M > " + dir_ + "/grow.out"), 0);
  EXPECT_NE(read_file(dir_ + "/grow.out").find("data region"), std::string::npos);
  ASSERT_EQ(stat(pool_.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 128 << 20);
  EXPECT_LT(st.st_blocks * 512, 96 << 20) << "extended sparse";
  EXPECT_EQ(run(cli + "grow " + pool_ + " --size 128M > " + dir_ + "/grow2.out"), 0);
  EXPECT_NE(read_file(dir_ + "/grow2.out").find("is already"), std::string::npos);
  EXPECT_EQ(run(cli + "fsck " + pool_ + " > /dev/null"), 0);
  // --size of an existing pool is not applied: it imports at 128M, and says so (at info).
  ASSERT_TRUE(start("256M", "10000", "--log-level", "info"));
  std::string st_cmd = cli + "status --socket " + sock_ + " --json > " + dir_ + "/st.json";
  EXPECT_EQ(run(st_cmd), 0);
  EXPECT_EQ(stop(), 0);
  EXPECT_NE(read_file(dir_ + "/zvfsd.log").find("applies only to a new pool (`zvfs grow`"),
            std::string::npos)
      << "the daemon says why --size did not grow it";
  const std::string js = read_file(dir_ + "/st.json");
  const size_t at = js.find("\"size_bytes\":");
  ASSERT_NE(at, std::string::npos) << js;
  EXPECT_GT(std::stoull(js.substr(at + 13)), 100ull << 20) << js;
}

// --block-size sets the data block size of a new pool, from the daemon and from `zvfs create`;
// an existing pool keeps its own, and the daemon says so.
TEST_F(Zvfsd, BlockSizeOfANewPool) {
  std::string cli = std::string(kZvfs) + " ";
  auto block_size_of_served_pool = [&] {
    std::string st = dir_ + "/st.json";
    EXPECT_EQ(run(cli + "status --socket " + sock_ + " --json > " + st), 0);
    const std::string js = read_file(st);
    const size_t at = js.find("\"block_size\":");
    return at == std::string::npos ? 0ull : std::stoull(js.substr(at + 13));
  };
  ASSERT_TRUE(start("64M", "10000", "--block-size", "8K"));
  EXPECT_EQ(block_size_of_served_pool(), 8192u);
  EXPECT_EQ(stop(), 0);
  ASSERT_TRUE(start("64M", "10000", "--block-size", "64K"));
  EXPECT_EQ(block_size_of_served_pool(), 8192u) << "an existing pool keeps its block size";
  EXPECT_EQ(stop(), 0);
  EXPECT_NE(read_file(dir_ + "/zvfsd.log").find("--block-size 65536 applies only to a new pool"),
            std::string::npos);
  EXPECT_FALSE(start("64M", "10000", "--block-size", "3K")) << "not a power of two";

  ASSERT_EQ(unlink(pool_.c_str()), 0);
  EXPECT_EQ(run(cli + "create " + pool_ + " --size 64M --block-size 12K 2>/dev/null"), 2);
  EXPECT_EQ(run(cli + "create " + pool_ + " --size 64M --block-size 4K >/dev/null"), 0);
  ASSERT_TRUE(start());
  EXPECT_EQ(block_size_of_served_pool(), 4096u);
}

// `zvfs create --preallocate` writes the whole pool file once (dense); without it the file is
// sparse. Either serves.
TEST_F(Zvfsd, PreallocatedPoolFileIsDense) {
  std::string cli = std::string(kZvfs) + " ";
  EXPECT_EQ(run(cli + "create " + pool_ + " --size 64M --preallocate >/dev/null"), 0);
  struct stat st;
  ASSERT_EQ(stat(pool_.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 64 << 20);
  EXPECT_GE(st.st_blocks * 512, 60 << 20) << "written through, not sparse";
  ASSERT_TRUE(start());
  EXPECT_EQ(stop(), 0);
  const std::string sparse = dir_ + "/sparse.pool";
  EXPECT_EQ(run(cli + "create " + sparse + " --size 64M >/dev/null"), 0);
  ASSERT_EQ(stat(sparse.c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 32 << 20) << "sparse without --preallocate";
}

TEST_F(Zvfsd, FsckFindsAndRepairsOrphans) {
  std::string cli = std::string(kZvfs) + " ";
  ASSERT_TRUE(start());
  for (int i = 0; i < 3; ++i) {
    int fd = open((dir_ + "/f" + std::to_string(i)).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ipc::AttachInfo info;
    int h = ipc::attach(fd, O_RDWR | O_CREAT, &info);
    ASSERT_GE(h, 0);
    ASSERT_EQ(ipc::pwrite(h, "payload", 7, 0), 7);
    ASSERT_EQ(ipc::detach(h), 0);
    close(fd);
  }
  // Not while a daemon serves the pool: a clear refusal.
  EXPECT_EQ(run(cli + "fsck " + pool_ + " 2> " + dir_ + "/busy.err"), 1);
  EXPECT_NE(read_file(dir_ + "/busy.err").find("stop it first (zvfs down)"), std::string::npos);
  EXPECT_EQ(stop(), 0);
  // A tool run without the library removes a placeholder: its blob is orphaned.
  ASSERT_EQ(unlink((dir_ + "/f1").c_str()), 0);
  std::string fsck = cli + "fsck " + pool_ + " --root " + dir_ + " > " + dir_ + "/fsck.out";
  EXPECT_EQ(run(fsck), 4);
  EXPECT_EQ(run("grep -q '1 orphaned' " + dir_ + "/fsck.out"), 0);
  EXPECT_EQ(run(fsck + " --repair"), 0);
  EXPECT_EQ(run(fsck), 0);
  EXPECT_EQ(run(cli + "fsck " + pool_ + " > /dev/null"), 0);
  // The surviving files are intact.
  ASSERT_TRUE(start());
  int fd = open((dir_ + "/f2").c_str(), O_RDONLY | O_CLOEXEC);
  ipc::AttachInfo info;
  int h = ipc::attach(fd, O_RDONLY, &info);
  ASSERT_GE(h, 0);
  char b[7];
  ASSERT_EQ(ipc::pread(h, b, 7, 0), 7);
  EXPECT_EQ(0, memcmp(b, "payload", 7));
  ipc::detach(h);
  close(fd);
  // Offline create, usage errors.
  EXPECT_EQ(run(cli + "create " + dir_ + "/new.pool --size 64M > /dev/null"), 0);
  EXPECT_EQ(run(cli + "create " + dir_ + "/new.pool --size 64M 2> /dev/null"), 1);  // exists
  EXPECT_EQ(run(cli + "fsck " + dir_ + "/new.pool > /dev/null"), 0);
  EXPECT_EQ(run(cli + "frobnicate 2> /dev/null"), 2);
  EXPECT_EQ(run(cli + "status --bogus 2> /dev/null"), 2);
}

TEST_F(Zvfsd, RunSetsPreloadAndRoot) {
  std::string out = dir_ + "/env.out";
  std::string cmd = "ZVFS_LIB=/lib/x86_64-linux-gnu/libm.so.6 " + std::string(kZvfs) +
                    " run --root " + dir_ + " -- sh -c 'echo $LD_PRELOAD; echo $ZVFS_ROOT' > " +
                    out;
  ASSERT_EQ(run(cmd), 0);
  EXPECT_EQ(run("grep -qx /lib/x86_64-linux-gnu/libm.so.6 " + out), 0);
  EXPECT_EQ(run("grep -qx " + dir_ + " " + out), 0);
  EXPECT_EQ(run("ZVFS_LIB=/lib/x86_64-linux-gnu/libm.so.6 " + std::string(kZvfs) +
                " run -- /nonexistent/cmd 2>/dev/null"),
            127);
}

// A configuration file alone (ZVFS_CONFIG, no flags, no ZVFS_SOCKET or ZVFS_ROOT) sets up the
// daemon, tells `zvfs` where the socket is and tells the library which prefix is ZVFS's; the
// environment still wins over it; a wrong file is refused with its name and line.
TEST_F(Zvfsd, ConfigurationFileDrivesDaemonCliAndLibrary) {
  std::string conf = dir_ + "/zvfs.conf", cpool = dir_ + "/c.pool", csock = dir_ + "/c.sock";
  std::string root = dir_ + "/z";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_TRUE(write_file(conf, "# test configuration\npool = " + cpool +
                                   "\nsize = 256M\nsocket = " + csock + "\nroot = " + root +
                                   "\ncache = 48M\nbuffered = yes\nlog = " + dir_ +
                                   "/c.log\nlog-level = warn\n"));
  unsetenv("ZVFS_SOCKET");
  unsetenv("ZVFS_ROOT");
  std::string env = "ZVFS_CONFIG=" + conf + " ";
  std::string cli = env + kZvfs + " ";
  ASSERT_EQ(run(env + kZvfsd), 0);  // daemonizes once the socket accepts
  struct StopAtEnd {                // a failed assertion must not leave the daemon running
    std::string cmd;
    ~StopAtEnd() { (void)!system(cmd.c_str()); }
  } stop_at_end{cli + "down > /dev/null 2>&1"};
  struct stat st;
  ASSERT_EQ(stat(cpool.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 256 << 20);
  EXPECT_EQ(access(csock.c_str(), F_OK), 0);
  ASSERT_EQ(run(cli + "status --json > " + dir_ + "/st.json"), 0);
  EXPECT_EQ(run("grep -q '\"max_bytes\":" + std::to_string(48 << 20) + "' " + dir_ + "/st.json"),
            0);
  // The library, started by `zvfs run` with no prefix given, takes the file's root: the bytes
  // go to the pool, and the placeholder holds none of them. (In the normal build only:
  // kNeedsPlainBuild.)
  if (!kSanitized) {
    struct stat fst;
    std::string f = root + "/f", out = dir_ + "/out";
    ASSERT_EQ(run(cli + "run -- sh -c 'echo hello > " + f + " && cat " + f + "' > " + out), 0);
    EXPECT_EQ(read_file(out), "hello\n");
    ASSERT_EQ(stat(f.c_str(), &fst), 0);
    EXPECT_EQ(fst.st_size, 6);
    EXPECT_EQ(fst.st_blocks, 0);
    // Four O_DSYNC writes, one after the other, are four intent-log blocks in `zvfs status`.
    ASSERT_EQ(run(cli + "run -- dd if=/dev/zero of=" + root + "/g bs=4k count=4 oflag=dsync " +
                  "status=none"),
              0);
    ASSERT_EQ(run(cli + "status --json > " + dir_ + "/st2.json"), 0);
    std::string js = read_file(dir_ + "/st2.json");
    size_t at = js.find("\"log\":{\"records\":");
    ASSERT_NE(at, std::string::npos) << js;
    size_t blocks_at = js.find("\"blocks\":", at);
    ASSERT_NE(blocks_at, std::string::npos) << js;
    EXPECT_GE(atoll(js.c_str() + blocks_at + 9), 4) << js;
    EXPECT_NE(js.find("\"dirty_max_bytes\":"), std::string::npos) << js;
  }
  // The environment wins over the file.
  EXPECT_EQ(run("ZVFS_SOCKET=" + dir_ + "/none.sock " + cli + "status >/dev/null 2>&1"), 3);
  EXPECT_EQ(run(cli + "down > /dev/null"), 0);
  EXPECT_NE(access(csock.c_str(), F_OK), 0);
  // A wrong file: both programs say where, and neither runs on a part of it.
  std::string bad = dir_ + "/bad.conf";
  ASSERT_TRUE(write_file(bad, "pool = " + cpool + "\ncahce = 1G\n"));
  EXPECT_EQ(run("ZVFS_CONFIG=" + bad + " " + kZvfs + " status 2> " + dir_ + "/err1"), 1);
  EXPECT_EQ(read_file(dir_ + "/err1"), "zvfs: " + bad + ":2: unknown setting 'cahce'\n");
  EXPECT_EQ(run("ZVFS_CONFIG=" + bad + " " + kZvfsd + " 2> " + dir_ + "/err2"), 1);
  EXPECT_EQ(read_file(dir_ + "/err2"), "zvfsd: " + bad + ":2: unknown setting 'cahce'\n");
}

// The library never fails a program over the configuration file: a file it cannot use is
// logged (ZVFS_LOG) and left aside, and the environment still works.
TEST_F(Zvfsd, LibraryLogsAndIgnoresABadConfigurationFile) {
  if (kSanitized) GTEST_SKIP() << kNeedsPlainBuild;
  ASSERT_TRUE(start());
  std::string root = dir_ + "/z", bad = dir_ + "/bad.conf", log = dir_ + "/lib.log";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_TRUE(write_file(bad, "root = /elsewhere\nno equals sign here\n"));
  std::string env = std::string("LD_PRELOAD=") + kLib + " ZVFS_ROOT=" + root +
                    " ZVFS_CONFIG=" + bad + " ZVFS_LOG=" + log + " ";
  ASSERT_EQ(
      run(env + "sh -c 'echo data > " + root + "/f && cat " + root + "/f' > " + dir_ + "/out"), 0);
  EXPECT_EQ(read_file(dir_ + "/out"), "data\n");
  struct stat st;
  ASSERT_EQ(stat((root + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_blocks, 0);  // in the pool: ZVFS_ROOT was used
  EXPECT_NE(read_file(log).find("configuration ignored: " + bad +
                                ":2: expected 'name = value' or a # comment"),
            std::string::npos)
      << read_file(log);
  // A missing named file: the same.
  ASSERT_EQ(run(std::string("LD_PRELOAD=") + kLib + " ZVFS_CONFIG=" + dir_ + "/absent.conf " +
                "ZVFS_LOG=" + log + " /bin/true"),
            0);
  EXPECT_NE(read_file(log).find("absent.conf: No such file or directory"), std::string::npos);
}

// `zvfs cp` copies into the pool, within it and out of it, byte for byte.
TEST_F(Zvfsd, CpCopiesInWithinAndOut) {
  if (kSanitized) GTEST_SKIP() << kNeedsPlainBuild;
  ASSERT_TRUE(start());
  std::string root = dir_ + "/z", src = dir_ + "/src", out = dir_ + "/out";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(run("head -c 300001 /dev/urandom > " + src), 0);
  std::string cp = "ZVFS_ROOT=" + root + " " + kZvfs + " cp ";
  ASSERT_EQ(run(cp + src + " " + root + "/in"), 0);
  struct stat st;
  ASSERT_EQ(stat((root + "/in").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 300001);
  EXPECT_EQ(st.st_blocks, 0);  // the bytes are in the pool, not in the placeholder
  ASSERT_EQ(run(cp + root + "/in " + root + "/in2"), 0);
  ASSERT_EQ(run(cp + root + "/in2 " + out), 0);
  EXPECT_EQ(run("cmp -s " + src + " " + out), 0);
  ASSERT_EQ(stat(out.c_str(), &st), 0);
  EXPECT_GT(st.st_blocks, 0);
  EXPECT_EQ(run(cp + root + "/absent " + out + " 2>/dev/null"), 1);       // cp's own exit code
  EXPECT_EQ(run(std::string(kZvfs) + " cp " + src + " 2>/dev/null"), 2);  // no destination
}

// `zvfs run` starts a program stored in ZVFS (an ELF copy and a script), by path and through
// PATH: its own process has no library, so a shell with the library runs it.
TEST_F(Zvfsd, RunStartsProgramsStoredInZvfs) {
  if (kSanitized) GTEST_SKIP() << kNeedsPlainBuild;
  ASSERT_TRUE(start());
  std::string root = dir_ + "/z", out = dir_ + "/out";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  std::string env = "ZVFS_ROOT=" + root + " ";
  std::string zrun = env + kZvfs + " run -- ";
  ASSERT_EQ(run(env + kZvfs + " cp /bin/echo " + root + "/zecho"), 0);
  ASSERT_EQ(run(zrun + "sh -c 'printf \"#!/bin/sh\\necho script \\$0 \\$1\\n\" > " + root +
                "/s.sh && chmod +x " + root + "/s.sh'"),
            0);
  struct stat st;
  for (const char* name : {"/zecho", "/s.sh"}) {  // the bytes are in the pool
    ASSERT_EQ(stat((root + name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_blocks, 0) << name;
  }
  ASSERT_EQ(run(zrun + root + "/zecho hello 'two words' > " + out), 0);
  EXPECT_EQ(read_file(out), "hello two words\n");
  ASSERT_EQ(run(zrun + root + "/s.sh arg > " + out), 0);
  EXPECT_EQ(read_file(out), "script " + root + "/s.sh arg\n");
  ASSERT_EQ(run("PATH=" + root + ":$PATH " + zrun + "s.sh viapath > " + out), 0);
  EXPECT_EQ(read_file(out), "script " + root + "/s.sh viapath\n");
}

// One pwrite and one pread of 1 GiB each (split into slot-sized requests by the client).
TEST_F(Zvfsd, BigOneGibPwriteAndPread) {
  ASSERT_TRUE(start("3G"));
  const size_t n = 1ull << 30;
  auto* src = static_cast<uint64_t*>(
      mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  auto* dst = static_cast<uint64_t*>(
      mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(src, MAP_FAILED);
  ASSERT_NE(dst, MAP_FAILED);
  for (size_t i = 0; i < n / 8; ++i) src[i] = i * 0x9e3779b97f4a7c15ull;
  int fd = open((dir_ + "/big").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ipc::AttachInfo info;
  int h = ipc::attach(fd, O_RDWR | O_CREAT, &info);
  ASSERT_GE(h, 0);
  ASSERT_EQ(ipc::pwrite(h, src, n, 4096), static_cast<ssize_t>(n));
  uint64_t eof = 0;
  ASSERT_EQ(ipc::end_of_file(h, &eof), 0);
  EXPECT_EQ(eof, n + 4096);
  ASSERT_EQ(ipc::pread(h, dst, n, 4096), static_cast<ssize_t>(n));
  EXPECT_EQ(0, memcmp(src, dst, n));
  ipc::detach(h);
  struct stat st;  // the placeholder's st_size is exact from the last close on
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), n + 4096);
  close(fd);
  munmap(src, n);
  munmap(dst, n);
}

}  // namespace
}  // namespace zvfs::testing
