// write_behind_test.cc — write-behind (ipc/shm.h, daemon/write_behind.h) against the real
// server in process, on an in-memory pool: a write answered before it is applied is seen by
// every later request of any session, write-behinds apply in the order of their stamps, an
// ended session's are applied, an fsync that joins one syncs after it, and a failure of one is
// returned by the next fsync of its file, once.
//
// Raw sessions (hello, attach and slots written by hand) publish write-behinds without ringing
// the doorbell, on a daemon whose workers never poll: nothing but the daemon-wide order can
// apply them before the request that must see them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "harness.h"
#include "ipc/client.h"
#include "ipc/client_diag.h"
#include "ipc/shm.h"
#include "ipc/sock.h"
#include "mem_pool.h"

namespace zvfs::testing {
namespace {

// A client written by hand: the handshake, attach, and requests put into slots directly.
class RawSession {
 public:
  explicit RawSession(const std::string& sock) {
    sock_ = ipc::sock_connect(sock.c_str());
    if (sock_ < 0) return;
    ipc::HelloReq req;
    uint8_t out[64], in[64];
    size_t n = ipc::encode_message(static_cast<uint16_t>(ipc::Op::kHello), 1, 0, &req, sizeof req,
                                   out, sizeof out);
    size_t got = 0;
    int memfd = -1;
    if (ipc::sock_send(sock_, out, n, -1) != 0 ||
        ipc::sock_recv(sock_, in, sizeof in, &got, &memfd, 3000) != 0 || memfd < 0)
      return;
    ipc::HelloRep rep;
    memcpy(&rep, in + sizeof(ipc::MsgHeader), sizeof rep);
    ok_ = region_.attach(memfd, rep.slot_count, rep.slot_data_bytes, rep.region_bytes) == 0;
    close(memfd);
  }
  ~RawSession() {
    end();
    for (int fd : fds_) close(fd);
  }
  bool ok() const { return ok_; }
  ipc::Region& region() { return region_; }
  void end() {
    if (sock_ >= 0) close(sock_);
    sock_ = -1;
  }

  // Attaches fd (open with flags); returns the daemon's handle or -errno.
  int attach(int fd, int flags) {
    ipc::AttachReq req;
    req.open_flags = flags;
    req.may_bind = (flags & O_CREAT) ? 1 : 0;
    uint8_t out[64], in[64];
    size_t n = ipc::encode_message(static_cast<uint16_t>(ipc::Op::kAttach), 2, 0, &req, sizeof req,
                                   out, sizeof out);
    size_t got = 0;
    int none = -1;
    if (ipc::sock_send(sock_, out, n, fd) != 0 ||
        ipc::sock_recv(sock_, in, sizeof in, &got, &none, 3000) != 0)
      return -EIO;
    ipc::MsgHeader h;
    ipc::AttachRep rep;
    memcpy(&h, in, sizeof h);
    memcpy(&rep, in + sizeof h, sizeof rep);
    if (h.status < 0) return h.status;
    return rep.zvfs ? rep.handle : -ENOTSUP;
  }

  // Opens path read-write and attaches it; the descriptor is closed with this object.
  int open_attached(const std::string& path) {
    if (!ok_) return -EIO;
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    fds_.push_back(fd);
    return attach(fd, O_RDWR);
  }

  // Publishes a write-behind of len bytes of `fill` at off in slot i, stamped `stamp`, without
  // ringing. Returns its request id.
  uint32_t publish_behind(uint32_t i, int handle, uint64_t off, size_t len, uint8_t fill,
                          uint64_t stamp) {
    memset(region_.data(i), fill, len);
    ipc::RequestLine* rl = &region_.slot(i)->request;
    const uint32_t id = ++ids_[i];
    ipc::MsgHeader hd;
    hd.opcode = static_cast<uint16_t>(ipc::Op::kWrite);
    hd.request_id = id;
    hd.payload_len = sizeof(ipc::IoReq);
    rl->hdr = hd;
    rl->req.handle = static_cast<uint32_t>(handle);
    rl->req.arg = ipc::kWriteBehind;
    rl->req.off = off;
    rl->req.len = len;
    rl->stamp = stamp;
    rl->sync_after.store(0);
    region_.header()->behind_pending.fetch_add(1);
    rl->state.store(ipc::kRequest);
    return id;
  }
  // publish_behind, then the fsync's request to sync right after it (sync_after), as a
  // client's fsync does while the write is pending. 0 if the daemon had taken it already.
  uint32_t publish_joined(uint32_t i, int handle, uint64_t off, size_t len, uint8_t fill) {
    const uint32_t id = publish_behind(i, handle, off, len, fill, ipc::now_ns());
    uint32_t zero = 0;
    return region_.slot(i)->request.sync_after.compare_exchange_strong(zero, ipc::kSyncAsked) ? id
                                                                                              : 0;
  }
  // Sends an ordinary request in slot i, rings, and waits for its reply. Returns the status,
  // or the result when it is not an error.
  int64_t call(uint32_t i, ipc::Op op, int handle, uint64_t off, uint64_t len) {
    ipc::RequestLine* rl = &region_.slot(i)->request;
    const uint32_t id = ++ids_[i];
    ipc::MsgHeader hd;
    hd.opcode = static_cast<uint16_t>(op);
    hd.request_id = id;
    hd.payload_len = sizeof(ipc::IoReq);
    rl->hdr = hd;
    rl->req.handle = static_cast<uint32_t>(handle);
    rl->req.arg = 0;
    rl->req.off = off;
    rl->req.len = len;
    rl->state.store(ipc::kRequest);
    ring();
    if (!wait_done(i, id)) return -ETIMEDOUT;
    const ipc::ReplyLine& rp = region_.slot(i)->reply;
    return rp.hdr.status < 0 ? rp.hdr.status : rp.rep.result;
  }
  void ring() {
    region_.header()->doorbell.fetch_add(1);
    ipc::futex_wake(&region_.header()->doorbell, 1);
  }
  bool wait_done(uint32_t i, uint32_t id, int ms = 3000) {
    uint64_t t0 = ipc::now_ns();
    while (region_.slot(i)->reply.done.load() != id) {
      if (ipc::now_ns() - t0 > static_cast<uint64_t>(ms) * 1000000) return false;
      usleep(100);
    }
    return true;
  }
  int32_t status(uint32_t i) { return region_.slot(i)->reply.hdr.status; }

 private:
  int sock_ = -1;
  bool ok_ = false;
  ipc::Region region_;
  uint32_t ids_[ipc::kMaxSlotCount] = {};
  std::vector<int> fds_;  // opened by open_attached, closed with the session object
};

class WriteBehindTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { client_suite_setup("behind", &dir_, &sock_); }
  static void TearDownTestSuite() { remove_tree(dir_); }
  void SetUp() override {
    g_mem_write_error.store(0);
    g_mem_sync_hold.store(false);
    pool_ = std::make_unique<MemPool>();
    start(true);
  }
  void TearDown() override {
    g_mem_write_error.store(0);
    g_mem_sync_hold.store(false);
    d_.reset();
    pool_.reset();
  }
  void start(bool write_behind) {
    d_.reset();
    d_ = std::make_unique<InProcessDaemon>(*pool_, sock_, "user");
    d_->opts().poll_us = 0;  // no worker polls: only a ring or the daemon-wide order serves
    d_->opts().write_behind = write_behind;
    ASSERT_TRUE(d_->start());
  }
  std::string path(const std::string& name) { return dir_ + "/" + name; }
  // A ZVFS file of `size` bytes of 'a', through the library; *handle gets its handle.
  int make_file(const std::string& name, size_t size, int* handle) {
    int fd = open(path(name).c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    EXPECT_GE(fd, 0);
    ipc::AttachInfo info;
    *handle = ipc::attach(fd, O_RDWR | O_CREAT, &info);
    EXPECT_GE(*handle, 0);
    std::vector<uint8_t> a(size, 'a');
    EXPECT_EQ(ipc::pwrite(*handle, a.data(), a.size(), 0), static_cast<ssize_t>(size));
    return fd;
  }
  // The pool's blob of the file `name` (attached through a new descriptor, *fd).
  auto blob_of(const std::string& name, int* fd) {
    ipc::AttachInfo info;
    *fd = open(path(name).c_str(), O_RDWR | O_CLOEXEC);
    EXPECT_GE(ipc::attach(*fd, O_RDWR, &info), 0);
    return pool_->get(info.blob_id);
  }
  // What the library's session reads at off (one byte).
  uint8_t byte_at(int handle, uint64_t off) {
    uint8_t b = 0;
    EXPECT_EQ(ipc::pread(handle, &b, 1, off), 1);
    return b;
  }
  uint64_t behind_writes() { return d_->ctx().behind_writes.load(); }
  // Overwrites through the library until one goes behind (the daemon's permission reaches a
  // new session within a load-monitor sample, 5 ms). False if none did within 2 s.
  bool library_writes_behind(int handle) {
    uint8_t b = 'a';
    for (int i = 0; i < 400; ++i) {
      uint64_t before = behind_writes();
      EXPECT_EQ(ipc::pwrite(handle, &b, 1, 0), 1);
      (void)byte_at(handle, 0);  // applies it, if it went behind
      if (behind_writes() > before) return true;
      usleep(5000);
    }
    return false;
  }

  static std::string dir_, sock_;
  std::unique_ptr<MemPool> pool_;
  std::unique_ptr<InProcessDaemon> d_;
};
std::string WriteBehindTest::dir_, WriteBehindTest::sock_;

TEST_F(WriteBehindTest, AnotherSessionsReadSeesAPendingWriteBehind) {
  int h = -1;
  int fd = make_file("seen", 64 * 1024, &h);
  RawSession w(sock_);
  int wh = w.open_attached(path("seen"));
  ASSERT_GE(wh, 0);
  uint32_t id = w.publish_behind(0, wh, 4096, 4096, 'b', ipc::now_ns());
  // Not rung, no worker polls: the read of the other session applies it first.
  EXPECT_EQ(byte_at(h, 4096), 'b');
  EXPECT_EQ(byte_at(h, 8191), 'b');
  EXPECT_EQ(byte_at(h, 8192), 'a');
  ASSERT_TRUE(w.wait_done(0, id));
  EXPECT_EQ(w.status(0), 0);
  EXPECT_EQ(w.region().slot(0)->reply.rep.result, 4096);
  EXPECT_EQ(w.region().header()->behind_pending.load(), 0u);
  EXPECT_EQ(behind_writes(), 1u);
  close(fd);
}

TEST_F(WriteBehindTest, TheOnlySessionsReadSeesItsPendingWriteBehind) {
  // One session in the daemon (the library's is not used here): the check before a request
  // looks at that session's own count without the registry's lock.
  int fd = open(path("alone").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  RawSession w(sock_);
  ASSERT_TRUE(w.ok());
  int wh = w.attach(fd, O_RDWR | O_CREAT);  // binds the new, empty file to a blob
  ASSERT_GE(wh, 0);
  uint32_t id = w.publish_behind(0, wh, 0, 300, 'w', ipc::now_ns());
  EXPECT_EQ(w.call(1, ipc::Op::kRead, wh, 0, 1000), 300);  // another slot: applied first
  EXPECT_EQ(w.region().data(1)[299], 'w');
  ASSERT_TRUE(w.wait_done(0, id));
  EXPECT_EQ(behind_writes(), 1u);
  close(fd);
}

TEST_F(WriteBehindTest, PendingWriteBehindsApplyInStampOrder) {
  int h = -1;
  int fd = make_file("order", 64 * 1024, &h);
  RawSession a(sock_), b(sock_);
  int ah = a.open_attached(path("order")), bh = b.open_attached(path("order"));
  ASSERT_GE(ah, 0);
  ASSERT_GE(bh, 0);
  for (int round = 0; round < 4; ++round) {
    // Overlapping writes; the one with the larger stamp must end up on top, whichever session
    // and slot it is in and whichever was published first.
    const uint64_t t = ipc::now_ns();
    const bool a_last = round % 2 == 0;
    const uint32_t slot = static_cast<uint32_t>(round);
    const uint8_t fa = static_cast<uint8_t>('A' + round), fb = static_cast<uint8_t>('a' + round);
    uint32_t ia = 0, ib = 0;
    if (round < 2) {
      ia = a.publish_behind(slot, ah, 0, 8192, fa, a_last ? t + 2 : t + 1);
      ib = b.publish_behind(slot, bh, 4096, 8192, fb, a_last ? t + 1 : t + 2);
    } else {
      ib = b.publish_behind(slot, bh, 4096, 8192, fb, a_last ? t + 1 : t + 2);
      ia = a.publish_behind(slot, ah, 0, 8192, fa, a_last ? t + 2 : t + 1);
    }
    EXPECT_EQ(byte_at(h, 0), fa) << round;
    EXPECT_EQ(byte_at(h, 6000), a_last ? fa : fb) << round;  // where the two overlap
    EXPECT_EQ(byte_at(h, 12000), fb) << round;
    ASSERT_TRUE(a.wait_done(slot, ia));
    ASSERT_TRUE(b.wait_done(slot, ib));
  }
  EXPECT_EQ(behind_writes(), 8u);
  close(fd);
}

TEST_F(WriteBehindTest, AnEndedSessionsWriteBehindsAreApplied) {
  int h = -1;
  int fd = make_file("ended", 64 * 1024, &h);
  RawSession w(sock_);
  int wh = w.open_attached(path("ended"));
  ASSERT_GE(wh, 0);
  uint32_t id = w.publish_behind(3, wh, 0, 100, 'z', ipc::now_ns());
  w.end();  // as a process that exits right after its write(2) returned
  // Nothing else asks the daemon for anything: the end of the session applies it (the region
  // stays mapped here, so its reply can be watched).
  ASSERT_TRUE(w.wait_done(3, id));
  EXPECT_EQ(w.status(3), 0);
  EXPECT_EQ(behind_writes(), 1u);
  EXPECT_EQ(byte_at(h, 99), 'z');
  EXPECT_EQ(byte_at(h, 100), 'a');
  close(fd);
}

TEST_F(WriteBehindTest, AnOpenThatTruncatesComesAfterAPendingWriteBehind) {
  // The attach goes over the socket, not a slot: it settles too, or the write would land
  // after the truncation and grow the file back.
  int h = -1;
  int fd = make_file("trunc", 64 * 1024, &h);
  RawSession w(sock_);
  int wh = w.open_attached(path("trunc"));
  ASSERT_GE(wh, 0);
  uint32_t id = w.publish_behind(2, wh, 0, 100, 't', ipc::now_ns());
  int tfd = open(path("trunc").c_str(), O_RDWR | O_TRUNC | O_CLOEXEC);
  ASSERT_GE(tfd, 0);
  ipc::AttachInfo info;
  int th = ipc::attach(tfd, O_RDWR | O_TRUNC, &info);
  ASSERT_GE(th, 0);
  EXPECT_EQ(info.size, 0u);
  ASSERT_TRUE(w.wait_done(2, id));
  uint8_t b = 0;
  EXPECT_EQ(ipc::pread(th, &b, 1, 0), 0);  // end of file: the write did not come back
  uint64_t size = 1;
  EXPECT_EQ(ipc::end_of_file(th, &size), 0);
  EXPECT_EQ(size, 0u);
  close(tfd);
  close(fd);
}

TEST_F(WriteBehindTest, AJoinedFsyncSyncsAfterTheWrite) {
  int h = -1;
  int fd = make_file("joined", 64 * 1024, &h);
  int fd2 = -1;
  auto blob = blob_of("joined", &fd2);
  ASSERT_TRUE(blob);
  RawSession w(sock_);
  int wh = w.open_attached(path("joined"));
  ASSERT_GE(wh, 0);
  const uint64_t syncs = blob->syncs();
  uint32_t id = w.publish_joined(1, wh, 0, 4096, 'j');
  ASSERT_NE(id, 0u);
  w.ring();
  ASSERT_TRUE(w.wait_done(1, id));
  EXPECT_EQ(w.status(1), 0);
  EXPECT_EQ(blob->syncs(), syncs + 1);
  EXPECT_EQ(d_->ctx().behind_syncs.load(), 1u);
  // Too late once applied: the daemon says so, and the client sends its own sync.
  EXPECT_EQ(w.region().slot(1)->request.sync_after.load(), ipc::kSyncTooLate);
  id = w.publish_behind(1, wh, 0, 4096, 'k', ipc::now_ns());
  w.ring();
  ASSERT_TRUE(w.wait_done(1, id));
  EXPECT_EQ(blob->syncs(), syncs + 1);  // a write-behind alone never syncs
  EXPECT_EQ(w.region().slot(1)->request.sync_after.load(), ipc::kSyncTooLate);
  close(fd2);
  close(fd);
}

// Waits up to 3 s for pred; whether it came true.
template <class F>
bool within_3s(F&& pred) {
  for (int i = 0; i < 3000; ++i) {
    if (pred()) return true;
    usleep(1000);
  }
  return pred();
}

TEST_F(WriteBehindTest, AnotherSessionsReadDoesNotWaitForAJoinedSync) {
  // The library session's read applies the other session's pending write-behind, whose client
  // joined an fsync to it; that flush is the other session's to wait for, not the reader's.
  int h = -1;
  int fd = make_file("handoff", 64 * 1024, &h);
  int fd2 = -1;
  auto blob = blob_of("handoff", &fd2);
  ASSERT_TRUE(blob);
  RawSession w(sock_);
  int wh = w.open_attached(path("handoff"));
  ASSERT_GE(wh, 0);
  const uint64_t syncs = blob->syncs();
  g_mem_sync_hold.store(true);  // the flush takes as long as this test says
  uint32_t id = w.publish_joined(1, wh, 0, 4096, 'h');
  ASSERT_NE(id, 0u);
  std::atomic<int> got{-1};
  std::thread reader([&] { got.store(byte_at(h, 0)); });
  EXPECT_TRUE(within_3s([&] { return got.load() >= 0; }))
      << "the read waited for another session's flush";
  EXPECT_TRUE(within_3s([] { return g_mem_syncs_held.load() == 1; }));
  EXPECT_NE(w.region().slot(1)->reply.done.load(), id);  // not answered before its flush
  g_mem_sync_hold.store(false);
  reader.join();
  EXPECT_EQ(got.load(), 'h');
  ASSERT_TRUE(w.wait_done(1, id));
  EXPECT_EQ(w.status(1), 0);
  EXPECT_EQ(blob->syncs(), syncs + 1);
  EXPECT_EQ(d_->ctx().behind_syncs.load(), 1u);
  close(fd2);
  close(fd);
}

TEST_F(WriteBehindTest, ARequestOfTheSameSessionDoesNotWaitForItsJoinedSync) {
  // Another thread of the same process (another slot, found first by a worker's scan) reads
  // meanwhile: its request applies the write first, and is answered while the flush runs.
  int h = -1;
  int fd = make_file("ownsync", 64 * 1024, &h);
  RawSession w(sock_);
  int wh = w.open_attached(path("ownsync"));
  ASSERT_GE(wh, 0);
  g_mem_sync_hold.store(true);
  uint32_t id = w.publish_joined(1, wh, 0, 4096, 'o');
  ASSERT_NE(id, 0u);
  std::atomic<int64_t> read{-1};
  std::thread other([&] { read.store(w.call(0, ipc::Op::kRead, wh, 0, 100)); });
  EXPECT_TRUE(within_3s([&] { return read.load() >= 0; })) << "the read waited for the flush";
  g_mem_sync_hold.store(false);
  other.join();
  EXPECT_EQ(read.load(), 100);
  EXPECT_EQ(w.region().data(0)[99], 'o');
  ASSERT_TRUE(w.wait_done(1, id));
  EXPECT_EQ(w.status(1), 0);
  EXPECT_EQ(d_->ctx().behind_syncs.load(), 1u);
  close(fd);
}

TEST_F(WriteBehindTest, LibraryOverwritesGoBehindAndStaySynchronousWhenExtending) {
  int h = -1;
  int fd = make_file("lib", 64 * 1024, &h);
  ASSERT_TRUE(library_writes_behind(h));
  std::vector<uint8_t> b(8192, 'q');
  uint64_t before = behind_writes();
  EXPECT_EQ(ipc::pwrite(h, b.data(), b.size(), 16384), 8192);
  EXPECT_EQ(byte_at(h, 16384 + 8191), 'q');
  EXPECT_EQ(behind_writes(), before + 1);
  EXPECT_EQ(ipc::sync(h, true), 0);
  // Growing the file, or more than kBehindMaxBytes: answered after it is applied.
  before = behind_writes();
  EXPECT_EQ(ipc::pwrite(h, b.data(), b.size(), 64 * 1024 - 4096), 8192);
  std::vector<uint8_t> big(ipc::kBehindMaxBytes + 4096, 'r');
  EXPECT_EQ(ipc::pwrite(h, big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  EXPECT_EQ(behind_writes(), before);
  uint64_t size = 0;
  EXPECT_EQ(ipc::end_of_file(h, &size), 0);
  EXPECT_EQ(size, 64u * 1024 + 4096);
  close(fd);
}

TEST_F(WriteBehindTest, AFailedWriteBehindFailsTheNextFsyncOnce) {
  int h = -1;
  int fd = make_file("fail", 64 * 1024, &h);
  ASSERT_TRUE(library_writes_behind(h));
  // The fsync of the writing thread (it joins the pending write, or waits for its reply).
  g_mem_write_error.store(EIO);
  uint8_t b = 'x';
  EXPECT_EQ(ipc::pwrite(h, &b, 1, 10), 1);
  EXPECT_EQ(ipc::sync(h, true), -EIO);
  g_mem_write_error.store(0);
  EXPECT_EQ(ipc::sync(h, true), 0);
  EXPECT_EQ(byte_at(h, 10), 'a');
  // The fsync of another thread, whose slot is not the write's.
  g_mem_write_error.store(EIO);
  const uint64_t before = behind_writes();
  std::thread t([&] { EXPECT_EQ(ipc::pwrite(h, &b, 1, 20), 1); });
  t.join();
  for (int i = 0; i < 2000 && behind_writes() == before; ++i) usleep(1000);  // rung: applied
  ASSERT_GT(behind_writes(), before);
  g_mem_write_error.store(0);
  EXPECT_EQ(ipc::sync(h, false), -EIO);
  EXPECT_EQ(ipc::sync(h, false), 0);
  close(fd);
}

TEST_F(WriteBehindTest, SwitchedOffTheWriteFailsItself) {
  start(false);
  int h = -1;
  int fd = make_file("off", 64 * 1024, &h);
  uint8_t b = 'x';
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(ipc::pwrite(h, &b, 1, 0), 1);
    usleep(5000);  // several load-monitor samples: the permission never comes
  }
  g_mem_write_error.store(EIO);
  EXPECT_EQ(ipc::pwrite(h, &b, 1, 0), -EIO);
  g_mem_write_error.store(0);
  EXPECT_EQ(behind_writes(), 0u);
  close(fd);
}

TEST_F(WriteBehindTest, AFalsePendingCountHoldsNothingUp) {
  int h = -1;
  int fd = make_file("liar", 64 * 1024, &h);
  RawSession w(sock_);
  ASSERT_TRUE(w.ok());
  w.region().header()->behind_pending.store(1000);  // and no write-behind anywhere
  for (int i = 0; i < 100; ++i) EXPECT_EQ(byte_at(h, static_cast<uint64_t>(i)), 'a');
  EXPECT_EQ(ipc::null_request(), 0);
  close(fd);
}

}  // namespace
}  // namespace zvfs::testing
