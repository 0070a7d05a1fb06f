// mp_test.cc — multi-process and lifecycle scenarios of libzvfs.so (zvfs_mptest under a daemon
// started for the test): concurrent O_APPEND writers, offsets shared by dup and fork, exec of a
// program reading an inherited descriptor, unlink-while-open, rename-over, a writer killed with
// SIGKILL mid-write, mmap, threads sharing an offset, SIGALRM during large writes, fork from a
// multi-threaded process, vfork, close_range, libaio, posix_spawn/fexecve/execveat; plus the
// daemon-down check.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "harness.h"

namespace zvfs::test {
namespace {

class MpTest : public ::testing::Test {
 protected:
  virtual const char* pool_size() const { return "2G"; }
  virtual std::vector<std::string> daemon_args() const { return {}; }
  void SetUp() override {
    base_ = make_temp_dir("mp");
    ASSERT_FALSE(base_.empty());
    root_ = base_ + "/zroot";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((base_ + "/outside").c_str(), 0755), 0);
    std::string why;
    daemon_.set_extra_args(daemon_args());
    ASSERT_TRUE(daemon_.start(&why, pool_size())) << why;
    env_ = preload_env(root_, daemon_.socket());
    env_.push_back("ZVFS_TEST_OUTSIDE=" + base_ + "/outside");
  }
  void TearDown() override {
    EXPECT_EQ(daemon_.stop(), 0) << "zvfsd log in " << daemon_.dir();
    remove_tree(daemon_.dir());
    remove_tree(base_);
  }
  RunResult mp(const std::vector<std::string>& args, int timeout_s = 120) {
    std::vector<std::string> argv = {kMpProg};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, env_, root_, timeout_s);
  }
  // Runs the exerciser once per entry of `runs`, all at the same time; their results in order.
  std::vector<RunResult> mp_concurrently(const std::vector<std::vector<std::string>>& runs) {
    std::vector<RunResult> rs(runs.size());
    std::vector<std::thread> ts;
    for (size_t i = 0; i < runs.size(); ++i) ts.emplace_back([&, i] { rs[i] = mp(runs[i]); });
    for (auto& t : ts) t.join();
    return rs;
  }
  void expect_ok(const std::vector<std::string>& args) {
    RunResult r = mp(args);
    EXPECT_EQ(r.status, 0) << args[0] << ": " << r.err << r.out;
  }
  std::string base_, root_;
  Zvfsd daemon_;
  std::vector<std::string> env_;
};

TEST_F(MpTest, ConcurrentAppendersLoseNothing) {
  constexpr int kWriters = 4;
  std::vector<std::vector<std::string>> runs;
  for (int i = 0; i < kWriters; ++i) runs.push_back({"append", "log", std::to_string(i), "1500"});
  for (auto& r : mp_concurrently(runs)) ASSERT_EQ(r.status, 0) << r.err;
  expect_ok({"verify-append", "log", std::to_string(kWriters), "1500"});
  struct stat st;
  ASSERT_EQ(stat((root_ + "/log").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4 * 1500 * 64);  // the Linux size mirrors the logical size
  EXPECT_EQ(st.st_blocks, 0);            // and the data is in the pool
}

// On a small pool: a full pool answers ENOSPC, and space given back by ftruncate or unlink is
// usable at once (mp_full.cc).
class MpFullPoolTest : public MpTest {
 protected:
  const char* pool_size() const override { return "256M"; }
};
TEST_F(MpFullPoolTest, EnospcThenFreedSpaceIsUsableAtOnce) {
  expect_ok({"pool-full", "f"});
}
// Zeros a program writes take space (as on ext4), and on the pool they filled, rewriting them
// with data works: a database's pages and preallocated log stay writable (mp_full.cc).
TEST_F(MpFullPoolTest, WrittenZerosFillThePoolAndStayWritable) {
  expect_ok({"pool-full-rewrite", "f"});
}
// fallocate of more than the pool holds fails with ENOSPC, as on ext4; what it granted stays
// writable when another file fills the pool (mp_full.cc).
TEST_F(MpFullPoolTest, FallocateBeyondThePoolFailsWithEnospc) {
  expect_ok({"fallocate-room", "f"});
}

// A time the program sets stays if set after its last write and gives way to a later write,
// also within one clock tick, through every call that sets it (mp_times.cc).
TEST_F(MpTest, SetMtimesAreOrderedWithWrites) {
  expect_ok({"mtime-order", "t"});
  for (const char* seed : {"1", "2", "3"}) expect_ok({"mtime-random", "r", seed, "1500"});
}
// The same with write-behind (off by default), where the daemon applies a small overwrite
// after the call that wrote it returned, possibly after the program's next set of the time:
// the library's report of the set follows the write it wrote before.
class MpBehindTest : public MpTest {
 protected:
  std::vector<std::string> daemon_args() const override { return {"--write-behind", "yes"}; }
};
TEST_F(MpBehindTest, SetMtimesAreOrderedWithWritesBehind) {
  expect_ok({"mtime-order", "t"});
  for (const char* seed : {"4", "5", "6"}) expect_ok({"mtime-random", "r", seed, "1500"});
}

TEST_F(MpTest, DupAndForkShareTheOffset) {
  expect_ok({"dup-fork", "f"});
}
TEST_F(MpTest, DirectReadAlignmentFollowsTheDescriptorsFlags) {
  expect_ok({"direct-flags", "f"});
}
TEST_F(MpTest, ExecReadsInheritedDescriptor) {
  expect_ok({"exec-parent", "f"});
}
// A file grows only as far as its placeholder's file system allows (mp_full.cc).
TEST_F(MpTest, FileSizeStopsAtThePlaceholderFileSystemsLimit) {
  expect_ok({"fs-limit", "f"});
}
TEST_F(MpTest, UnlinkWhileOpen) {
  expect_ok({"unlink-open", "f"});
}
TEST_F(MpTest, RenameOverAndExdev) {
  expect_ok({"rename-over", "f"});
}
TEST_F(MpTest, MmapPrivateServedSharedWritableRefused) {
  expect_ok({"mmap", "f"});
}
TEST_F(MpTest, ThreadsShareOneOffset) {
  expect_ok({"threads", "f"});
}
TEST_F(MpTest, SigalrmDuringLargeWrites) {
  expect_ok({"sigalrm", "f"});
}
TEST_F(MpTest, ForkFromMultiThreadedProcess) {
  expect_ok({"fork-threads", "f"});
}
TEST_F(MpTest, VforkChildLeavesParentTableAlone) {
  expect_ok({"vfork", "f"});
}
TEST_F(MpTest, CloseRangeToUintMax) {
  expect_ok({"close-range", "f"});
}

TEST_F(MpTest, WriterKilledMidWrite) {
  std::vector<std::string> argv = {kMpProg, "writer", "rec"};
  // Run the writer in the background, kill it after a moment.
  std::string synced_file = base_ + "/synced";
  pid_t pid = fork();
  if (pid == 0) {
    std::string cmd = std::string("exec ") + kMpProg + " writer rec > " + synced_file;
    for (const auto& e : env_) putenv(const_cast<char*>(e.c_str()));
    if (chdir(root_.c_str()) != 0) _exit(126);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  usleep(700 * 1000);
  kill(pid, SIGKILL);
  int st;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(st));
  FILE* f = fopen(synced_file.c_str(), "r");
  ASSERT_NE(f, nullptr);
  long last = -1, v;
  while (fscanf(f, "%ld", &v) == 1) last = v;
  fclose(f);
  ASSERT_GE(last, 0) << "the writer never synced";
  expect_ok({"check-records", "rec", std::to_string(last)});
}

// Programs stored in ZVFS run: scripts under their interpreter, ELF programs from a copy.
TEST_F(MpTest, ProgramsStoredInZvfsRunThroughEveryExecCall) {
  expect_ok({"exec-zvfs", "prog.sh"});
  for (const char* name : {"prog.sh", "zcat"}) {  // their data is in the pool
    struct stat st;
    ASSERT_EQ(stat((root_ + "/" + name).c_str(), &st), 0) << name;
    EXPECT_GT(st.st_size, 0) << name;
    EXPECT_EQ(st.st_blocks, 0) << name;
  }
}
TEST_F(MpTest, ExecOfAZvfsProgramFailsAsTheKernelWould) {
  expect_ok({"exec-zvfs-refused", "prog.sh"});
}
// libaio on ZVFS descriptors is served by the library: the data lands in the pool (the
// placeholder stays a hole) and a new process reads it without libaio.
TEST_F(MpTest, LibaioReadsAndWritesZvfsFiles) {
  expect_ok({"aio-rw", "f"});
  constexpr int kSize = 4 * 16384 + 300;
  struct stat st;
  ASSERT_EQ(stat((root_ + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, kSize);
  EXPECT_EQ(st.st_blocks, 0);
  expect_ok({"aio-check", "f", std::to_string(kSize)});
}
TEST_F(MpTest, LibaioHonoursDescriptorAndIocbFlags) {
  expect_ok({"aio-flags", "f"});
}
TEST_F(MpTest, LibaioBatchesMixZvfsAndPlainDescriptors) {
  expect_ok({"aio-mixed", "f"});
}
TEST_F(MpTest, LibaioSignalsEventfdPerCompletion) {
  expect_ok({"aio-eventfd", "f"});
}
TEST_F(MpTest, LibaioGeteventsMinNrTimeoutAndWaiters) {
  expect_ok({"aio-wait", "f"});
}
TEST_F(MpTest, LibaioQueueBoundCancelDestroy) {
  expect_ok({"aio-full", "f"});
}

TEST_F(MpTest, SpawnedProgramsUseInheritedDescriptors) {
  expect_ok({"spawn", "f"});
}
TEST_F(MpTest, SpawnHandsTheSessionOverWhenTheParentExits) {
  expect_ok({"spawn-parent-exits", "f"});
}
TEST_F(MpTest, ConcurrentSpawnsAllHandTheSessionOver) {
  expect_ok({"spawn-threads", "f"});
}
TEST_F(MpTest, FailedSpawnLeavesTheCallerWorking) {
  expect_ok({"spawn-fail", "f"});
}
TEST_F(MpTest, ThreadsOpeningDupingClosing) {
  expect_ok({"churn", "f"});
}

TEST_F(MpTest, LibraryDescriptorsSurviveClosingEverything) {
  expect_ok({"own-fds", "f"});
  // With a log file, whose descriptor is the library's too.
  env_.push_back("ZVFS_LOG=" + base_ + "/client.log");
  expect_ok({"own-fds", "g"});
}
TEST_F(MpTest, TruncatingOpenKeepsPosixLocks) {
  expect_ok({"trunc-lock", "f"});
}
TEST_F(MpTest, ForkedChildKeepsAnUnlinkedFile) {
  expect_ok({"fork-unlinked", "f"});
}

TEST_F(MpTest, OpathDescriptorsAndProcFdReopens) {
  expect_ok({"opath", "f"});
}

TEST_F(MpTest, DescriptorsReceivedOverASocketReachTheBlob) {
  expect_ok({"fd-pass", "f"});
}

TEST_F(MpTest, DescriptorsTakenWithPidfdGetfdReachTheBlob) {
  expect_ok({"fd-getfd", "f"});
}

TEST_F(MpTest, ExecKeepsAnUnlinkedFileAlive) {
  expect_ok({"exec-unlinked", "f"});
}

TEST_F(MpTest, FreopenOfStandardStreamsOntoZvfsFiles) {
  expect_ok({"freopen", "f"});
}

// Regression: a PostgreSQL backend opened a relation fork that another backend had just created,
// before that one's attach bound it; it took the file for a plain one, and its next read of the
// placeholder was refused by the guard ("refused pid N (postgres) an access to ..._fsm").
TEST_F(MpTest, FileOpenedBeforeItsCreatorBoundItIsTheSameBlob) {
  expect_ok({"open-before-bind", "f"});
}

// The same window met at random: two processes spin on opening the name that a third creates,
// round after round; all three reach one blob (mp_create.cc).
TEST_F(MpTest, OpenersRacingTheCreatorReachTheSameBlob) {
  constexpr int kOpeners = 2, kRounds = 150;
  ASSERT_EQ(mkdir((root_ + "/race").c_str(), 0755), 0);
  std::vector<std::vector<std::string>> runs;
  for (int role = 0; role <= kOpeners; ++role)
    runs.push_back({"create-race", "race", std::to_string(role), std::to_string(kOpeners),
                    std::to_string(kRounds)});
  std::vector<RunResult> rs = mp_concurrently(runs);
  for (int role = 0; role <= kOpeners; ++role)
    EXPECT_EQ(rs[static_cast<size_t>(role)].status, 0)
        << "role " << role << ": " << rs[static_cast<size_t>(role)].err;
  if (HasFailure()) return;
  expect_ok({"create-race-check", "race", std::to_string(kOpeners), std::to_string(kRounds)});
}

TEST_F(MpTest, FiemapDescribesTheBlob) {
  expect_ok({"fiemap", "f"});
}

TEST_F(MpTest, LiburingOnAZvfsFileIsRefused) {
  expect_ok({"uring", "f"});
}

TEST_F(MpTest, Openat2AndOpenByHandleOpenZvfsFiles) {
  expect_ok({"open-other", "f"});
}

TEST_F(MpTest, DprintfWritesTheBlob) {
  expect_ok({"dprintf", "f"});
}

TEST_F(MpTest, CreatesWorkWithOneDescriptorLeft) {
  expect_ok({"create-at-fd-limit", "f"});
}

TEST_F(MpTest, PosixAioIsServedWithZvfsData) {
  expect_ok({"posix-aio", "f"});
}

TEST_F(MpTest, RawIoUringOnAZvfsFileIsRefused) {
  expect_ok({"uring-raw", "f"});
}

TEST_F(MpTest, StreamsLeftOpenAreFlushedAtExit) {
  expect_ok({"exit-flush", "f"});
  expect_ok({"count-lines", "f", "10000"});
}

TEST_F(MpTest, SeekDataAndHoleDescribeTheBlob) {
  expect_ok({"seek-data", "f"});
}

// Not a timed assertion: prints the cost of a cached 4 KiB call through the library.
TEST_F(MpTest, CachedCallLatency) {
  RunResult r = mp({"latency", "f"});
  EXPECT_EQ(r.status, 0) << r.err;
  std::printf("[ latency ] %s", r.out.c_str());
}

// A client keeps working across a daemon crash and restart: synced data is there, the file with
// unsynced writes reports EIO from its next fsync exactly once, clean files carry on.
TEST_F(MpTest, DaemonRestartUnderAClient) {
  std::string ctl = base_ + "/ctl";
  ASSERT_EQ(mkdir(ctl.c_str(), 0755), 0);
  RunResult res;
  std::thread client([&] { res = mp({"restart", "f", ctl}, 120); });
  bool ready = false;
  for (int i = 0; i < 6000 && !ready; ++i) {
    ready = access((ctl + "/ready").c_str(), F_OK) == 0;
    if (!ready) usleep(10000);
  }
  std::string why;
  bool restarted = ready && daemon_.restart(&why);
  FILE* go = fopen((ctl + "/go").c_str(), "w");
  if (go != nullptr) fclose(go);
  client.join();
  ASSERT_TRUE(ready) << "the client never got ready: " << res.err;
  ASSERT_TRUE(restarted) << why;
  EXPECT_EQ(res.status, 0) << res.err << res.out;
}

TEST(MpNoDaemon, UnreachableDaemonGivesEio) {
  std::string base = make_temp_dir("nod");
  ASSERT_FALSE(base.empty());
  auto env = preload_env(base, base + "/nobody.sock");
  env.push_back("ZVFS_TIMEOUT_MS=300");
  RunResult r = run({kMpProg, "expect-eio", "f"}, env, base, 60);
  EXPECT_EQ(r.status, 0) << r.err;
  remove_tree(base);
}

}  // namespace
}  // namespace zvfs::test
