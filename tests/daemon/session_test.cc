// session_test.cc — the client library against the real daemon server (in process, on an
// in-memory pool): attach and binding, the data path, limits, access modes, forged bindings,
// deferred deletes, fork, client death, daemon restart with the EIO-once rule, hostile input.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/fanotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

#include "common/log.h"
#include "common/test_files.h"
#include "daemon/binding.h"
#include "harness.h"
#include "ipc/client.h"
#include "ipc/client_diag.h"
#include "ipc/shm.h"
#include "ipc/sock.h"
#include "mem_pool.h"

namespace zvfs::testing {
namespace {

class SessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { client_suite_setup("session", &dir_, &sock_); }
  static void TearDownTestSuite() { remove_tree(dir_); }
  void SetUp() override {
    pool_ = std::make_unique<MemPool>();
    d_ = std::make_unique<InProcessDaemon>(*pool_, sock_, "user");
    ASSERT_TRUE(d_->start());
  }
  void TearDown() override {
    d_.reset();
    pool_.reset();
  }
  std::string path(const std::string& name) { return dir_ + "/" + name; }
  int create(const std::string& name, int* handle, int flags = O_RDWR) {
    int fd = open(path(name).c_str(), flags | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    EXPECT_GE(fd, 0);
    ipc::AttachInfo info;
    *handle = ipc::attach(fd, flags | O_CREAT, &info);
    EXPECT_GE(*handle, 0) << strerror(-*handle);
    EXPECT_TRUE(info.zvfs);
    return fd;
  }
  // Opens an existing file with flags and attaches it; *fd gets the descriptor.
  int open_attached(const std::string& name, int flags, int* fd, ipc::AttachInfo* out = nullptr) {
    *fd = open(path(name).c_str(), flags | O_CLOEXEC);
    EXPECT_GE(*fd, 0);
    ipc::AttachInfo local;
    ipc::AttachInfo& info = out ? *out : local;
    int h = ipc::attach(*fd, flags, &info);
    EXPECT_GE(h, 0) << strerror(-h);
    return h;
  }
  uint64_t open_handles() { return d_->table().total_opens(); }
  // Waits for child pid, which must exit with status 0 (else: the step that failed).
  static void expect_exit_zero(pid_t pid) {
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
  }
  // Restarts the daemon with the options `set` changes.
  void restart(const std::function<void(daemon::Options&)>& set) {
    d_.reset();
    d_ = std::make_unique<InProcessDaemon>(*pool_, sock_, "user");
    set(d_->opts());
    ASSERT_TRUE(d_->start());
  }
  // n connections that send nothing.
  std::vector<int> connect_silently(int n) {
    std::vector<int> v;
    for (int i = 0; i < n; ++i) {
      v.push_back(ipc::sock_connect(sock_.c_str()));
      EXPECT_GE(v.back(), 0);
    }
    return v;
  }

  static std::string dir_, sock_;
  std::unique_ptr<MemPool> pool_;
  std::unique_ptr<InProcessDaemon> d_;
};
std::string SessionTest::dir_, SessionTest::sock_;

TEST_F(SessionTest, CreateWriteReadMirrorSize) {
  int h;
  int fd = create("a", &h);
  ASSERT_GE(h, 0);
  EXPECT_TRUE(ipc::connected());
  char v[64];
  ssize_t n = fgetxattr(fd, daemon::kUserBinding, v, sizeof v);
  ASSERT_GT(n, 0);
  auto data = random_bytes(100000, 1);
  ASSERT_EQ(ipc::pwrite(h, data.data(), data.size(), 5), 100000);
  std::vector<uint8_t> back(100005);
  ASSERT_EQ(ipc::pread(h, back.data(), back.size(), 0), 100005);
  EXPECT_EQ(0, memcmp(back.data() + 5, data.data(), data.size()));
  EXPECT_EQ(back[0], 0);
  uint64_t eof = 0;
  ASSERT_EQ(ipc::end_of_file(h, &eof), 0);  // the size cell, without a round trip
  EXPECT_EQ(eof, 100005u);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 100005);  // the first growth in a second is mirrored at once
  EXPECT_LT(st.st_blocks, 8);     // ...without the placeholder holding the data
  ipc::BlobStatInfo bs;
  ASSERT_EQ(ipc::stat(h, &bs), 0);
  EXPECT_EQ(bs.size, 100005u);
  // Reads past the end are short; zero-length calls are no-ops.
  EXPECT_EQ(ipc::pread(h, back.data(), 100, 100000), 5);
  EXPECT_EQ(ipc::pread(h, back.data(), 100, 200000), 0);
  EXPECT_EQ(ipc::pwrite(h, back.data(), 0, 0), 0);
  ASSERT_EQ(ipc::truncate(h, 10), 0);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 10);  // shrinking is mirrored at once
  ASSERT_EQ(ipc::end_of_file(h, &eof), 0);
  EXPECT_EQ(eof, 10u);
  uint64_t end = 0;
  ASSERT_EQ(ipc::append(h, "xyz", 3, &end), 3);
  EXPECT_EQ(end, 13u);
  ASSERT_EQ(ipc::end_of_file(h, &eof), 0);
  EXPECT_EQ(eof, 13u);
  uint64_t r = 0;
  ASSERT_EQ(ipc::seek(h, 0, SEEK_DATA, &r), 0);
  EXPECT_EQ(ipc::seek(h, 100, SEEK_HOLE, &r), -ENXIO);
  ASSERT_EQ(ipc::fallocate(h, 0, 0, 4096), 0);
  ASSERT_EQ(ipc::end_of_file(h, &eof), 0);
  EXPECT_EQ(eof, 4096u);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_LE(st.st_size, 4096);  // while the file grows, the placeholder may lag (<= 1 s)
  ASSERT_EQ(ipc::fallocate(h, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4), 0);
  ASSERT_EQ(ipc::pread(h, back.data(), 13, 0), 13);
  EXPECT_EQ(0, memcmp(back.data(), "\0\0\0\0", 4));
  EXPECT_EQ(0, memcmp(back.data() + 10, "xyz", 3));
  EXPECT_EQ(ipc::fallocate(h, 0x40, 0, 4), -EOPNOTSUPP);
  ASSERT_EQ(ipc::sync(h, false), 0);
  EXPECT_EQ(open_handles(), 1u);
  ASSERT_EQ(ipc::detach(h), 0);
  EXPECT_EQ(ipc::pread(h, back.data(), 1, 0), -EBADF);
  EXPECT_EQ(open_handles(), 0u);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 4096);  // exact from the last close on
  // Re-opening finds the same blob through the binding.
  ipc::AttachInfo info;
  int h2 = ipc::attach(fd, O_RDWR, &info);
  ASSERT_GE(h2, 0);
  EXPECT_TRUE(info.zvfs);
  EXPECT_EQ(info.size, 4096u);
  ASSERT_EQ(ipc::detach(h2), 0);
  close(fd);
}

TEST_F(SessionTest, OpenWithTruncEmptiesTheBlobReattachNeverDoes) {
  int h;
  int fd = create("trunc", &h);
  ASSERT_EQ(ipc::pwrite(h, "0123456789", 10, 0), 10);
  ipc::detach(h);
  close(fd);
  fd = open(path("trunc").c_str(), O_RDWR | O_TRUNC | O_CLOEXEC);
  ipc::AttachInfo info;
  h = ipc::attach(fd, O_RDWR | O_TRUNC, &info);
  ASSERT_GE(h, 0);
  EXPECT_EQ(info.size, 0u);
  ASSERT_EQ(ipc::pwrite(h, "abc", 3, 0), 3);
  ASSERT_EQ(ipc::sync(h, false), 0);
  // A daemon restart: the handle re-attaches without truncating again.
  d_.reset();
  d_ = std::make_unique<InProcessDaemon>(*pool_, sock_, "user");
  ASSERT_TRUE(d_->start());
  char b[4] = {};
  EXPECT_EQ(ipc::pread(h, b, 4, 0), 3);
  EXPECT_STREQ(b, "abc");
  ipc::detach(h);
  close(fd);
}

TEST_F(SessionTest, PlainFilesPassThrough) {
  // Non-empty unbound file: plain, even with O_CREAT.
  int fd = open(path("plain").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_EQ(write(fd, "hello", 5), 5);
  ipc::AttachInfo info;
  EXPECT_EQ(ipc::attach(fd, O_RDWR | O_CREAT, &info), -1);
  EXPECT_FALSE(info.zvfs);
  close(fd);
  // Empty, but the client may not bind it (a name that stays plain): stays plain.
  fd = open(path("empty").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  EXPECT_EQ(ipc::attach(fd, O_RDWR, &info), -1);
  close(fd);
  // A directory is never a ZVFS file.
  fd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  EXPECT_EQ(ipc::attach(fd, O_RDONLY | O_CREAT, &info), -1);
  close(fd);
  EXPECT_EQ(pool_->count(), 0u);
}

// Any opener may bind an empty unbound file, not only the open that created it: another process
// can open a file that its creator has not yet attached. Read-only too when the caller owns it
// (or is root, as here); both handles then reach the one blob.
TEST_F(SessionTest, EmptyUnboundFileIsBoundByWhicheverAttachComesFirst) {
  int fd = open(path("new").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  int ro = open(path("new").c_str(), O_RDONLY | O_CLOEXEC);
  ipc::AttachInfo first, second;
  int hr = ipc::attach(ro, O_RDONLY | O_CREAT, &first);
  ASSERT_GE(hr, 0);
  EXPECT_TRUE(first.zvfs);
  int hw = ipc::attach(fd, O_RDWR | O_CREAT | O_EXCL, &second);
  ASSERT_GE(hw, 0);
  EXPECT_EQ(second.blob_id, first.blob_id);
  ASSERT_EQ(ipc::pwrite(hw, "shared", 6, 0), 6);
  char b[6];
  EXPECT_EQ(ipc::pread(hr, b, 6, 0), 6);
  EXPECT_EQ(memcmp(b, "shared", 6), 0);
  ipc::detach(hr);
  ipc::detach(hw);
  close(ro);
  close(fd);
  EXPECT_EQ(pool_->count(), 1u);
}

TEST_F(SessionTest, ReadOnlyFdCannotWrite) {
  int h;
  int fd = create("ro", &h);
  ASSERT_EQ(ipc::pwrite(h, "abc", 3, 0), 3);
  ipc::detach(h);
  close(fd);
  fd = open(path("ro").c_str(), O_RDONLY | O_CLOEXEC);
  ipc::AttachInfo info;
  h = ipc::attach(fd, O_RDONLY, &info);
  ASSERT_GE(h, 0);
  EXPECT_EQ(ipc::pwrite(h, "x", 1, 0), -EBADF);
  uint64_t end;
  EXPECT_EQ(ipc::append(h, "x", 1, &end), -EBADF);
  EXPECT_EQ(ipc::truncate(h, 0), -EBADF);
  EXPECT_EQ(ipc::fallocate(h, 0, 0, 10), -EBADF);
  char c[3];
  EXPECT_EQ(ipc::pread(h, c, 3, 0), 3);
  ipc::detach(h);
  close(fd);
  // A write-only fd cannot read.
  fd = open(path("ro").c_str(), O_WRONLY | O_CLOEXEC);
  h = ipc::attach(fd, O_WRONLY, &info);
  ASSERT_GE(h, 0);
  EXPECT_EQ(ipc::pread(h, c, 3, 0), -EBADF);
  ipc::detach(h);
  close(fd);
}

TEST_F(SessionTest, ForgedAndCopiedBindingsAreRefused) {
  int h;
  int fd = create("victim", &h);
  ASSERT_EQ(ipc::pwrite(h, "secret", 6, 0), 6);
  char v[64];
  ssize_t n = fgetxattr(fd, daemon::kUserBinding, v, sizeof v);
  ASSERT_GT(n, 0);
  // A copy that kept the xattr (cp -a), or a hand-written id: the blob names another inode.
  int fd2 = open(path("thief").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_EQ(fsetxattr(fd2, daemon::kUserBinding, v, static_cast<size_t>(n), 0), 0);
  ipc::AttachInfo info;
  EXPECT_EQ(ipc::attach(fd2, O_RDWR | O_CREAT, &info), -1);
  EXPECT_FALSE(info.zvfs);
  EXPECT_EQ(pool_->count(), 1u);  // no second blob, no sharing
  // Malformed bindings, and bindings made by another pool, are never acted on.
  for (const char* v2 : {"zvfs:1:999", "zvfs:1:00000000000000ff:1"}) {
    ASSERT_EQ(fsetxattr(fd2, daemon::kUserBinding, v2, strlen(v2), 0), 0);
    EXPECT_EQ(ipc::attach(fd2, O_RDWR | O_CREAT, &info), -1) << v2;
  }
  EXPECT_EQ(pool_->count(), 1u);
  char back[6];
  ASSERT_EQ(ipc::pread(h, back, 6, 0), 6);
  EXPECT_EQ(0, memcmp(back, "secret", 6));
  // Releasing through the thief's inode never deletes the victim's blob.
  ASSERT_EQ(fsetxattr(fd2, daemon::kUserBinding, v, static_cast<size_t>(n), 0), 0);
  int op = open(path("thief").c_str(), O_PATH | O_CLOEXEC);
  ASSERT_EQ(unlink(path("thief").c_str()), 0);
  EXPECT_EQ(ipc::release_if_unlinked(op), 0);
  close(op);
  close(fd2);
  ipc::detach(h);
  EXPECT_EQ(pool_->count(), 1u);
  close(fd);
}

// stat_file answers what stat(2) shows of a ZVFS file through any descriptor, O_PATH included
// (no read permission needed, no handle made), and 0 for every file that is not one.
TEST_F(SessionTest, StatFileThroughAnyDescriptor) {
  int h;
  int fd = create("sized", &h);
  std::vector<uint8_t> data(70000, 7);
  ASSERT_EQ(ipc::pwrite(h, data.data(), data.size(), 1 << 20), 70000);
  const uint64_t opens = open_handles();
  ASSERT_EQ(chmod(path("sized").c_str(), 0), 0);  // stat needs no permission on the file
  int op = open(path("sized").c_str(), O_PATH | O_CLOEXEC);
  ASSERT_GE(op, 0);
  ipc::BlobStatInfo bs;
  EXPECT_EQ(ipc::stat_file(op, &bs), 1);
  EXPECT_EQ(bs.size, (1u << 20) + 70000);
  ipc::BlobStatInfo by_handle;
  ASSERT_EQ(ipc::stat(h, &by_handle), 0);
  EXPECT_EQ(bs.allocated_bytes, by_handle.allocated_bytes);
  EXPECT_GE(bs.allocated_bytes, 70000u);
  EXPECT_EQ(ipc::stat_file(fd, &bs), 1);  // a descriptor open for I/O answers the same
  EXPECT_EQ(open_handles(), opens);       // and neither made a handle
  EXPECT_GE(fcntl(op, F_GETFD), 0);       // the caller's descriptor stays open
  close(op);

  // Not ZVFS files: a plain file, a directory, a copy of the binding (another inode's blob).
  int plain = open(path("plainstat").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_EQ(write(plain, "hello", 5), 5);
  ipc::BlobStatInfo none;
  EXPECT_EQ(ipc::stat_file(plain, &none), 0);
  int dirfd = open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  EXPECT_EQ(ipc::stat_file(dirfd, &none), 0);
  close(dirfd);
  char v[64];
  ssize_t n = fgetxattr(fd, daemon::kUserBinding, v, sizeof v);
  ASSERT_GT(n, 0);
  ASSERT_EQ(fsetxattr(plain, daemon::kUserBinding, v, static_cast<size_t>(n), 0), 0);
  EXPECT_EQ(ipc::stat_file(plain, &none), 0);
  EXPECT_EQ(none.size, 0u);
  close(plain);
  ipc::detach(h);
  close(fd);
}

// Writes move the placeholder's mtime as the kernel moves a file's: at once when it was last
// set a second or more ago, otherwise at the latest when a handle closes (then to the time of
// the last change). Without this, rsync's and make's size + mtime checks miss overwrites.
TEST_F(SessionTest, WritesMoveThePlaceholdersMtime) {
  auto now_s = [] {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
  };
  auto mtime_s = [](int fd) {
    struct stat st;
    EXPECT_EQ(fstat(fd, &st), 0);
    return static_cast<double>(st.st_mtim.tv_sec) + st.st_mtim.tv_nsec / 1e9;
  };
  int h;
  int fd = create("mt", &h);
  ASSERT_EQ(ipc::pwrite(h, "abcdef", 6, 0), 6);  // grows from 0: size and mtime set at once
  const double first = mtime_s(fd);
  usleep(50 * 1000);
  double t0 = now_s();
  ASSERT_EQ(ipc::pwrite(h, "xyz", 3, 0), 3);  // same size, within the second: pending
  EXPECT_EQ(mtime_s(fd), first);
  EXPECT_LT(first, t0);
  int fd2;
  int h2 = open_attached("mt", O_RDONLY, &fd2);  // a second handle keeps the blob open
  ASSERT_GE(h2, 0);
  ipc::detach(h);                     // a release sets the pending time: that of the last change
  EXPECT_GE(mtime_s(fd), t0 - 0.05);  // coarse clocks: a tick behind
  EXPECT_LE(mtime_s(fd), now_s() + 0.05);

  // A change more than a second after the mtime was last set shows at once.
  h = open_attached("mt", O_RDWR, &fd);
  ASSERT_GE(h, 0);
  usleep(1100 * 1000);
  t0 = now_s();
  ASSERT_EQ(ipc::pwrite(h, "q", 1, 5), 1);
  EXPECT_GE(mtime_s(fd), t0 - 0.05);  // coarse clocks: a tick behind
  // Reads do not move it; truncates do.
  const double after_write = mtime_s(fd);
  usleep(50 * 1000);
  char c;
  ASSERT_EQ(ipc::pread(h2, &c, 1, 0), 1);
  ipc::detach(h2);
  close(fd2);
  EXPECT_EQ(mtime_s(fd), after_write);
  t0 = now_s();
  ASSERT_EQ(ipc::truncate(h, 2), 0);
  EXPECT_GE(mtime_s(fd), t0 - 0.05);  // coarse clocks: a tick behind
  ipc::detach(h);
  close(fd);
}

// The library's ftruncate sets the placeholder's size itself before its truncate request; the
// daemon then moves only the mtime (a futimens instead of a second ftruncate, which the guard
// would have to answer): the placeholder shows the size and a fresh mtime all the same, and a
// shrink to a size the placeholder does not have yet is still mirrored.
TEST_F(SessionTest, ATruncateToThePlaceholdersSizeMovesItsMtime) {
  auto mtime_ns = [](int fd) {
    struct stat st;
    EXPECT_EQ(fstat(fd, &st), 0);
    return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  };
  int h;
  int fd = create("sized", &h);
  ASSERT_EQ(ipc::pwrite(h, "abcdefgh", 8, 0), 8);  // grows from 0: mirrored at once
  const struct timespec old[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
  ASSERT_EQ(futimens(fd, old), 0);
  ASSERT_EQ(ftruncate(fd, 3), 0);   // as the library does before its request
  ASSERT_EQ(futimens(fd, old), 0);  // so that only the daemon can move it now
  struct timespec t0;
  clock_gettime(CLOCK_REALTIME_COARSE, &t0);
  ASSERT_EQ(ipc::truncate(h, 3), 0);
  EXPECT_GE(mtime_ns(fd), static_cast<int64_t>(t0.tv_sec) * 1000000000 + t0.tv_nsec);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 3);
  char b[8] = {};
  EXPECT_EQ(ipc::pread(h, b, 8, 0), 3);
  EXPECT_EQ(0, memcmp(b, "abc", 3));
  // Without the placeholder's own ftruncate first, the daemon's sets the size.
  ASSERT_EQ(futimens(fd, old), 0);
  ASSERT_EQ(ipc::truncate(h, 1), 0);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 1);
  EXPECT_GE(mtime_ns(fd), static_cast<int64_t>(t0.tv_sec) * 1000000000 + t0.tv_nsec);
  ipc::detach(h);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 1);  // the last close leaves it so
  close(fd);
}

// An mtime the program sets after its last write (cp -p, tar) is kept: the close's pending
// mtime and the last close's size catch-up (an ftruncate, which sets the mtime) leave it alone.
TEST_F(SessionTest, MtimeSetByTheProgramIsKept) {
  int h;
  int fd = create("kept", &h);
  std::vector<uint8_t> data(100000, 3);
  ASSERT_EQ(ipc::pwrite(h, data.data(), data.size(), 0), 100000);       // from 0: mirrored at once
  ASSERT_EQ(ipc::pwrite(h, data.data(), data.size(), 100000), 100000);  // growth: pending
  const struct timespec old[2] = {{0, UTIME_OMIT}, {1000000000, 123}};
  ASSERT_EQ(futimens(fd, old), 0);
  ipc::detach(h);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 200000);             // the size caught up at the last close...
  EXPECT_EQ(st.st_mtim.tv_sec, 1000000000);  // ...and the program's mtime stayed
  EXPECT_EQ(st.st_mtim.tv_nsec, 123);
  // A write after the program's utimensat moves the mtime again, as the kernel's would: at
  // once (the first change through a new handle)...
  h = open_attached("kept", O_RDWR, &fd);
  ASSERT_GE(h, 0);
  ASSERT_EQ(ipc::pwrite(h, "z", 1, 0), 1);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_GT(st.st_mtim.tv_sec, 1000000000);
  // ...or, within the second after the daemon last set it, at the close.
  ASSERT_EQ(futimens(fd, old), 0);
  usleep(50 * 1000);
  struct timespec before;
  clock_gettime(CLOCK_REALTIME, &before);
  ASSERT_EQ(ipc::pwrite(h, "y", 1, 1), 1);
  ipc::detach(h);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_GE(st.st_mtim.tv_sec, before.tv_sec - 1);
  close(fd);
}

// Hands out a fine-grained ctime stamp on a file of `dir`: on Linux 6.13 and later that moves
// the kernel's multigrain floor, which the next coarse stamps of every inode take when it lies
// past the coarse clock (on older kernels the stamps stay coarse: harmless).
void stamp_finely(const std::string& dir) {
  const std::string p = dir + "/floor";
  int fd = open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  struct stat st;
  const struct timespec now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  ASSERT_EQ(futimens(fd, now), 0);
  ASSERT_EQ(fstat(fd, &st), 0);     // read: the next change of the same tick is stamped finely
  ASSERT_EQ(futimens(fd, now), 0);  // ...and the floor moves to that stamp
  close(fd);
}

// An mtime the program sets right after a write (cp -p) is kept whatever stamp the kernel puts
// on the inode's ctime: here a floor stamp handed out just before the write (by another file),
// so the ctime lies before the write's fine clock reading though it was set after it. Deciding
// the order by that reading lost the program's time now and then.
TEST_F(SessionTest, MtimeSetRightAfterAWriteIsKeptWhateverItsStamp) {
  for (int round = 0; round < 20; round++) {
    const std::string name = "after" + std::to_string(round);
    int h;
    int fd = create(name.c_str(), &h);
    ASSERT_EQ(ipc::pwrite(h, "abc", 3, 0), 3);  // from 0: size and mtime set at once
    stamp_finely(dir_);
    ASSERT_EQ(ipc::pwrite(h, "d", 1, 3), 1);  // growth within the second: pending
    const struct timespec old[2] = {{0, UTIME_OMIT}, {1000000000, 7}};
    ASSERT_EQ(futimens(fd, old), 0);
    ipc::detach(h);
    struct stat st;
    ASSERT_EQ(fstat(fd, &st), 0);
    EXPECT_EQ(st.st_size, 4) << "round " << round;
    EXPECT_EQ(st.st_mtim.tv_sec, 1000000000) << "round " << round;
    EXPECT_EQ(st.st_mtim.tv_nsec, 7) << "round " << round;
    close(fd);
  }
}

// A write right after the program's futimens (within one clock tick, where the inode's ctime
// cannot order the two) still moves the mtime at the close: the library reports the futimens
// (mtime_set), which the daemon counts before the write. The same pair unreported keeps the
// program's time (the ctime is of the write's tick: ordered as cp -p needs).
TEST_F(SessionTest, MtimeSetJustBeforeAWriteGivesWayToIt) {
  for (int round = 0; round < 20; round++) {
    const std::string name = "just" + std::to_string(round);
    int h;
    int fd = create(name.c_str(), &h);
    ASSERT_EQ(ipc::pwrite(h, "abc", 3, 0), 3);  // from 0: size and mtime set at once
    const struct timespec old[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
    struct timespec before;
    clock_gettime(CLOCK_REALTIME, &before);
    ASSERT_EQ(futimens(fd, old), 0);
    ASSERT_EQ(ipc::note_mtime_set(h), 0);
    ASSERT_EQ(ipc::pwrite(h, "d", 1, 3), 1);  // growth within the second: pending
    ipc::detach(h);
    struct stat st;
    ASSERT_EQ(fstat(fd, &st), 0);
    EXPECT_GE(st.st_mtim.tv_sec, before.tv_sec - 1) << "round " << round;
    close(fd);
  }
}

// A reported set followed by a write and a chmod: the chmod moves the inode's ctime past the
// write, but the report says the set came before the write, whose time shows at the close.
TEST_F(SessionTest, ReportedSetGivesWayToALaterWriteDespiteAChmod) {
  int h;
  int fd = create("chm", &h);
  ASSERT_EQ(ipc::pwrite(h, "abc", 3, 0), 3);
  const struct timespec old[2] = {{0, UTIME_OMIT}, {1000000000, 5}};
  ASSERT_EQ(futimens(fd, old), 0);
  ASSERT_EQ(ipc::note_mtime_set(h), 0);
  struct timespec before;
  clock_gettime(CLOCK_REALTIME, &before);
  ASSERT_EQ(ipc::pwrite(h, "d", 1, 3), 1);  // pending
  usleep(20 * 1000);                        // the chmod's ctime a tick or more after the write
  ASSERT_EQ(fchmod(fd, 0600), 0);
  ipc::detach(h);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_GE(st.st_mtim.tv_sec, before.tv_sec - 1);
  close(fd);
}

// The report orders only the changes before it: a write, then the program's futimens and its
// report, keeps the program's time, however close the two are.
TEST_F(SessionTest, ReportedMtimeAfterTheLastWriteIsKept) {
  for (int round = 0; round < 20; round++) {
    const std::string name = "rep" + std::to_string(round);
    int h;
    int fd = create(name.c_str(), &h);
    ASSERT_EQ(ipc::pwrite(h, "abc", 3, 0), 3);
    ASSERT_EQ(ipc::pwrite(h, "d", 1, 3), 1);  // pending
    const struct timespec old[2] = {{0, UTIME_OMIT}, {1000000000, 9}};
    ASSERT_EQ(futimens(fd, old), 0);
    ASSERT_EQ(ipc::note_mtime_set(h), 0);
    ipc::detach(h);
    struct stat st;
    ASSERT_EQ(fstat(fd, &st), 0);
    EXPECT_EQ(st.st_mtim.tv_sec, 1000000000) << "round " << round;
    EXPECT_EQ(st.st_mtim.tv_nsec, 9) << "round " << round;
    close(fd);
  }
}

TEST_F(SessionTest, BlobLostInACrashStartsOverEmpty) {
  // A binding of this pool naming a blob that is not there: its creation was never made durable
  // before a crash. Read-only: a plain file; writable: a fresh empty blob under the same name.
  int fd = open(path("lost").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_EQ(ftruncate(fd, 100), 0);
  const char* v = "zvfs:1:0000000000000000:4242";
  ASSERT_EQ(fsetxattr(fd, daemon::kUserBinding, v, strlen(v), 0), 0);
  int ro = open(path("lost").c_str(), O_RDONLY | O_CLOEXEC);
  ipc::AttachInfo info;
  EXPECT_EQ(ipc::attach(ro, O_RDONLY, &info), -1);
  close(ro);
  int h = ipc::attach(fd, O_RDWR, &info);
  ASSERT_GE(h, 0);
  EXPECT_TRUE(info.zvfs);
  EXPECT_EQ(info.size, 0u);
  EXPECT_NE(info.blob_id, 4242u);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 0);  // placeholder repaired from the blob
  EXPECT_EQ(pool_->count(), 1u);
  ipc::detach(h);
  close(fd);
}

TEST_F(SessionTest, UnlinkedBlobFreedAtLastClose) {
  int h;
  int fd = create("u", &h);
  ASSERT_EQ(ipc::pwrite(h, "data", 4, 0), 4);
  ASSERT_EQ(pool_->count(), 1u);
  int op = open(path("u").c_str(), O_PATH | O_CLOEXEC);
  ASSERT_EQ(unlink(path("u").c_str()), 0);
  ASSERT_EQ(ipc::release_if_unlinked(op), 0);
  close(op);
  // Still open: still readable.
  char b[4];
  ASSERT_EQ(ipc::pread(h, b, 4, 0), 4);
  EXPECT_EQ(pool_->count(), 1u);
  ASSERT_EQ(ipc::detach(h), 0);
  EXPECT_EQ(pool_->count(), 0u);
  close(fd);
  // Unlinked while not open: freed at once.
  fd = create("u2", &h);
  ipc::detach(h);
  close(fd);
  op = open(path("u2").c_str(), O_PATH | O_CLOEXEC);
  ASSERT_EQ(unlink(path("u2").c_str()), 0);
  ASSERT_EQ(ipc::release_if_unlinked(op), 0);
  close(op);
  EXPECT_EQ(pool_->count(), 0u);
  // Without the notification, the last close notices nlink == 0.
  fd = create("u3", &h);
  ASSERT_EQ(unlink(path("u3").c_str()), 0);
  ipc::detach(h);
  close(fd);
  EXPECT_EQ(pool_->count(), 0u);
}

// Regression: the daemon closed the descriptor of a release-if-unlinked request twice (once
// when done, once more after the reply), so the second close hit whatever the daemon had
// opened with that number meanwhile. The daemon runs in this process here: a thread that
// keeps opening descriptors (which take the lowest free number, the one just closed) must
// never see one of its own closed under it.
TEST_F(SessionTest, ReleaseIfUnlinkedClosesItsDescriptorOnce) {
  std::atomic<bool> stop{false};
  std::atomic<int> stolen{0};
  std::thread grabber([&] {
    while (!stop.load()) {
      int x = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (x < 0) continue;
      for (int i = 0; i < 20; i++) sched_yield();
      if (fcntl(x, F_GETFD) < 0) {
        stolen++;  // closed by someone else: never close it again
        continue;
      }
      close(x);
    }
  });
  int h;
  for (int i = 0; i < 2000 && stolen.load() == 0; i++) {
    const std::string name = std::string("r").append(std::to_string(i));
    int fd = create(name, &h);
    ASSERT_EQ(unlink(path(name).c_str()), 0);
    ASSERT_EQ(ipc::release_if_unlinked(fd), 0);
    ASSERT_EQ(ipc::detach(h), 0);
    close(fd);
  }
  stop = true;
  grabber.join();
  EXPECT_EQ(stolen.load(), 0) << "a descriptor of this process was closed by the daemon";
  EXPECT_EQ(pool_->count(), 0u);
}

TEST_F(SessionTest, LargeRequestsAreSplit) {
  int h;
  int fd = create("big", &h);
  const size_t n = 40u << 20;  // 40 slots' worth
  auto data = random_bytes(n, 7);
  ASSERT_EQ(ipc::pwrite(h, data.data(), n, 3), static_cast<ssize_t>(n));
  std::vector<uint8_t> back(n);
  ASSERT_EQ(ipc::pread(h, back.data(), n, 3), static_cast<ssize_t>(n));
  EXPECT_EQ(0, memcmp(back.data(), data.data(), n));
  uint64_t eof = 0;
  ASSERT_EQ(ipc::end_of_file(h, &eof), 0);
  EXPECT_EQ(eof, n + 3);
  ipc::detach(h);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), n + 3);
  close(fd);
}

// An O_SYNC write is one request: the write, then the sync, in the same round trip.
TEST_F(SessionTest, SyncedWriteIsOneRoundTrip) {
  int h;
  int fd = create("osync", &h);
  auto ops = [&](ipc::Op op) {
    ipc::OpStats st{};
    d_->ctx().stats.snapshot(static_cast<uint16_t>(op), &st);
    return st.count;
  };
  // A worker counts a request after its reply (off the client's round trip): the count may
  // land a moment after the call returns. Waits (bounded) until it reaches `want`.
  auto ops_reaching = [&](ipc::Op op, uint64_t want) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    uint64_t n = ops(op);
    while (n < want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      n = ops(op);
    }
    return n;
  };
  uint64_t writes = ops(ipc::Op::kWrite), syncs = ops(ipc::Op::kSync);
  auto data = random_bytes(16384, 5);
  ASSERT_EQ(ipc::pwrite_sync(h, data.data(), data.size(), 4096, true), 16384);
  EXPECT_EQ(ops_reaching(ipc::Op::kWrite, writes + 1), writes + 1);
  EXPECT_EQ(ops(ipc::Op::kSync), syncs);
  std::vector<uint8_t> back(16384);
  ASSERT_EQ(ipc::pread(h, back.data(), back.size(), 4096), 16384);
  EXPECT_EQ(back, data);
  uint64_t eof = 0;
  ASSERT_EQ(ipc::end_of_file(h, &eof), 0);
  EXPECT_EQ(eof, 20480u);
  // Larger than a slot: chunked writes, then one sync.
  std::vector<uint8_t> big((3u << 20) + 5, 9);
  ASSERT_EQ(ipc::pwrite_sync(h, big.data(), big.size(), 0, false),
            static_cast<ssize_t>(big.size()));
  EXPECT_EQ(ops_reaching(ipc::Op::kSync, syncs + 1), syncs + 1);
  ASSERT_EQ(ipc::detach(h), 0);
  close(fd);
}

// Closing a writable handle sets a lagging placeholder size, even while read-only handles
// stay open (a daemon that is not root could not reopen a read-only file for writing later).
TEST_F(SessionTest, ClosingAWritableHandleCatchesThePlaceholderUp) {
  int h;
  int fd = create("wclose", &h);
  ASSERT_EQ(ipc::pwrite(h, "a", 1, 0), 1);  // grows from 0: mirrored at once
  int fd2;
  int h2 = open_attached("wclose", O_RDONLY, &fd2);
  ASSERT_GE(h2, 0);
  ASSERT_EQ(ipc::pwrite(h, "b", 1, 99999), 1);  // grows again within the second: may lag
  ASSERT_EQ(ipc::detach(h), 0);
  struct stat st;
  ASSERT_EQ(fstat(fd2, &st), 0);
  EXPECT_EQ(st.st_size, 100000);
  uint64_t eof = 0;
  ASSERT_EQ(ipc::end_of_file(h2, &eof), 0);
  EXPECT_EQ(eof, 100000u);
  ASSERT_EQ(ipc::detach(h2), 0);
  close(fd2);
  close(fd);
}

// An open(O_TRUNC) empties the blob at attach: every other handle's size cell follows.
TEST_F(SessionTest, TruncatingOpenUpdatesOtherHandlesSizeCells) {
  int h;
  int fd = create("otrunc", &h);
  ASSERT_EQ(ipc::pwrite(h, "0123456789", 10, 131063), 10);
  uint64_t eof = 0;
  ASSERT_EQ(ipc::end_of_file(h, &eof), 0);
  EXPECT_EQ(eof, 131073u);
  int fd2;
  ipc::AttachInfo info;
  int h2 = open_attached("otrunc", O_RDWR | O_TRUNC, &fd2, &info);
  ASSERT_GE(h2, 0);
  EXPECT_EQ(info.size, 0u);
  ASSERT_EQ(ipc::end_of_file(h, &eof), 0);
  EXPECT_EQ(eof, 0u);
  ASSERT_EQ(ipc::detach(h2), 0);
  ASSERT_EQ(ipc::detach(h), 0);
  close(fd2);
  close(fd);
}

// Every session holding a blob sees its size change in its size cell before the request that
// changed it is answered, with no request of its own; the placeholder follows at the last close.
TEST_F(SessionTest, SizeCellsFollowWritesOfOtherSessions) {
  int h;
  int fd = create("cells", &h);
  ASSERT_EQ(ipc::pwrite(h, "x", 1, 0), 1);
  int go[2], done[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(done), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Its own session (forked children get one), attached before the parent grows the file.
    ipc::AttachInfo info;
    int ch = ipc::attach(fd, O_RDONLY, &info);
    if (ch < 0) _exit(2);
    uint64_t eof = 0;
    if (ipc::end_of_file(ch, &eof) != 0 || eof != 1) _exit(3);
    char c = 0;
    if (write(done[1], &c, 1) != 1 || read(go[0], &c, 1) != 1) _exit(4);
    for (uint64_t want : {1000000ull, 5ull, 70000ull}) {
      if (ipc::end_of_file(ch, &eof) != 0 || eof != want) _exit(5);
      if (write(done[1], &c, 1) != 1 || (want != 70000 && read(go[0], &c, 1) != 1)) _exit(6);
    }
    _exit(ipc::detach(ch) == 0 ? 0 : 7);
  }
  char c = 0;
  ASSERT_EQ(read(done[0], &c, 1), 1);
  ASSERT_EQ(ipc::pwrite(h, "y", 1, 999999), 1);  // grows to 1000000
  ASSERT_EQ(write(go[1], &c, 1), 1);
  ASSERT_EQ(read(done[0], &c, 1), 1);
  ASSERT_EQ(ipc::truncate(h, 5), 0);  // shrinks
  ASSERT_EQ(write(go[1], &c, 1), 1);
  ASSERT_EQ(read(done[0], &c, 1), 1);
  uint64_t end = 0;
  std::vector<uint8_t> blob(69995, 7);
  ASSERT_EQ(ipc::append(h, blob.data(), blob.size(), &end), 69995);  // grows to 70000
  ASSERT_EQ(write(go[1], &c, 1), 1);
  ASSERT_EQ(read(done[0], &c, 1), 1);
  expect_exit_zero(pid);
  // The child's session ends after its exit, on the daemon's time: wait for its handle to go.
  for (int i = 0; i < 500 && open_handles() > 1; ++i) usleep(10000);
  ASSERT_EQ(open_handles(), 1u);
  ASSERT_EQ(ipc::detach(h), 0);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 70000);
  for (int p : {go[0], go[1], done[0], done[1]}) close(p);
  close(fd);
}

TEST_F(SessionTest, LargeAppendsStayContiguousAcrossThreads) {
  int h;
  int fd = create("log", &h, O_RDWR | O_APPEND);
  const int kThreads = 4, kRecords = 6;
  const size_t kRec = 3u << 20;  // 3 slots per record
  std::vector<std::thread> ts;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<uint8_t> rec(kRec, static_cast<uint8_t>('A' + t));
      for (int i = 0; i < kRecords; ++i) {
        uint64_t end = 0;
        if (ipc::append(h, rec.data(), rec.size(), &end) != static_cast<ssize_t>(kRec)) failures++;
        if (end % kRec != 0) failures++;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::vector<uint8_t> all(kRec * kThreads * kRecords);
  ASSERT_EQ(ipc::pread(h, all.data(), all.size() + 1, 0), static_cast<ssize_t>(all.size()));
  for (size_t r = 0; r < all.size() / kRec; ++r) {
    uint8_t c = all[r * kRec];
    ASSERT_GE(c, 'A');
    ASSERT_LT(c, 'A' + kThreads);
    for (size_t i = 0; i < kRec; i += 4096) ASSERT_EQ(all[r * kRec + i], c) << r;
  }
  ipc::detach(h);
  close(fd);
}

// kThreads threads each write, read back and compare their own 16 KiB, and send null
// requests, kOps times; every request must succeed.
void many_threads_in_flight(int h, int kThreads, int kOps) {
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<uint8_t> buf(16384), back(16384);
      for (int i = 0; i < kOps; ++i) {
        memset(buf.data(), t * 31 + i, buf.size());
        uint64_t off = static_cast<uint64_t>(t) * 16384;
        if (ipc::pwrite(h, buf.data(), buf.size(), off) != 16384) bad++;
        if (ipc::pread(h, back.data(), back.size(), off) != 16384) bad++;
        if (memcmp(buf.data(), back.data(), buf.size()) != 0) bad++;
        if (ipc::null_request() != 0) bad++;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// A session's threads carry their client's pid, so `top -H` on zvfsd shows whom a busy worker
// serves (here the client is this process).
TEST_F(SessionTest, SessionThreadsCarryTheClientPid) {
  ASSERT_EQ(ipc::null_request(), 0);
  auto names = thread_names();
  const std::string pid = std::to_string(getpid());
  EXPECT_NE(std::find(names.begin(), names.end(), "zvfsd-w" + pid), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "zvfsd-c" + pid), names.end());
}

TEST_F(SessionTest, ManyThreadsInFlight) {
  int h;
  int fd = create("mt", &h);
  many_threads_in_flight(h, 8, 300);
  ipc::detach(h);
  close(fd);
}

// With --poll-us 0 no worker ever polls: every request must ring and wake a sleeping worker,
// and every reply wake its sleeping or spinning client, from one thread and from many.
TEST_F(SessionTest, WorkersThatNeverPollServeEveryRequest) {
  restart([](daemon::Options& o) { o.poll_us = 0; });
  int h;
  int fd = create("nopoll", &h);
  many_threads_in_flight(h, 1, 500);
  many_threads_in_flight(h, 8, 100);
  ipc::detach(h);
  close(fd);
}

// Requests 200 us apart (a PostgreSQL backend's pace): with the default --poll-us a worker is
// still polling when the next one comes, so the client need not ring the doorbell and wait
// for a sleeping worker's wake-up; with --poll-us 0 every request rings.
int64_t rings_for_paced_requests(int n) {
  EXPECT_EQ(ipc::null_request(), 0);
  int64_t before = ipc::doorbell_rings();
  for (int i = 0; i < n; ++i) {
    uint64_t until = ipc::now_ns() + 200 * 1000;
    while (ipc::now_ns() < until) ipc::cpu_relax();  // busy, as a backend between requests
    EXPECT_EQ(ipc::null_request(), 0);
  }
  return ipc::doorbell_rings() - before;
}

TEST_F(SessionTest, AWorkerPollsThroughGapsBetweenRequests) {
  const int kRequests = 200;
  // Descheduled threads let a poll lapse now and then (ctest runs this test alone, but the
  // machine may have other work): the best of a few rounds counts.
  int64_t polled = kRequests;
  for (int round = 0; round < 5 && polled >= kRequests / 4; ++round)
    polled = std::min(polled, rings_for_paced_requests(kRequests));
  restart([](daemon::Options& o) { o.poll_us = 0; });
  int64_t never = rings_for_paced_requests(kRequests);
  EXPECT_LT(polled, kRequests / 4) << "rings with polling";
  EXPECT_GE(never, kRequests - kRequests / 20) << "rings without polling";
}

// A polling worker and the client it serves on one CPU (as the scheduler often places a woken
// worker on its waker's CPU). The client rings a sleeping worker, which may preempt it at once
// and then polls: the client runs again only if the poll gives the CPU away. Before the polls
// yielded (doorbell.h, spin_until), such a request waited for the worker's time slice to end
// or its poll to lapse (a new PostgreSQL backend's opens took 1 ms each with --poll-us 1000).
TEST_F(SessionTest, PollsYieldToAClientOnTheSameCpu) {
  cpu_set_t all, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  // The daemon's threads, started from this thread from now on, inherit its CPU.
  constexpr uint32_t kPollUs = 30000;
  restart([](daemon::Options& o) { o.poll_us = kPollUs; });
  ASSERT_EQ(ipc::null_request(), 0);
  const int kRequests = 15;
  std::vector<uint64_t> lat;
  for (int i = 0; i < kRequests; ++i) {
    usleep(kPollUs + 10000);  // the worker's poll lapses: it sleeps
    uint64_t t0 = ipc::now_ns();
    ASSERT_EQ(ipc::null_request(), 0);
    lat.push_back(ipc::now_ns() - t0);
  }
  restart([](daemon::Options&) {});
  ASSERT_EQ(sched_setaffinity(0, sizeof all, &all), 0);
  std::sort(lat.begin(), lat.end());
  // A yield hands the CPU over within ~15 us of polling; a time slice is 1 ms or more.
  EXPECT_LT(lat[kRequests / 2], 500 * 1000u) << "median request on a shared CPU, ns (fastest "
                                             << lat[0] << ", slowest " << lat.back() << ")";
}

// A thread keeps its slot parked between requests (client.cc, SlotOwner). Threads that exit
// leave theirs parked: later threads must take those over, and threads beyond the slot count
// must wait for one and not hang or fail.
TEST_F(SessionTest, ParkedSlotsOfExitedThreadsAreTakenOver) {
  ASSERT_EQ(ipc::null_request(), 0);
  std::atomic<int> done{0}, bad{0};
  const int kThreads = 3 * static_cast<int>(ipc::kDefaultSlotCount) + 1;
  std::thread runner([&] {
    for (int t = 0; t < kThreads; ++t) {
      std::thread([&] {
        if (ipc::null_request() != 0) bad++;
      }).join();
      done++;
    }
  });
  for (int i = 0; i < 300 && done.load() < kThreads; ++i) usleep(100 * 1000);
  ASSERT_EQ(done.load(), kThreads) << "a thread found no slot: parked slots are not taken over";
  runner.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(SessionTest, MoreThreadsThanSlotsAllComplete) {
  int h;
  int fd = create("crowd", &h);
  const int kThreads = 3 * static_cast<int>(ipc::kDefaultSlotCount), kOps = 200;
  std::vector<std::thread> ts;
  std::atomic<int> bad{0}, finished{0};
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      uint8_t buf[4096], back[4096];
      for (int i = 0; i < kOps; ++i) {
        memset(buf, t * 7 + i, sizeof buf);
        uint64_t off = static_cast<uint64_t>(t) * sizeof buf;
        if (ipc::pwrite(h, buf, sizeof buf, off) != static_cast<int64_t>(sizeof buf)) bad++;
        if (ipc::pread(h, back, sizeof back, off) != static_cast<int64_t>(sizeof back)) bad++;
        if (memcmp(buf, back, sizeof buf) != 0) bad++;
      }
      finished++;
    });
  }
  for (int i = 0; i < 600 && finished.load() < kThreads; ++i) usleep(100 * 1000);
  ASSERT_EQ(finished.load(), kThreads) << "threads waiting for a slot never got one";
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  ipc::detach(h);
  close(fd);
}

// A process without the library cannot even open a guarded placeholder: otherwise an open
// with O_TRUNC would empty it unseen (no access event follows), and cp would find it all hole
// and write an empty copy without reading. A process with a session opens it as usual.
TEST_F(SessionTest, PlaceholderGuardRefusesOpensWithoutTheLibrary) {
  if (geteuid() != 0) GTEST_SKIP() << "the guard needs CAP_SYS_ADMIN (fanotify)";
  int h;
  int fd = create("guarded-open", &h);
  ASSERT_EQ(ipc::pwrite(h, "secret", 6, 0), 6);
  // A raw fork runs no atfork handler: the child has no session of its own, and this test
  // program does not map libzvfs.so.
  pid_t pid = static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, 0, nullptr, nullptr, 0));
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int f = open(path("guarded-open").c_str(), O_RDONLY | O_CLOEXEC);
    if (f >= 0 || errno != EPERM) _exit(10);
    f = open(path("guarded-open").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (f >= 0 || errno != EPERM) _exit(11);
    _exit(0);
  }
  expect_exit_zero(pid);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 6) << "the placeholder was truncated";
  char b[6];
  ASSERT_EQ(ipc::pread(h, b, 6, 0), 6);
  EXPECT_EQ(0, memcmp(b, "secret", 6));
  // This process is a client: it opens the file again.
  int again = open(path("guarded-open").c_str(), O_RDWR | O_CLOEXEC);
  EXPECT_GE(again, 0) << strerror(errno);
  if (again >= 0) close(again);
  ipc::detach(h);
  close(fd);
}

// Whether this kernel and the file system of `file` have fanotify pre-content events (the
// guard then refuses writes too).
static bool pre_content_events(const std::string& file) {
  int fan = fanotify_init(FAN_CLASS_PRE_CONTENT | FAN_CLOEXEC, O_RDONLY);
  if (fan < 0) return false;
  bool ok = fanotify_mark(fan, FAN_MARK_ADD, 0x00100000 /* FAN_PRE_ACCESS */, AT_FDCWD,
                          file.c_str()) == 0;
  close(fan);
  return ok;
}

// The daemon refuses reads, writes, truncates and fallocates of a placeholder by another process
// that goes around the library (here: this test's child, calling the kernel itself).
TEST_F(SessionTest, PlaceholderGuardRefusesAccessWithoutTheLibrary) {
  if (geteuid() != 0) GTEST_SKIP() << "the guard needs CAP_SYS_ADMIN (fanotify)";
  int h;
  int fd = create("guarded", &h);
  const bool writes_guarded = pre_content_events(path("guarded"));
  EXPECT_TRUE(writes_guarded) << "no fanotify pre-content events here (Linux >= 6.14, ext4)";
  ASSERT_EQ(ipc::pwrite(h, "secret", 6, 0), 6);
  int other = open(path("guarded-out").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(other, 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int f = open(path("guarded").c_str(), O_RDWR | O_CLOEXEC);
    if (f < 0) _exit(10);
    char b[6];
    if (pread(f, b, 6, 0) != -1 || errno != EPERM) _exit(11);
    if (read(f, b, 6) != -1 || errno != EPERM) _exit(12);
    if (writes_guarded) {
      if (pwrite(f, "x", 1, 0) != -1 || errno != EPERM) _exit(13);
      if (ftruncate(f, 0) != -1 || errno != EPERM) _exit(14);
      if (fallocate(f, 0, 0, 4096) != -1 || errno != EPERM) _exit(17);
      if (truncate(path("guarded").c_str(), 1) != -1 || errno != EPERM) _exit(18);
    }
    // Even a zero-length copy from the file is refused, unless it is the library's own
    // validation call.
    loff_t in = 3, out = 0;
    if (copy_file_range(f, &in, other, &out, 0, 0) != -1 || errno != EPERM) _exit(15);
    struct Fds {
      int f, o;
    } fds{f, other};
    long r = ipc::with_kernel_probe(
        [](void* p) -> long {
          auto* x = static_cast<Fds*>(p);
          loff_t i = 3, o = 0;
          return copy_file_range(x->f, &i, x->o, &o, 0, 0);
        },
        &fds);
    if (r != 0) _exit(16);
    // The library's own ftruncate of the placeholder (its st_size) is such a call too.
    r = ipc::with_kernel_probe(
        [](void* p) -> long { return ftruncate(static_cast<Fds*>(p)->f, 6); }, &fds);
    if (r != 0) _exit(19);
    _exit(0);
  }
  expect_exit_zero(pid);
  // Nothing changed; the daemon's own truncate of the placeholder passes.
  char b[6];
  ASSERT_EQ(ipc::pread(h, b, 6, 0), 6);
  EXPECT_EQ(0, memcmp(b, "secret", 6));
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 6);
  EXPECT_LT(st.st_blocks, 8);
  ASSERT_EQ(ipc::truncate(h, 3), 0);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 3);
  ipc::detach(h);
  close(fd);
  close(other);
}

TEST_F(SessionTest, ForkedChildGetsItsOwnSession) {
  int h;
  int fd = create("fork", &h);
  ASSERT_EQ(ipc::pwrite(h, "parent", 6, 0), 6);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    char b[6];
    if (ipc::pread(h, b, 6, 0) != 6 || memcmp(b, "parent", 6) != 0) _exit(2);
    if (ipc::pwrite(h, "child!", 6, 6) != 6) _exit(3);
    if (ipc::detach(h) != 0) _exit(4);
    _exit(0);
  }
  expect_exit_zero(pid);
  char b[12];
  ASSERT_EQ(ipc::pread(h, b, 12, 0), 12);  // the parent's session is untouched
  EXPECT_EQ(0, memcmp(b, "parentchild!", 12));
  ipc::detach(h);
  close(fd);
}

TEST_F(SessionTest, KilledClientLeavesNoHandle) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fds[5];
    for (int i = 0; i < 5; ++i) {
      fds[i] = open(path(std::string("k").append(std::to_string(i))).c_str(),
                    O_RDWR | O_CREAT | O_TRUNC, 0644);
      ipc::AttachInfo info;
      int h = ipc::attach(fds[i], O_RDWR | O_CREAT, &info);
      if (h < 0 || ipc::pwrite(h, "x", 1, 0) != 1) _exit(2);
    }
    (void)!write(p[1], "r", 1);
    pause();
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(p[0], &c, 1), 1);
  EXPECT_EQ(open_handles(), 5u);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  uint64_t t0 = ipc::now_ns();
  while (open_handles() != 0 && ipc::now_ns() - t0 < 5000000000ull) usleep(10000);
  EXPECT_EQ(open_handles(), 0u);
  EXPECT_EQ(d_->table().open_blobs(), 0u);
  close(p[0]);
  close(p[1]);
}

TEST_F(SessionTest, DaemonRestartReattachesAndReportsLostWritesOnce) {
  int h1, h2;
  int fd1 = create("synced", &h1);
  int fd2 = create("unsynced", &h2);
  ASSERT_EQ(ipc::pwrite(h1, "one", 3, 0), 3);
  ASSERT_EQ(ipc::sync(h1, false), 0);
  ASSERT_EQ(ipc::pwrite(h2, "two", 3, 0), 3);
  // The daemon goes away and comes back on the same pool (the memory pool keeps the data, as
  // an engine would keep what was synced).
  d_.reset();
  d_ = std::make_unique<InProcessDaemon>(*pool_, sock_, "user");
  ASSERT_TRUE(d_->start());
  char b[3];
  ASSERT_EQ(ipc::pread(h1, b, 3, 0), 3);  // transparently re-attached
  EXPECT_EQ(0, memcmp(b, "one", 3));
  // A stat through the new daemon works at once (a socket request on the dead session is
  // made again on a new one).
  d_.reset();
  d_ = std::make_unique<InProcessDaemon>(*pool_, sock_, "user");
  ASSERT_TRUE(d_->start());
  int op = open(path("synced").c_str(), O_PATH | O_CLOEXEC);
  ipc::BlobStatInfo bs;
  EXPECT_EQ(ipc::stat_file(op, &bs), 1);
  EXPECT_EQ(bs.size, 3u);
  close(op);
  EXPECT_EQ(ipc::sync(h1, false), 0);    // nothing was unsynced: carries on
  EXPECT_EQ(ipc::sync(h2, true), -EIO);  // had unsynced writes: EIO once...
  EXPECT_EQ(ipc::sync(h2, true), 0);     // ...then fine
  ASSERT_EQ(ipc::pwrite(h2, "new", 3, 0), 3);
  EXPECT_EQ(ipc::sync(h2, false), 0);
  ipc::detach(h1);
  ipc::detach(h2);
  close(fd1);
  close(fd2);
}

TEST_F(SessionTest, DaemonDownFailsWithEioAfterTimeout) {
  int h;
  int fd = create("down", &h);
  d_.reset();
  uint64_t t0 = ipc::now_ns();
  char b[1];
  EXPECT_EQ(ipc::pread(h, b, 1, 0), -EIO);
  uint64_t ms = (ipc::now_ns() - t0) / 1000000;
  EXPECT_GE(ms, 2500u);  // ZVFS_TIMEOUT_MS=3000
  EXPECT_LT(ms, 8000u);
  d_ = std::make_unique<InProcessDaemon>(*pool_, sock_, "user");
  ASSERT_TRUE(d_->start());
  EXPECT_EQ(ipc::pread(h, b, 1, 0), 0);
  ipc::detach(h);
  close(fd);
}

TEST_F(SessionTest, HostileClientsDoNotDisturbOthers) {
  int h;
  int fd = create("calm", &h);
  ASSERT_EQ(ipc::pwrite(h, "calm", 4, 0), 4);
  auto junk = random_bytes(1 << 16, 99);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 200; ++i) {
    int s = ipc::sock_connect(sock_.c_str());
    ASSERT_GE(s, 0);
    size_t len = rng() % 200;
    long start = static_cast<long>(rng() % 60000);
    std::vector<uint8_t> msg(junk.begin() + start, junk.begin() + start + static_cast<long>(len));
    if (i % 3 == 0 && msg.size() >= sizeof(ipc::MsgHeader)) {
      ipc::MsgHeader hd;  // valid header, absurd body length or unknown op
      hd.opcode = static_cast<uint16_t>(rng() % 40);
      hd.payload_len = static_cast<uint32_t>(rng());
      memcpy(msg.data(), &hd, sizeof hd);
    }
    ipc::sock_send(s, msg.data(), msg.size(), i % 5 == 0 ? fd : -1);
    close(s);
  }
  // A flood of idle connections.
  std::vector<int> idle;
  for (int i = 0; i < 100; ++i) idle.push_back(ipc::sock_connect(sock_.c_str()));
  char b[4];
  ASSERT_EQ(ipc::pread(h, b, 4, 0), 4);
  EXPECT_EQ(0, memcmp(b, "calm", 4));
  for (int s : idle) close(s);
  EXPECT_GT(d_->ctx().bad_requests.load(), 0u);
  ipc::detach(h);
  close(fd);
}

// Silent connections (no handshake, no request) fill every session place; the daemon closes
// them after --handshake-ms, and a real client gets in.
TEST_F(SessionTest, SilentConnectionsCannotLockClientsOut) {
  restart([](daemon::Options& o) {
    o.max_sessions = 8;
    o.handshake_ms = 300;
  });
  std::vector<int> silent = connect_silently(8);
  // The client waits (ZVFS_TIMEOUT_MS, 3 s) for a place.
  EXPECT_EQ(ipc::null_request(), 0);
  for (int s : silent) {
    pollfd p{s, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 10000), 1);  // closed by the daemon: end of file
    char c;
    EXPECT_EQ(read(s, &c, 1), 0);
    close(s);
  }
  EXPECT_GE(d_->ctx().bad_requests.load(), 8u);
}

// Sends `op` with `body` on a fresh connection and returns the reply's status (or -errno).
int32_t first_reply_status(const std::string& sock, ipc::Op op, const void* body, uint32_t len) {
  int s = ipc::sock_connect(sock.c_str());
  if (s < 0) return s;
  alignas(8) uint8_t out[sizeof(ipc::MsgHeader) + 64];
  size_t n = ipc::encode_message(static_cast<uint16_t>(op), 7, 0, body, len, out, sizeof out);
  int r = ipc::sock_send(s, out, n, -1);
  std::vector<uint8_t> in(sizeof(ipc::MsgHeader) + ipc::kMaxSocketPayload);
  size_t got = 0;
  int fd = -1;
  if (r == 0) r = ipc::sock_recv(s, in.data(), in.size(), &got, &fd, 5000);
  if (fd >= 0) close(fd);
  close(s);
  if (r < 0) return r;
  ipc::MsgHeader h;
  if (got < sizeof h) return -ECONNRESET;
  memcpy(&h, in.data(), sizeof h);
  if (h.opcode != (static_cast<uint16_t>(op) | ipc::kReplyBit) || h.request_id != 7) return -EPROTO;
  return h.status;
}

int32_t stats_status(const std::string& sock) {
  return first_reply_status(sock, ipc::Op::kStats, nullptr, 0);
}

// One uid may hold at most --max-sessions-per-user connections; the next ones get EUSERS in
// reply to their first message (hello or admin), other uids are not affected, and a place
// freed is a place taken again.
TEST_F(SessionTest, PerUserSessionLimitRefusesWithEusers) {
  restart([](daemon::Options& o) { o.max_sessions_per_user = 3; });
  // Three connections of this uid (accepted in order, so they are sessions before the fourth).
  std::vector<int> held = connect_silently(3);
  EXPECT_EQ(stats_status(sock_), -EUSERS);
  ipc::HelloReq hello;
  hello.pid = static_cast<uint32_t>(getpid());
  EXPECT_EQ(first_reply_status(sock_, ipc::Op::kHello, &hello, sizeof hello), -EUSERS);
  EXPECT_EQ(d_->ctx().sessions_total.load(), 3u);

  if (getuid() == 0) {  // another uid still gets in
    ASSERT_EQ(chmod(dir_.c_str(), 0711), 0);
    pid_t kid = fork();
    ASSERT_GE(kid, 0);
    if (kid == 0) {
      if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
      _exit(stats_status(sock_) == 0 ? 0 : 1);
    }
    int st = 0;
    ASSERT_EQ(waitpid(kid, &st, 0), kid);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "status " << st;
    EXPECT_EQ(chmod(dir_.c_str(), 0700), 0);
  }

  // A place freed (the daemon sees the connection end) can be taken again.
  close(held.back());
  held.pop_back();
  int32_t r = -EUSERS;
  for (int i = 0; i < 500 && r == -EUSERS; ++i) {
    r = stats_status(sock_);
    if (r == -EUSERS) usleep(10000);
  }
  EXPECT_EQ(r, 0);
  for (int s : held) close(s);
}

// A refused connection that never sends anything does not stay open.
TEST_F(SessionTest, SilentRefusedConnectionIsClosed) {
  restart([](daemon::Options& o) {
    o.max_sessions_per_user = 1;
    o.handshake_ms = 200;
  });
  for (int s : connect_silently(2)) {
    pollfd p{s, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 10000), 1);  // closed by the daemon: end of file
    char c;
    EXPECT_EQ(read(s, &c, 1), 0);
    close(s);
  }
  EXPECT_EQ(d_->ctx().sessions_total.load(), 1u);  // the second was never a session
}

// 0: no per-user limit (the global --max-sessions still applies).
TEST_F(SessionTest, PerUserSessionLimitZeroMeansNone) {
  restart([](daemon::Options& o) { o.max_sessions_per_user = 0; });
  EXPECT_EQ(daemon::Options{}.max_sessions_per_user, 256u);  // the default is a limit
  std::vector<int> held = connect_silently(300);
  EXPECT_EQ(stats_status(sock_), 0);
  for (int s : held) close(s);
}

// A library of another session version (another slot layout) is refused at the hello, with a
// status it reports at once; admin requests, which open no session, still work.
TEST_F(SessionTest, HelloOfAnotherSessionVersionIsRefused) {
  for (uint32_t v : {ipc::kSessionVersion - 1, ipc::kSessionVersion + 1}) {
    int s = ipc::sock_connect(sock_.c_str());
    ASSERT_GE(s, 0);
    uint8_t out[64], in[64];
    ipc::HelloReq req;
    req.client_version = v;
    size_t n = ipc::encode_message(static_cast<uint16_t>(ipc::Op::kHello), 1, 0, &req, sizeof req,
                                   out, sizeof out);
    ASSERT_EQ(ipc::sock_send(s, out, n, -1), 0);
    size_t got = 0;
    int memfd = -1;
    ASSERT_EQ(ipc::sock_recv(s, in, sizeof in, &got, &memfd, 3000), 0);
    EXPECT_EQ(memfd, -1);
    ASSERT_GE(got, sizeof(ipc::MsgHeader));
    EXPECT_EQ(reinterpret_cast<ipc::MsgHeader*>(in)->status, -EPROTONOSUPPORT) << v;
    close(s);
  }
  EXPECT_EQ(stats_status(sock_), 0);
}

TEST_F(SessionTest, HostileSlotRequestsGetErrors) {
  // A client that speaks the handshake and then writes garbage into its slots.
  int s = ipc::sock_connect(sock_.c_str());
  ASSERT_GE(s, 0);
  uint8_t out[64], in[64];
  ipc::HelloReq req;
  size_t n = ipc::encode_message(static_cast<uint16_t>(ipc::Op::kHello), 1, 0, &req, sizeof req,
                                 out, sizeof out);
  ASSERT_EQ(ipc::sock_send(s, out, n, -1), 0);
  size_t got;
  int memfd;
  ASSERT_EQ(ipc::sock_recv(s, in, sizeof in, &got, &memfd, 3000), 0);
  ASSERT_GE(memfd, 0);
  ipc::HelloRep rep;
  memcpy(&rep, in + sizeof(ipc::MsgHeader), sizeof rep);
  ipc::Region rg;
  ASSERT_EQ(rg.attach(memfd, rep.slot_count, rep.slot_data_bytes, rep.region_bytes), 0);
  close(memfd);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 300; ++i) {
    ipc::Slot* sl = rg.slot(static_cast<uint32_t>(i) % rg.slot_count());
    ipc::MsgHeader hd;
    hd.opcode = static_cast<uint16_t>(rng() % 30);
    hd.payload_len = i % 4 ? sizeof(ipc::IoReq) : static_cast<uint32_t>(rng());
    // Ids as random as the rest, but new for the slot (the last one is in `done`), never 0.
    uint32_t id = static_cast<uint32_t>(rng()) | 1;
    if (id == sl->reply.done.load()) id += 2;
    hd.request_id = (rng() << 32) | id;
    sl->request.hdr = hd;
    sl->request.req.handle = static_cast<uint32_t>(rng() % 4 ? rng() : 0);
    sl->request.req.off = rng();
    sl->request.req.len = rng() % 3 ? rng() : rng() % 100;
    sl->request.req.arg = static_cast<int32_t>(rng());
    sl->request.state.store(ipc::kRequest);
    rg.header()->doorbell.fetch_add(1);
    ipc::futex_wake(&rg.header()->doorbell, 1);
    uint64_t t0 = ipc::now_ns();
    while (sl->reply.done.load() != id && ipc::now_ns() - t0 < 2000000000ull) usleep(10);
    ASSERT_EQ(sl->reply.done.load(), id) << i;
    EXPECT_EQ(sl->request.state.load(), ipc::kReply) << i;
    EXPECT_EQ(sl->reply.hdr.request_id, hd.request_id) << i;
    bool valid_null =
        hd.opcode == static_cast<uint16_t>(ipc::Op::kNull) && hd.payload_len == sizeof(ipc::IoReq);
    if (valid_null)
      EXPECT_EQ(sl->reply.hdr.status, 0);
    else
      EXPECT_LT(sl->reply.hdr.status, 0) << "op " << hd.opcode;  // no handle exists: an error
    sl->request.state.store(ipc::kFree);
  }
  close(s);
  // The daemon still serves a normal client.
  EXPECT_EQ(ipc::null_request(), 0);
}

}  // namespace
}  // namespace zvfs::testing
