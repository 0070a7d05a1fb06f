// ring_pool_test.cc — the ring pool after a fatal io_uring_enter error: requests the kernel took
// are waited for, however long they take, before the ring (and the caller's buffers) can go,
// and every request of the batch reports an error.
//
// The requests are reads of an empty pipe, so they stay in the kernel until the test writes to
// the pipe; the injected io_uring_enter submits them for real and then reports a fatal error.
#include "engine/vdev/ring_pool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

namespace zvfs::vdev {
namespace {

constexpr int kReqs = 4;
constexpr uint32_t kLen = 16;

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe2(fd, O_CLOEXEC), 0); }
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
};

std::vector<IoReq> pipe_reads(std::vector<std::unique_ptr<char[]>>* bufs) {
  std::vector<IoReq> reqs(kReqs);
  for (IoReq& q : reqs) {
    bufs->push_back(std::make_unique<char[]>(kLen));
    std::memset(bufs->back().get(), 0, kLen);
    q.op = IoReq::Op::kRead;
    q.buf = bufs->back().get();
    q.len = kLen;
    q.off = 0;
  }
  return reqs;
}

// Writes one kLen-byte slice per request into the pipe: slice i is kLen times 'a' + i.
bool feed_pipe(int wfd) {
  char data[kReqs * kLen];
  for (size_t i = 0; i < sizeof data; ++i) data[i] = static_cast<char>('a' + i / kLen);
  return ::write(wfd, data, sizeof data) == static_cast<ssize_t>(sizeof data);
}

// True if the pipe has nothing left to read.
bool pipe_empty(int rfd) {
  int fl = ::fcntl(rfd, F_GETFL);
  ::fcntl(rfd, F_SETFL, fl | O_NONBLOCK);
  char c;
  ssize_t got = ::read(rfd, &c, 1);
  int e = errno;
  ::fcntl(rfd, F_SETFL, fl);
  return got < 0 && e == EAGAIN;
}

TEST(RingPool, FatalEnterWaitsForEveryRequestInTheKernel) {
  Pipe p;
  int submitted = -1;
  int idle_polls = 0;
  bool data_written = false;
  std::chrono::steady_clock::time_point error_at;
  RingHooks hooks;
  hooks.submit_and_wait = [&](io_uring* ring, unsigned) {
    submitted = io_uring_submit(ring);  // the kernel takes the reads; they wait on the pipe
    error_at = std::chrono::steady_clock::now();
    return -EIO;
  };
  // Keep the reads in the kernel for longer than any time limit a drain might have had (the old
  // one gave up after 5 s), then let them complete.
  hooks.drain_idle = [&] {
    ++idle_polls;
    if (data_written || std::chrono::steady_clock::now() - error_at < std::chrono::seconds(6))
      return;
    ASSERT_TRUE(feed_pipe(p.fd[1]));
    data_written = true;
  };
  std::unique_ptr<RingPool> pool;
  ASSERT_EQ(RingPool::create(p.fd[0], 8, 1, &pool, std::move(hooks)), 0);

  std::vector<std::unique_ptr<char[]>> bufs;
  std::vector<IoReq> reqs = pipe_reads(&bufs);
  pool->run(reqs);

  EXPECT_EQ(submitted, kReqs);
  EXPECT_GT(idle_polls, 0);
  ASSERT_TRUE(data_written) << "run() returned while the reads were still in the kernel";
  // Every read completed into its buffer before run() returned: the pipe is drained and each
  // buffer holds one 16-byte slice of what was written.
  EXPECT_TRUE(pipe_empty(p.fd[0]));
  std::vector<bool> slice_seen(kReqs, false);
  for (int i = 0; i < kReqs; ++i) {
    char c = bufs[i][0];
    ASSERT_GE(c, 'a');
    ASSERT_LT(c, 'a' + kReqs);
    EXPECT_EQ(std::string(bufs[i].get(), kLen), std::string(kLen, c));
    EXPECT_FALSE(slice_seen[c - 'a']);
    slice_seen[c - 'a'] = true;
  }
  // The batch failed: each request reports the error although its read went through.
  for (const IoReq& q : reqs) EXPECT_EQ(q.result, -EIO);
  bufs.clear();  // only now may the buffers go
}

TEST(RingPool, FatalEnterBeforeTheKernelTookAnythingFailsAtOnce) {
  Pipe p;
  int idle_polls = 0;
  RingHooks hooks;
  hooks.submit_and_wait = [](io_uring*, unsigned) { return -EBADF; };  // nothing submitted
  hooks.drain_idle = [&] { ++idle_polls; };
  std::unique_ptr<RingPool> pool;
  ASSERT_EQ(RingPool::create(p.fd[0], 8, 1, &pool, std::move(hooks)), 0);

  std::vector<std::unique_ptr<char[]>> bufs;
  std::vector<IoReq> reqs = pipe_reads(&bufs);
  pool->run(reqs);
  EXPECT_EQ(idle_polls, 0);  // nothing was in the kernel, so nothing to wait for
  for (const IoReq& q : reqs) EXPECT_EQ(q.result, -EBADF);
}

TEST(RingPool, FatalEnterFailsTheFlushQueuedBehindTheBatch) {
  Pipe p;
  int submitted = -1;
  bool data_written = false;
  RingHooks hooks;
  hooks.submit_and_wait = [&](io_uring* ring, unsigned) {
    submitted = io_uring_submit(ring);
    return -EIO;
  };
  hooks.drain_idle = [&] {
    if (data_written) return;
    ASSERT_TRUE(feed_pipe(p.fd[1]));
    data_written = true;
  };
  std::unique_ptr<RingPool> pool;
  ASSERT_EQ(RingPool::create(p.fd[0], 8, 1, &pool, std::move(hooks)), 0);
  std::vector<std::unique_ptr<char[]>> bufs;
  std::vector<IoReq> reqs = pipe_reads(&bufs);
  EXPECT_EQ(pool->run_then_fdatasync(reqs), -EIO);
  EXPECT_EQ(submitted, kReqs + 1);  // the reads and the fdatasync behind them
  EXPECT_TRUE(data_written);
  EXPECT_TRUE(pipe_empty(p.fd[0]));
  for (const IoReq& q : reqs) EXPECT_EQ(q.result, -EIO);
}

TEST(RingPool, BrokenRingIsReplacedForTheNextBatch) {
  Pipe p;
  int calls = 0;
  RingHooks hooks;
  hooks.submit_and_wait = [&](io_uring* ring, unsigned wait_nr) {
    if (++calls == 1) return -EBADF;
    return io_uring_submit_and_wait(ring, wait_nr);
  };
  std::unique_ptr<RingPool> pool;
  ASSERT_EQ(RingPool::create(p.fd[0], 8, 1, &pool, std::move(hooks)), 0);
  std::vector<std::unique_ptr<char[]>> bufs;
  std::vector<IoReq> reqs = pipe_reads(&bufs);
  pool->run(reqs);
  for (const IoReq& q : reqs) EXPECT_EQ(q.result, -EBADF);

  ASSERT_TRUE(feed_pipe(p.fd[1]));
  pool->run(reqs);
  for (const IoReq& q : reqs) EXPECT_EQ(q.result, static_cast<int64_t>(kLen));
  EXPECT_TRUE(pipe_empty(p.fd[0]));
}

}  // namespace
}  // namespace zvfs::vdev
