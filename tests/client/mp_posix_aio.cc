// mp_posix_aio.cc — zvfs_mptest's POSIX AIO subcommand: glibc's aio_* on a ZVFS file (and a
// plain one beside it, in $ZVFS_TEST_OUTSIDE).
//
//   posix-aio FILE   aio_write/aio_read/aio_fsync served with ZVFS data (the placeholder stays
//                    empty), aio_error/aio_return/aio_suspend/aio_cancel on them, argument and
//                    completion errors, SIGEV_SIGNAL and SIGEV_THREAD notification, lio_listio
//                    mixing ZVFS and plain descriptors (LIO_WAIT and LIO_NOWAIT)
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "mp_check.h"
#include "mp_cmds.h"

namespace zvfs::test {
namespace {

std::atomic<int> g_signals{0};
std::atomic<int> g_signal_value{0};
std::atomic<int> g_signal_code{0};
std::atomic<int> g_thread_value{0};

void on_signal(int, siginfo_t* si, void*) {
  g_signal_code = si->si_code;
  g_signal_value = si->si_value.sival_int;
  g_signals++;
}

void on_complete(sigval v) {
  g_thread_value = v.sival_int;
}

aiocb make_cb(int fd, void* buf, size_t n, off_t off) {
  aiocb cb;
  memset(&cb, 0, sizeof cb);
  cb.aio_fildes = fd;
  cb.aio_buf = buf;
  cb.aio_nbytes = n;
  cb.aio_offset = off;
  cb.aio_sigevent.sigev_notify = SIGEV_NONE;
  return cb;
}

// The request's completion notification: SIGEV_SIGNAL (SIGUSR1) or SIGEV_THREAD (on_complete).
void notify_by(aiocb* cb, int how, int value) {
  cb->aio_sigevent.sigev_notify = how;
  cb->aio_sigevent.sigev_signo = SIGUSR1;
  cb->aio_sigevent.sigev_notify_function = on_complete;
  cb->aio_sigevent.sigev_value.sival_int = value;
}

// Waits up to 2 s for a notification counter to reach `n`.
void wait_for(const std::atomic<int>& v, int n) {
  for (int i = 0; i < 2000 && v.load() < n; ++i) usleep(1000);
}

// The kernel's view of the placeholder, past the library's stat hooks.
blkcnt_t placeholder_blocks(int fd) {
  struct stat st;
  CHECK(syscall(SYS_fstat, fd, &st) == 0);
  return st.st_blocks;
}

int cmd_posix_aio(const char* file) {
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  // Write, then read back, at an offset (the file grows through the hole).
  char data[] = "posix aio through zvfs";
  aiocb w = make_cb(fd, data, sizeof data, 8192);
  CHECK(aio_write(&w) == 0);
  const aiocb* list[1] = {&w};
  CHECK(aio_suspend(list, 1, nullptr) == 0);
  CHECK(aio_error(&w) == 0 && aio_return(&w) == static_cast<ssize_t>(sizeof data));
  char back[sizeof data] = {};
  aiocb r = make_cb(fd, back, sizeof back, 8192);
  CHECK(aio_read(&r) == 0);
  CHECK(aio_error(&r) == 0 && aio_return(&r) == static_cast<ssize_t>(sizeof data));
  CHECK(memcmp(back, data, sizeof data) == 0);
  char plain_read[sizeof data] = {};
  CHECK(pread(fd, plain_read, sizeof plain_read, 8192) == static_cast<ssize_t>(sizeof data));
  CHECK(memcmp(plain_read, data, sizeof data) == 0);
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && st.st_size == 8192 + static_cast<off_t>(sizeof data));
  CHECK(placeholder_blocks(fd) == 0);  // nothing reached the Linux file
  // Reads past the end: 0 bytes. A negative offset: the request fails with EINVAL.
  aiocb eof = make_cb(fd, back, sizeof back, 1 << 20);
  CHECK(aio_read(&eof) == 0 && aio_error(&eof) == 0 && aio_return(&eof) == 0);
  aiocb bad = make_cb(fd, back, sizeof back, -1);
  CHECK(aio_read(&bad) == 0 && aio_error(&bad) == EINVAL && aio_return(&bad) == -1);
  aiocb prio = make_cb(fd, back, sizeof back, 0);
  prio.aio_reqprio = -1;
  errno = 0;
  CHECK(aio_read(&prio) == -1 && errno == EINVAL);
  // A read-only descriptor cannot be written: EBADF, as pwrite says.
  int ro = open(file, O_RDONLY);
  CHECK(ro >= 0);
  aiocb rw = make_cb(ro, data, sizeof data, 0);
  CHECK(aio_write(&rw) == 0 && aio_error(&rw) == EBADF);
  CHECK(close(ro) == 0);
  // fsync.
  aiocb f = make_cb(fd, nullptr, 0, 0);
  CHECK(aio_fsync(O_DSYNC, &f) == 0 && aio_error(&f) == 0 && aio_return(&f) == 0);
  CHECK(aio_fsync(O_SYNC, &f) == 0 && aio_error(&f) == 0);
  errno = 0;
  CHECK(aio_fsync(12345, &f) == -1 && errno == EINVAL);
  // Nothing is queued for the descriptor: cancel finds it all done.
  CHECK(aio_cancel(fd, &w) == AIO_ALLDONE);
  CHECK(aio_cancel(fd, nullptr) == AIO_ALLDONE);

  // Completion signal, with SI_ASYNCIO and the request's value.
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO;
  CHECK(sigaction(SIGUSR1, &sa, nullptr) == 0);
  aiocb s = make_cb(fd, data, 4, 0);
  notify_by(&s, SIGEV_SIGNAL, 4242);
  CHECK(aio_write(&s) == 0);
  wait_for(g_signals, 1);
  CHECK(g_signals == 1 && g_signal_value == 4242 && g_signal_code == SI_ASYNCIO);
  // Completion thread.
  aiocb t = make_cb(fd, back, 4, 0);
  notify_by(&t, SIGEV_THREAD, 777);
  CHECK(aio_read(&t) == 0);
  wait_for(g_thread_value, 777);
  CHECK(g_thread_value == 777 && memcmp(back, data, 4) == 0);

  // lio_listio mixing a ZVFS write, a plain write and a no-op; then reads of both.
  const char* dir = getenv("ZVFS_TEST_OUTSIDE");
  CHECK(dir != nullptr);
  std::string opath = std::string(dir) + "/posix-aio-plain";
  int plain = open(opath.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(plain >= 0);
  char zdata[] = "lio zvfs", pdata[] = "lio plain";
  aiocb lz = make_cb(fd, zdata, sizeof zdata, 100);
  lz.aio_lio_opcode = LIO_WRITE;
  aiocb lp = make_cb(plain, pdata, sizeof pdata, 0);
  lp.aio_lio_opcode = LIO_WRITE;
  aiocb ln = make_cb(fd, nullptr, 0, 0);
  ln.aio_lio_opcode = LIO_NOP;
  aiocb* batch[4] = {&lz, nullptr, &lp, &ln};
  CHECK(lio_listio(LIO_WAIT, batch, 4, nullptr) == 0);
  CHECK(aio_error(&lz) == 0 && aio_return(&lz) == static_cast<ssize_t>(sizeof zdata));
  CHECK(aio_error(&lp) == 0 && aio_return(&lp) == static_cast<ssize_t>(sizeof pdata));
  char zb[sizeof zdata], pb[sizeof pdata];
  CHECK(pread(fd, zb, sizeof zb, 100) == static_cast<ssize_t>(sizeof zb));
  CHECK(pread(plain, pb, sizeof pb, 0) == static_cast<ssize_t>(sizeof pb));
  CHECK(memcmp(zb, zdata, sizeof zb) == 0 && memcmp(pb, pdata, sizeof pb) == 0);
  // LIO_NOWAIT of ZVFS entries only: the list's signal comes from the library.
  char r1[4], r2[4];
  aiocb a1 = make_cb(fd, r1, 4, 100), a2 = make_cb(fd, r2, 4, 8192);
  a1.aio_lio_opcode = a2.aio_lio_opcode = LIO_READ;
  aiocb* reads[2] = {&a1, &a2};
  sigevent all;
  memset(&all, 0, sizeof all);
  all.sigev_notify = SIGEV_SIGNAL;
  all.sigev_signo = SIGUSR1;
  all.sigev_value.sival_int = 99;
  CHECK(lio_listio(LIO_NOWAIT, reads, 2, &all) == 0);
  const aiocb* both[2] = {&a1, &a2};
  CHECK(aio_suspend(both, 2, nullptr) == 0);
  CHECK(aio_return(&a1) == 4 && memcmp(r1, zdata, 4) == 0);
  CHECK(aio_return(&a2) == 4 && memcmp(r2, data, 4) == 0);
  wait_for(g_signals, 2);
  CHECK(g_signals == 2 && g_signal_value == 99);
  // LIO_WAIT with a failing ZVFS entry: -1/EIO, the entry's own error says why.
  aiocb neg = make_cb(fd, r1, 4, -5);
  neg.aio_lio_opcode = LIO_READ;
  aiocb* failing[1] = {&neg};
  errno = 0;
  CHECK(lio_listio(LIO_WAIT, failing, 1, nullptr) == -1 && errno == EIO);
  CHECK(aio_error(&neg) == EINVAL);
  CHECK(placeholder_blocks(fd) == 0);
  CHECK(close(plain) == 0 && unlink(opath.c_str()) == 0);
  CHECK(close(fd) == 0);
  return 0;
}

}  // namespace

int run_posix_aio_command(const std::string& c, int, char** argv) {
  if (c == "posix-aio") return cmd_posix_aio(argv[2]);
  return -1;
}

}  // namespace zvfs::test
