// mp_aio.cc — zvfs_mptest's libaio subcommands: a program linked with libaio, as applications
// are, using a ZVFS file (and a plain one beside it, in $ZVFS_TEST_OUTSIDE).
//
//   aio-rw FILE        io_queue_init; PWRITE/PREAD/PWRITEV/PREADV/FSYNC/FDSYNC; data checked
//                      with plain reads; submission errors (EBADF) and completion errors
//                      (EINVAL); libaio's LIBAIO_0.1 io_getevents
//   aio-check FILE N   (a new process) FILE holds pattern bytes [0, N), read without libaio
//   aio-flags FILE     O_DIRECT (alignment), O_APPEND, RWF_* flags of the iocb
//   aio-mixed FILE     batches mixing ZVFS and plain descriptors; partial failures
//   aio-eventfd FILE   IOCB_FLAG_RESFD: one eventfd count per completion
//   aio-wait FILE      io_getevents min_nr/timeout; a thread already waiting is woken by a
//                      ZVFS completion; io_pgetevents
//   aio-full FILE      nr_events bounds the queue (EAGAIN); io_cancel; io_destroy; a forked
//                      child; contexts created and destroyed one after another
#include <fcntl.h>
#include <libaio.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "mp_check.h"
#include "mp_cmds.h"

// What a program linked against libaio before 0.3 calls: the LIBAIO_0.1 io_getevents, whose
// signature differs (no min_nr). libaio's definition serves it (and calls the current one).
extern "C" int io_getevents_0_1(io_context_t ctx, long nr, struct io_event* events,
                                const struct timespec* timeout);
__asm__(".symver io_getevents_0_1, io_getevents@LIBAIO_0.1");

namespace zvfs::test {
namespace {

char pattern_byte(size_t i) {
  return static_cast<char>(i * 7 + i / 4096 + 1);
}
std::string pattern(size_t from, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = pattern_byte(from + i);
  return s;
}

// The completion of `cb` among ev[0, n).
const io_event* event_of(const io_event* ev, int n, const iocb* cb) {
  for (int i = 0; i < n; ++i)
    if (ev[i].obj == cb) return &ev[i];
  return nullptr;
}

// Submits one iocb and waits for its completion; returns res.
long one(io_context_t ctx, iocb* cb) {
  iocb* list[1] = {cb};
  int r = io_submit(ctx, 1, list);
  if (r != 1) return 1000000 + r;
  io_event ev;
  CHECK(io_getevents(ctx, 1, 1, &ev, nullptr) == 1);
  CHECK(ev.obj == cb);
  return static_cast<long>(ev.res);
}

// A fresh context of nr_events and FILE created empty (with extra open flags).
io_context_t fresh(const char* file, int nr, int extra_flags, int* fd) {
  io_context_t ctx = nullptr;
  CHECK(io_setup(nr, &ctx) == 0);
  *fd = open(file, O_RDWR | O_CREAT | O_TRUNC | extra_flags, 0644);
  CHECK(*fd >= 0);
  return ctx;
}

std::string outside(const char* name) {
  const char* dir = getenv("ZVFS_TEST_OUTSIDE");
  CHECK(dir != nullptr);
  return std::string(dir) + "/" + name;
}

int cmd_rw(const char* file) {
  io_context_t ctx = nullptr;
  CHECK(io_queue_init(16, &ctx) == 0);  // libaio calls io_setup through its PLT
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  constexpr size_t kPiece = 16384;
  std::string data = pattern(0, 4 * kPiece);
  iocb cbs[4];
  iocb* list[4];
  for (int i = 0; i < 4; ++i) {
    io_prep_pwrite(&cbs[i], fd, data.data() + i * kPiece, kPiece,
                   static_cast<long long>(i * kPiece));
    cbs[i].data = reinterpret_cast<void*>(static_cast<uintptr_t>(100 + i));
    list[i] = &cbs[i];
  }
  CHECK(io_submit(ctx, 4, list) == 4);
  io_event ev[8];
  CHECK(io_getevents(ctx, 4, 8, ev, nullptr) == 4);
  for (int i = 0; i < 4; ++i) {
    const io_event* e = event_of(ev, 4, &cbs[i]);
    CHECK(e != nullptr && e->res == kPiece && e->res2 == 0);
    CHECK(e->data == reinterpret_cast<void*>(static_cast<uintptr_t>(100 + i)));
  }
  // Durability requests complete with 0.
  io_prep_fsync(&cbs[0], fd);
  CHECK(one(ctx, &cbs[0]) == 0);
  io_prep_fdsync(&cbs[0], fd);
  CHECK(one(ctx, &cbs[0]) == 0);
  // The data is the file's: a plain read and the size say so.
  std::string back(data.size(), '\0');
  CHECK(pread(fd, back.data(), back.size(), 0) == static_cast<ssize_t>(back.size()));
  CHECK(back == data);
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && static_cast<size_t>(st.st_size) == data.size());
  // PREAD through libaio, short at EOF.
  std::string rd(data.size() + 100, 'x');
  io_prep_pread(&cbs[1], fd, rd.data(), rd.size(), 0);
  CHECK(one(ctx, &cbs[1]) == static_cast<long>(data.size()));
  CHECK(memcmp(rd.data(), data.data(), data.size()) == 0);
  io_prep_pread(&cbs[1], fd, rd.data(), 10, static_cast<long long>(data.size() + 5));
  CHECK(one(ctx, &cbs[1]) == 0);  // past EOF
  // PWRITEV extends the file; PREADV reads pieces back.
  std::string more = pattern(data.size(), 300);
  iovec wv[2] = {{more.data(), 100}, {more.data() + 100, 200}};
  io_prep_pwritev(&cbs[2], fd, wv, 2, static_cast<long long>(data.size()));
  CHECK(one(ctx, &cbs[2]) == 300);
  char a[10], b[20];
  iovec rv[2] = {{a, sizeof a}, {b, sizeof b}};
  io_prep_preadv(&cbs[3], fd, rv, 2, 5);
  CHECK(one(ctx, &cbs[3]) == 30);
  std::string want = pattern(5, 30);
  CHECK(memcmp(a, want.data(), 10) == 0 && memcmp(b, want.data() + 10, 20) == 0);
  // Submission errors end the batch (EBADF: a read on a write-only descriptor); errors of the
  // transfer itself arrive in the completion (EINVAL: a negative offset).
  int wo = open(file, O_WRONLY);
  CHECK(wo >= 0);
  io_prep_pread(&cbs[0], wo, rd.data(), 10, 0);
  CHECK(io_submit(ctx, 1, list) == -EBADF);
  io_prep_pread(&cbs[0], fd, rd.data(), 10, -4096);
  CHECK(one(ctx, &cbs[0]) == -EINVAL);
  io_prep_fsync(&cbs[0], fd);
  cbs[0].u.c.offset = 4096;  // fsync takes no range
  CHECK(io_submit(ctx, 1, list) == -EINVAL);
  CHECK(close(wo) == 0);
  // The LIBAIO_0.1 form reaches libaio's definition, not the library's current-form hook.
  io_prep_pwrite(&cbs[0], fd, data.data(), 10, 0);
  CHECK(io_submit(ctx, 1, list) == 1);
  CHECK(io_getevents_0_1(ctx, 4, ev, nullptr) == 1 && ev[0].obj == &cbs[0] && ev[0].res == 10);
  CHECK(close(fd) == 0);
  CHECK(io_queue_release(ctx) == 0);
  return 0;
}

int cmd_check(const char* file, size_t n) {
  int fd = open(file, O_RDONLY);
  CHECK(fd >= 0);
  std::string back(n + 10, '\0');
  CHECK(read(fd, back.data(), back.size()) == static_cast<ssize_t>(n));
  back.resize(n);
  CHECK(back == pattern(0, n));
  CHECK(close(fd) == 0);
  return 0;
}

int cmd_flags(const char* file) {
  int d = -1;
  io_context_t ctx = fresh(file, 8, O_DIRECT, &d);
  void* mem = nullptr;
  CHECK(posix_memalign(&mem, 4096, 16384) == 0);
  char* buf = static_cast<char*>(mem);
  std::string data = pattern(0, 8192);
  memcpy(buf, data.data(), data.size());
  iocb cb;
  io_prep_pwrite(&cb, d, buf, 8192, 0);
  CHECK(one(ctx, &cb) == 8192);
  memset(buf, 0, 16384);
  io_prep_pread(&cb, d, buf, 8192, 0);
  CHECK(one(ctx, &cb) == 8192);
  CHECK(memcmp(buf, data.data(), 8192) == 0);
  io_prep_pread(&cb, d, buf + 1, 4096, 0);  // O_DIRECT: misaligned, as the kernel answers
  CHECK(one(ctx, &cb) == -EINVAL);
  io_prep_pwrite(&cb, d, buf, 4096, 100);
  CHECK(one(ctx, &cb) == -EINVAL);
  // O_APPEND: the write goes to the end whatever the iocb's offset, as pwrite on Linux.
  int ap = open(file, O_WRONLY | O_APPEND);
  CHECK(ap >= 0);
  io_prep_pwrite(&cb, ap, const_cast<char*>("tail"), 4, 0);
  CHECK(one(ctx, &cb) == 4);
  int plain = open(file, O_RDONLY);
  CHECK(plain >= 0);
  struct stat st;
  CHECK(fstat(plain, &st) == 0 && st.st_size == 8196);
  char t[4];
  CHECK(pread(plain, t, 4, 8192) == 4 && memcmp(t, "tail", 4) == 0);
  CHECK(pread(plain, t, 4, 0) == 4 && memcmp(t, data.data(), 4) == 0);
  // The iocb's RWF_* flags: RWF_APPEND on a plain descriptor appends, RWF_DSYNC syncs; an
  // unknown flag is refused at submission.
  int rw = open(file, O_RDWR);
  CHECK(rw >= 0);
  io_prep_pwrite(&cb, rw, const_cast<char*>("more"), 4, 0);
  cb.aio_rw_flags = RWF_APPEND | RWF_DSYNC;
  CHECK(one(ctx, &cb) == 4);
  CHECK(fstat(plain, &st) == 0 && st.st_size == 8200);
  CHECK(pread(plain, t, 4, 8196) == 4 && memcmp(t, "more", 4) == 0);
  io_prep_pwrite(&cb, rw, const_cast<char*>("bad!"), 4, 0);
  cb.aio_rw_flags = 1 << 30;
  iocb* list[1] = {&cb};
  CHECK(io_submit(ctx, 1, list) == -EOPNOTSUPP);
  CHECK(pread(plain, t, 4, 0) == 4 && memcmp(t, data.data(), 4) == 0);
  free(mem);
  CHECK(close(d) == 0 && close(ap) == 0 && close(plain) == 0 && close(rw) == 0);
  CHECK(io_destroy(ctx) == 0);
  return 0;
}

int cmd_mixed(const char* file) {
  int z = -1;
  io_context_t ctx = fresh(file, 32, 0, &z);
  std::string opath = outside("aio-plain");
  int p = open(opath.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(p >= 0);
  std::string za = pattern(0, 4096), zb = pattern(4096, 4096), pa = pattern(100, 5000);
  // ZVFS, plain, ZVFS, plain (a read of what the plain write before it... may not have landed,
  // so a read of an existing range of a second plain file).
  std::string other = outside("aio-other");
  int q = open(other.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(q >= 0 && pwrite(q, "0123456789", 10, 0) == 10);
  char qbuf[10];
  iocb cbs[4];
  io_prep_pwrite(&cbs[0], z, za.data(), za.size(), 0);
  io_prep_pwrite(&cbs[1], p, pa.data(), pa.size(), 0);
  io_prep_pwrite(&cbs[2], z, zb.data(), zb.size(), 4096);
  io_prep_pread(&cbs[3], q, qbuf, sizeof qbuf, 0);
  iocb* list[4] = {&cbs[0], &cbs[1], &cbs[2], &cbs[3]};
  CHECK(io_submit(ctx, 4, list) == 4);
  io_event ev[8];
  int got = 0;
  struct timespec ts = {30, 0};
  while (got < 4) {
    int r = io_getevents(ctx, 4 - got, 8 - got, ev + got, &ts);
    CHECK(r > 0);
    got += r;
  }
  CHECK(got == 4);
  CHECK(event_of(ev, got, &cbs[0])->res == 4096 && event_of(ev, got, &cbs[2])->res == 4096);
  CHECK(event_of(ev, got, &cbs[1])->res == 5000 && event_of(ev, got, &cbs[3])->res == 10);
  CHECK(memcmp(qbuf, "0123456789", 10) == 0);
  std::string back(8192, '\0');
  CHECK(pread(z, back.data(), back.size(), 0) == 8192 && back == za + zb);
  back.assign(5000, '\0');
  CHECK(pread(p, back.data(), back.size(), 0) == 5000 && back == pa);
  // Partial failures: the batch stops at the first iocb that cannot be submitted.
  io_prep_pwrite(&cbs[0], z, za.data(), 10, 0);
  io_prep_pwrite(&cbs[1], z, za.data(), 10, 0);
  cbs[1].aio_lio_opcode = IO_CMD_NOOP;  // not an operation on a file
  CHECK(io_submit(ctx, 2, list) == 1);
  CHECK(io_getevents(ctx, 1, 8, ev, &ts) == 1 && ev[0].obj == &cbs[0] && ev[0].res == 10);
  CHECK(io_submit(ctx, 1, list + 1) == -EINVAL);
  io_prep_pwrite(&cbs[0], p, pa.data(), 10, 0);  // plain first, then a ZVFS iocb refused
  io_prep_pwrite(&cbs[1], z, za.data(), 10, 0);
  cbs[1].u.c.__pad3 = 1;  // the reserved field
  CHECK(io_submit(ctx, 2, list) == 1);
  CHECK(io_getevents(ctx, 1, 8, ev, &ts) == 1 && ev[0].obj == &cbs[0] && ev[0].res == 10);
  // A ZVFS iocb, then one on a descriptor that does not exist (the kernel refuses it).
  io_prep_pwrite(&cbs[0], z, za.data(), 10, 0);
  io_prep_pwrite(&cbs[1], 1000, pa.data(), 10, 0);
  CHECK(io_submit(ctx, 2, list) == 1);
  CHECK(io_getevents(ctx, 1, 8, ev, &ts) == 1 && ev[0].obj == &cbs[0]);
  // The refused first iocb submits nothing: the ZVFS write after it never happens.
  std::string x(10, 'X');
  io_prep_pwrite(&cbs[0], 1000, pa.data(), 10, 0);
  io_prep_pwrite(&cbs[1], z, x.data(), 10, 0);
  CHECK(io_submit(ctx, 2, list) == -EBADF);
  back.assign(10, '\0');
  CHECK(pread(z, back.data(), 10, 0) == 10 && back == za.substr(0, 10));
  struct timespec zero = {0, 0};
  CHECK(io_getevents(ctx, 0, 8, ev, &zero) == 0);  // nothing left over
  CHECK(close(z) == 0 && close(p) == 0 && close(q) == 0);
  CHECK(io_destroy(ctx) == 0);
  return 0;
}

int cmd_eventfd(const char* file) {
  int z = -1;
  io_context_t ctx = fresh(file, 8, 0, &z);
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  CHECK(efd >= 0);
  std::string data = pattern(0, 3000);
  iocb cbs[3];
  iocb* list[3];
  for (int i = 0; i < 3; ++i) {
    io_prep_pwrite(&cbs[i], z, data.data() + i * 1000, 1000, i * 1000);
    io_set_eventfd(&cbs[i], efd);
    list[i] = &cbs[i];
  }
  CHECK(io_submit(ctx, 3, list) == 3);
  uint64_t n = 0;
  CHECK(read(efd, &n, sizeof n) == sizeof n && n == 3);
  io_event ev[4];
  CHECK(io_getevents(ctx, 3, 4, ev, nullptr) == 3);
  std::string back(data.size(), '\0');
  CHECK(pread(z, back.data(), back.size(), 0) == 3000 && back == data);
  // The kernel's checks of aio_resfd: not an eventfd, not a descriptor.
  io_set_eventfd(&cbs[0], z);
  CHECK(io_submit(ctx, 1, list) == -EINVAL);
  io_set_eventfd(&cbs[0], 1000);
  CHECK(io_submit(ctx, 1, list) == -EBADF);
  CHECK(read(efd, &n, sizeof n) == -1 && errno == EAGAIN);  // nothing signalled for them
  CHECK(close(efd) == 0 && close(z) == 0);
  CHECK(io_destroy(ctx) == 0);
  return 0;
}

// The thread's state in /proc: waiting in the io_getevents system call?
bool waiting_in_getevents(pid_t tid) {
  std::string path = "/proc/self/task/" + std::to_string(tid) + "/syscall";
  FILE* f = fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  long nr = -1;
  bool ok = fscanf(f, "%ld", &nr) == 1;
  fclose(f);
  return ok && (nr == SYS_io_getevents || nr == SYS_io_pgetevents);
}

int cmd_wait(const char* file) {
  int z = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(z >= 0);
  io_event ev[4];
  // A thread already waiting on a fresh context is woken by the first ZVFS completion.
  {
    io_context_t ctx = nullptr;
    CHECK(io_setup(8, &ctx) == 0);
    std::atomic<pid_t> tid{0};
    int got = -1;
    io_event tev;
    std::thread waiter([&] {
      tid = static_cast<pid_t>(syscall(SYS_gettid));
      got = io_getevents(ctx, 1, 1, &tev, nullptr);  // no timeout: only the completion ends it
    });
    bool waiting = false;
    for (int i = 0; i < 20000 && !waiting; ++i) {
      waiting = tid != 0 && waiting_in_getevents(tid);
      if (!waiting) usleep(1000);
    }
    CHECK(waiting);
    iocb cb;
    io_prep_pwrite(&cb, z, const_cast<char*>("wake"), 4, 0);
    iocb* list[1] = {&cb};
    CHECK(io_submit(ctx, 1, list) == 1);
    waiter.join();
    CHECK(got == 1 && tev.obj == &cb && tev.res == 4);
    char w[4];
    CHECK(pread(z, w, 4, 0) == 4 && memcmp(w, "wake", 4) == 0);
    struct timespec zero = {0, 0};
    CHECK(io_getevents(ctx, 0, 4, ev, &zero) == 0);  // the wake-up left no event behind
    CHECK(io_destroy(ctx) == 0);
  }
  // Two threads waiting for one completion each; one batch completes two: both wake.
  {
    io_context_t ctx = nullptr;
    CHECK(io_setup(8, &ctx) == 0);
    std::atomic<pid_t> tids[2] = {0, 0};
    int got[2] = {-1, -1};
    io_event tev[2];
    std::vector<std::thread> ws;
    for (int i = 0; i < 2; ++i)
      ws.emplace_back([&, i] {
        tids[i] = static_cast<pid_t>(syscall(SYS_gettid));
        got[i] = io_getevents(ctx, 1, 1, &tev[i], nullptr);
      });
    bool waiting = false;
    for (int i = 0; i < 20000 && !waiting; ++i) {
      waiting = tids[0] != 0 && tids[1] != 0 && waiting_in_getevents(tids[0]) &&
                waiting_in_getevents(tids[1]);
      if (!waiting) usleep(1000);
    }
    CHECK(waiting);
    iocb cbs[2];
    io_prep_pwrite(&cbs[0], z, const_cast<char*>("AB"), 2, 0);
    io_prep_pwrite(&cbs[1], z, const_cast<char*>("CD"), 2, 2);
    iocb* list[2] = {&cbs[0], &cbs[1]};
    CHECK(io_submit(ctx, 2, list) == 2);
    for (auto& w : ws) w.join();
    CHECK(got[0] == 1 && got[1] == 1 && tev[0].obj != tev[1].obj);
    CHECK(io_destroy(ctx) == 0);
  }
  io_context_t ctx = nullptr;
  CHECK(io_setup(8, &ctx) == 0);
  iocb cb;
  io_prep_pwrite(&cb, z, const_cast<char*>("abcd"), 4, 0);
  iocb* list[1] = {&cb};
  // min_nr larger than what will ever complete: the timeout ends the wait with what there is.
  CHECK(io_submit(ctx, 1, list) == 1);
  struct timespec short_wait = {0, 50 * 1000 * 1000};
  CHECK(io_getevents(ctx, 2, 4, ev, &short_wait) == 1 && ev[0].obj == &cb);
  struct timespec zero = {0, 0};
  CHECK(io_getevents(ctx, 1, 4, ev, &zero) == 0);
  CHECK(io_submit(ctx, 1, list) == 1);
  CHECK(io_getevents(ctx, 2, 1, ev, &zero) == -EINVAL);  // min_nr > nr
  // min_nr 0, nr 0: nothing taken.
  CHECK(io_getevents(ctx, 0, 0, ev, &zero) == 0);
  // io_pgetevents returns queued completions too.
  sigset_t mask;
  sigemptyset(&mask);
  CHECK(io_pgetevents(ctx, 1, 4, ev, nullptr, &mask) == 1 && ev[0].obj == &cb && ev[0].res == 4);
  CHECK(io_destroy(ctx) == 0);
  CHECK(close(z) == 0);
  return 0;
}

int cmd_full(const char* file) {
  int z = -1;
  io_context_t ctx = fresh(file, 4, 0, &z);
  iocb cbs[6];
  iocb* list[6];
  char c = 'q';
  for (int i = 0; i < 6; ++i) {
    io_prep_pwrite(&cbs[i], z, &c, 1, i);
    list[i] = &cbs[i];
  }
  CHECK(io_submit(ctx, 4, list) == 4);
  CHECK(io_submit(ctx, 1, list + 4) == -EAGAIN);  // four completions wait: the queue is full
  io_event ev[6];
  CHECK(io_getevents(ctx, 1, 1, ev, nullptr) == 1);
  CHECK(io_submit(ctx, 2, list + 4) == 1);  // room for one
  CHECK(io_getevents(ctx, 4, 6, ev, nullptr) == 4);
  CHECK(io_submit(ctx, 2, list + 4) == 2);
  // A completed iocb cannot be cancelled.
  io_event res;
  CHECK(io_cancel(ctx, &cbs[4], &res) == -EINVAL);
  CHECK(io_getevents(ctx, 2, 6, ev, nullptr) == 2);
  struct stat st;
  CHECK(fstat(z, &st) == 0 && st.st_size == 6);
  // A forked child has none of its parent's contexts (the kernel's answer for an unknown one),
  // and its own work.
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    io_context_t mine = nullptr;
    bool ok = io_submit(ctx, 1, list) == -EINVAL && io_setup(2, &mine) == 0 &&
              io_submit(mine, 1, list) == 1 && io_getevents(mine, 1, 1, ev, nullptr) == 1 &&
              ev[0].obj == list[0] && ev[0].res == 1 && io_destroy(mine) == 0;
    _exit(ok ? 0 : 1);
  }
  int ws;
  CHECK(waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  CHECK(io_destroy(ctx) == 0);
  // The context is gone: what the kernel says for an unknown one.
  CHECK(io_submit(ctx, 1, list) == -EINVAL);
  // Contexts created and destroyed one after another (the kernel often hands the same address
  // out again): each starts with an empty queue.
  for (int i = 0; i < 40; ++i) {
    io_context_t c = nullptr;
    CHECK(io_setup(1, &c) == 0);
    CHECK(io_submit(c, 1, list) == 1);
    CHECK(io_getevents(c, 1, 1, ev, nullptr) == 1 && ev[0].obj == list[0]);
    CHECK(io_destroy(c) == 0);
  }
  CHECK(close(z) == 0);
  return 0;
}

}  // namespace

int run_aio_command(const std::string& c, int argc, char** argv) {
  const char* f = argv[2];
  if (c == "aio-rw") return cmd_rw(f);
  if (c == "aio-check" && argc == 4) return cmd_check(f, strtoul(argv[3], nullptr, 10));
  if (c == "aio-flags") return cmd_flags(f);
  if (c == "aio-mixed") return cmd_mixed(f);
  if (c == "aio-eventfd") return cmd_eventfd(f);
  if (c == "aio-wait") return cmd_wait(f);
  if (c == "aio-full") return cmd_full(f);
  return -1;
}

}  // namespace zvfs::test
