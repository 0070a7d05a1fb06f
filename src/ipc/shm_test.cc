// shm_test.cc — the session region (sealing, layout), the doorbell and the socket helpers.
#include "ipc/shm.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "ipc/doorbell.h"
#include "ipc/sock.h"

namespace zvfs::ipc {
namespace {

TEST(Region, CreateSealAttach) {
  Region d;
  int fd = d.create(4, 64 * 1024);
  ASSERT_GE(fd, 3);
  EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  // A client cannot shrink or grow the region under the daemon.
  EXPECT_NE(ftruncate(fd, 4096), 0);
  EXPECT_NE(ftruncate(fd, 1 << 30), 0);
  Region c;
  ASSERT_EQ(c.attach(fd, 4, 64 * 1024, region_bytes(4, 64 * 1024)), 0);
  // Wrong geometry is refused.
  Region bad;
  EXPECT_EQ(bad.attach(fd, 8, 64 * 1024, region_bytes(8, 64 * 1024)), -EPROTO);
  c.data(3)[65535] = 7;
  EXPECT_EQ(d.data(3)[65535], 7);
  c.slot(2)->request.state.store(kRequest);
  EXPECT_EQ(d.slot(2)->request.state.load(), kRequest);
  // A slot's request and reply lines are apart, and slots do not overlap.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(&d.slot(1)->reply) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(&d.slot(1)->reply) -
                reinterpret_cast<uint8_t*>(&d.slot(1)->request),
            64);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(d.slot(2)) - reinterpret_cast<uint8_t*>(d.slot(1)),
            static_cast<ptrdiff_t>(kSlotStride));
  close(fd);
}

TEST(Region, RejectsBadGeometry) {
  Region d;
  EXPECT_EQ(d.create(0, 4096), -EINVAL);
  EXPECT_EQ(d.create(kMaxSlotCount + 1, 4096), -EINVAL);
  EXPECT_EQ(d.create(2, 1000), -EINVAL);
}

TEST(Doorbell, WaitTimesOutAndWakes) {
  std::atomic<uint32_t> w{0};
  uint64_t t0 = now_ns();
  EXPECT_EQ(futex_wait(&w, 0, 5 * 1000 * 1000), -ETIMEDOUT);
  EXPECT_GE(now_ns() - t0, 4u * 1000 * 1000);
  EXPECT_EQ(futex_wait(&w, 1, 1000 * 1000), 0);  // value differs: returns at once
  std::thread t([&] {
    usleep(2000);
    w.store(1);
    futex_wake(&w, 1);
  });
  while (w.load() == 0) futex_wait(&w, 0, 1000 * 1000 * 1000);
  t.join();
  EXPECT_EQ(w.load(), 1u);
}

TEST(Doorbell, CrossProcessPingPong) {
  Region d;
  int fd = d.create(1, 4096);
  ASSERT_GE(fd, 0);
  Slot* s = d.slot(0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Region c;
    if (c.attach(fd, 1, 4096, region_bytes(1, 4096)) != 0) _exit(2);
    Slot* cs = c.slot(0);
    for (int i = 0; i < 200; ++i) {
      std::atomic<uint32_t>& st = cs->request.state;
      while (st.load() != kRequest) futex_wait(&st, st.load(), 100000000);
      st.store(kServing);
      cs->reply.rep.result = static_cast<int64_t>(cs->request.req.off) + 1;
      st.store(kReply);
      cs->reply.done.store(static_cast<uint32_t>(cs->request.hdr.request_id));
      futex_wake(&cs->reply.done, 1);
    }
    _exit(0);
  }
  for (uint64_t i = 0; i < 200; ++i) {
    uint32_t id = static_cast<uint32_t>(i) + 1;
    s->request.req.off = i;
    s->request.hdr.request_id = id;
    s->request.state.store(kRequest);
    futex_wake(&s->request.state, 1);
    while (s->reply.done.load() != id) futex_wait(&s->reply.done, s->reply.done.load(), 100000000);
    ASSERT_EQ(s->reply.rep.result, static_cast<int64_t>(i + 1));
    ASSERT_EQ(s->request.state.load(), kReply);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  close(fd);
}

TEST(Doorbell, SpinUntil) {
  int n = 0;
  EXPECT_TRUE(spin_until([&] { return ++n > 10; }, 1000000));
  EXPECT_FALSE(spin_until([] { return false; }, 20000));
  EXPECT_FALSE(spin_until([] { return false; }, 0));
}

TEST(Sock, PassesFdAndRejectsOversize) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  char msg[100] = "hello";
  ASSERT_EQ(sock_send(sv[0], msg, sizeof msg, p[1]), 0);
  char in[128];
  size_t got = 0;
  int fd = -1;
  ASSERT_EQ(sock_recv(sv[1], in, sizeof in, &got, &fd, 1000), 0);
  EXPECT_EQ(got, sizeof msg);
  ASSERT_GE(fd, 3);
  EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  ASSERT_EQ(write(fd, "x", 1), 1);
  char c;
  ASSERT_EQ(read(p[0], &c, 1), 1);
  close(fd);
  // Too long for the receiver: discarded, fd closed, error reported; next message fine.
  ASSERT_EQ(sock_send(sv[0], msg, sizeof msg, p[1]), 0);
  EXPECT_EQ(sock_recv(sv[1], in, 10, &got, &fd, 1000), -EMSGSIZE);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(sock_recv(sv[1], in, sizeof in, &got, &fd, 10), -ETIMEDOUT);
  close(sv[0]);
  EXPECT_EQ(sock_recv(sv[1], in, sizeof in, &got, &fd, 1000), 0);
  EXPECT_EQ(got, 0u);  // peer closed
  close(sv[1]);
  close(p[0]);
  close(p[1]);
}

TEST(Sock, ListenConnectPeerCred) {
  char dir[] = "/tmp/zvfs-sock-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/s.sock";
  int l = sock_listen(path.c_str(), 0600, 4);
  ASSERT_GE(l, 3);
  EXPECT_EQ(sock_listen(path.c_str(), 0600, 4), -EADDRINUSE);  // a live daemon is not replaced
  int c = sock_connect(path.c_str());
  ASSERT_GE(c, 3);
  int a = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(a, 0);
  pid_t pid;
  uid_t uid;
  gid_t gid;
  ASSERT_EQ(sock_peer(a, &pid, &uid, &gid), 0);
  EXPECT_EQ(pid, getpid());
  EXPECT_EQ(uid, getuid());
  close(a);
  close(c);
  close(l);
  // A stale socket file (nobody listening) is replaced.
  int l2 = sock_listen(path.c_str(), 0600, 4);
  EXPECT_GE(l2, 3);
  close(l2);
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace zvfs::ipc
