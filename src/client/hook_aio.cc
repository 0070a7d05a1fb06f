// hook_aio.cc — libaio on ZVFS descriptors, served in user space.
//
// A ZVFS file's descriptor is a placeholder: kernel AIO on it would read and write the empty
// Linux file. libaio's entry points are exported functions wrapping the system calls (and its
// io_queue_init/io_queue_release/io_queue_run call io_setup/io_destroy/io_getevents through
// its PLT), so these definitions, found first, see every call a libaio program makes:
//  - io_setup records the context and its nr_events (a fixed table, no allocation).
//  - io_submit walks the batch in order. A run of iocbs on other descriptors (or IOCB_CMD_POLL,
//    which the placeholder answers as the kernel answers any regular file) goes to the real
//    io_submit; an iocb on a ZVFS descriptor (PREAD, PWRITE, PREADV, PWRITEV, FSYNC, FDSYNC) is
//    validated as the kernel validates it at submission, performed synchronously through
//    file_ops (the fd's O_DIRECT/O_APPEND/O_SYNC flags and the iocb's RWF_* flags apply as for
//    preadv2/pwritev2), and its completion queued for the context (at most nr_events queued:
//    -EAGAIN beyond). The first failure ends the batch: the number submitted before it, or the
//    error if none, as the kernel returns. IOCB_FLAG_RESFD: 1 is added to the eventfd per
//    completion, after the completion is queued.
//  - io_getevents/io_pgetevents return queued completions first; with fewer than min_nr they
//    wait in the real call for the rest (honouring the timeout). A completion queued while a
//    thread waits there rings a doorbell: an IOCB_CMD_POLL on the ZVFS descriptor, which a
//    regular file completes at once, waking the waiter; its event is filtered out.
//  - io_cancel of a ZVFS iocb: it has completed, -EINVAL as the kernel says for one.
//  - io_destroy drops the context's queue.
// A context created while the library runs costs io_getevents a table lookup and a waiter count
// (unknown contexts only the lookup); io_submit costs one descriptor lookup per iocb. Contexts
// do not survive fork: the child's table starts empty.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "client/fd_table.h"
#include "client/file_ops.h"
#include "client/hook.h"
#include "client/prefix.h"
#include "client/real.h"
#include "client/zlog.h"

namespace zvfs::client {
namespace {

using SetupFn = int (*)(int, aio_context_t*);
using DestroyFn = int (*)(aio_context_t);
using SubmitFn = int (*)(aio_context_t, long, struct iocb**);
using CancelFn = int (*)(aio_context_t, struct iocb*, struct io_event*);
using GeteventsFn = int (*)(aio_context_t, long, long, struct io_event*, struct timespec*);
using PgeteventsFn = int (*)(aio_context_t, long, long, struct io_event*, struct timespec*,
                             sigset_t*);

// libaio's definitions, looked up on first use (nullptr: libaio is not loaded).
template <class F>
F next_fn(std::atomic<F>& slot, const char* name) {
  F f = slot.load(std::memory_order_acquire);
  if (f == nullptr) {
    f = reinterpret_cast<F>(resolve_next(name));
    slot.store(f, std::memory_order_release);
  }
  return f;
}
std::atomic<SetupFn> g_setup{nullptr};
std::atomic<DestroyFn> g_destroy{nullptr};
std::atomic<SubmitFn> g_submit{nullptr};
std::atomic<CancelFn> g_cancel{nullptr};
std::atomic<GeteventsFn> g_getevents{nullptr};
std::atomic<PgeteventsFn> g_pgetevents{nullptr};

int real_submit(aio_context_t ctx, long nr, struct iocb** iocbs) {
  SubmitFn f = next_fn(g_submit, "io_submit");
  return f == nullptr ? -ENOSYS : f(ctx, nr, iocbs);
}

// One context's user-space completion queue (a ring of `bound` events, allocated on the first
// ZVFS iocb). Slots are never freed: a thread racing io_destroy touches valid memory.
struct Ctx {
  std::atomic<uintptr_t> key{0};  // the context; 0 never used, kGone removed
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  unsigned bound = 0;    // nr_events of io_setup
  unsigned cap = 0;      // events allocated in ev
  unsigned head = 0;     // first queued event
  unsigned count = 0;    // queued events
  unsigned running = 0;  // ZVFS iocbs being performed (their queue places are reserved)
  struct io_event* ev = nullptr;
  std::atomic<unsigned> pending{0};  // == count, read without the lock
  std::atomic<int> waiters{0};       // threads in (or about to enter) the real getevents
  bool bell_out = false;             // the doorbell iocb is submitted and not yet reaped
  int last_fd = -1;                  // the ZVFS descriptor of the latest iocb
  struct iocb bell {};
};

constexpr unsigned kSlots = 1024;
constexpr uintptr_t kGone = ~uintptr_t{0};
constinit Ctx g_ctx[kSlots];
constinit pthread_mutex_t g_ctx_mu = PTHREAD_MUTEX_INITIALIZER;

unsigned home(uintptr_t key) {
  return static_cast<unsigned>(((key >> 12) * 0x9E3779B97F4A7C15ull) >> 40) % kSlots;
}

Ctx* find(aio_context_t ctx) {
  uintptr_t key = static_cast<uintptr_t>(ctx);
  if (key == 0 || key == kGone) return nullptr;
  unsigned h = home(key);
  for (unsigned i = 0; i < kSlots; ++i) {
    Ctx* c = &g_ctx[(h + i) % kSlots];
    uintptr_t k = c->key.load(std::memory_order_acquire);
    if (k == key) return c;
    if (k == 0) return nullptr;
  }
  return nullptr;
}

// Empties c's queue (c->mu held).
void reset_locked(Ctx* c, unsigned bound) {
  c->bound = bound;
  c->head = c->count = 0;
  c->pending.store(0);
  c->bell_out = false;
  c->last_fd = -1;
}

// Records ctx (or resets it if known: the kernel handed out the address again).
Ctx* add(aio_context_t ctx, unsigned bound) {
  uintptr_t key = static_cast<uintptr_t>(ctx);
  if (key == 0 || key == kGone) return nullptr;
  pthread_mutex_lock(&g_ctx_mu);
  Ctx* c = find(ctx);
  if (c == nullptr) {
    unsigned h = home(key);
    for (unsigned i = 0; i < kSlots && c == nullptr; ++i) {
      Ctx* s = &g_ctx[(h + i) % kSlots];
      uintptr_t k = s->key.load(std::memory_order_relaxed);
      if (k == 0 || k == kGone) c = s;
    }
  }
  if (c != nullptr) {
    pthread_mutex_lock(&c->mu);
    reset_locked(c, bound);
    pthread_mutex_unlock(&c->mu);
    c->key.store(key, std::memory_order_release);
  }
  pthread_mutex_unlock(&g_ctx_mu);
  if (c == nullptr) zlog("io_setup: more than %u AIO contexts; ZVFS iocbs refused", kSlots);
  return c;
}

void drop(aio_context_t ctx) {
  pthread_mutex_lock(&g_ctx_mu);
  if (Ctx* c = find(ctx)) {
    pthread_mutex_lock(&c->mu);
    reset_locked(c, 0);
    pthread_mutex_unlock(&c->mu);
    // A slot followed by an empty one ends no probe sequence: it becomes empty too (and so do
    // removed slots before it), so that removals do not lengthen later lookups.
    auto i = static_cast<unsigned>(c - g_ctx);
    if (g_ctx[(i + 1) % kSlots].key.load() != 0) {
      c->key.store(kGone, std::memory_order_release);
    } else {
      c->key.store(0, std::memory_order_release);
      for (unsigned k = (i + kSlots - 1) % kSlots; g_ctx[k].key.load() == kGone;
           k = (k + kSlots - 1) % kSlots)
        g_ctx[k].key.store(0, std::memory_order_release);
    }
  }
  pthread_mutex_unlock(&g_ctx_mu);
}

// The context of a ZVFS iocb: recorded by io_setup, or (created before the library started, or
// by a raw system call) checked with an empty real submission and recorded with the ring's size.
int ctx_for_submit(aio_context_t ctx, Ctx** out) {
  if (Ctx* c = find(ctx)) {
    *out = c;
    return 0;
  }
  int r = real_submit(ctx, 0, nullptr);
  if (r < 0) return r;
  struct Ring {
    unsigned id, nr, head, tail, magic;
  };
  const auto* ring = reinterpret_cast<const Ring*>(ctx);
  unsigned bound = ring->magic == 0xa10a10a1u ? ring->nr : 128;
  *out = add(ctx, bound);
  return *out != nullptr ? 0 : -EAGAIN;
}

// Does the placeholder of this iocb stand for a ZVFS file whose data we must move?
OpenFile* zvfs_iocb(const struct iocb* cb) {
  if (cb == nullptr || cb->aio_lio_opcode == IOCB_CMD_POLL) return nullptr;
  return fd_lookup(static_cast<int>(cb->aio_fildes));
}

// Is fd an eventfd (what the kernel demands of aio_resfd)? 0, or -EBADF / -EINVAL.
int check_eventfd(int fd) {
  char target[64];
  int saved = errno;
  ssize_t n = fd_kernel_name(fd, target, sizeof target);
  errno = saved;
  if (n < 0) return REAL(fcntl)(fd, F_GETFD) < 0 ? -EBADF : -EINVAL;
  return strcmp(target, "anon_inode:[eventfd]") == 0 ? 0 : -EINVAL;
}

// Submits the doorbell if a thread waits in the real getevents and none is out (c->mu held).
void ring_locked(Ctx* c, aio_context_t ctx, int fd) {
  if (c->bell_out || c->waiters.load() == 0 || fd < 0) return;
  memset(&c->bell, 0, sizeof c->bell);
  c->bell.aio_lio_opcode = IOCB_CMD_POLL;
  c->bell.aio_fildes = static_cast<uint32_t>(fd);
  c->bell.aio_buf = POLLIN | POLLOUT;
  struct iocb* one[1] = {&c->bell};
  int r = real_submit(ctx, 1, one);
  if (r == 1) {
    c->bell_out = true;
  } else {
    zlog("io_submit: cannot wake a thread waiting in io_getevents (%d)", r);
  }
}

// Performs one ZVFS iocb. Returns the completion's result in *res, or a submission error.
int perform(OpenFile* of, const struct iocb* cb, int64_t* res) {
  int fd = static_cast<int>(cb->aio_fildes);
  constexpr int kKnownRwf = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND;
  bool is_read = false;
  switch (cb->aio_lio_opcode) {
    case IOCB_CMD_PREAD:
    case IOCB_CMD_PREADV:
      is_read = true;
      [[fallthrough]];
    case IOCB_CMD_PWRITE:
    case IOCB_CMD_PWRITEV: {
      if ((cb->aio_rw_flags & ~static_cast<unsigned>(kKnownRwf)) != 0) return -EOPNOTSUPP;
      int saved = errno;
      int fl = REAL(fcntl)(fd, F_GETFL);
      errno = saved;
      if (fl < 0) return -EBADF;
      int acc = fl & O_ACCMODE;
      if (is_read ? acc == O_WRONLY : acc == O_RDONLY) return -EBADF;
      struct iovec one {
        reinterpret_cast<void*>(static_cast<uintptr_t>(cb->aio_buf)),
            static_cast<size_t>(cb->aio_nbytes)
      };
      const struct iovec* iov = &one;
      int cnt = 1;
      if (cb->aio_lio_opcode == IOCB_CMD_PREADV || cb->aio_lio_opcode == IOCB_CMD_PWRITEV) {
        if (cb->aio_nbytes > IOV_MAX) return -EINVAL;
        iov = reinterpret_cast<const struct iovec*>(static_cast<uintptr_t>(cb->aio_buf));
        cnt = static_cast<int>(cb->aio_nbytes);
        size_t total = 0;
        for (int i = 0; i < cnt; ++i) {
          if (iov[i].iov_len > static_cast<size_t>(SSIZE_MAX) - total) return -EINVAL;
          total += iov[i].iov_len;
        }
      }
      if (cb->aio_offset < 0) {  // the kernel's rw_verify_area, reported in the completion
        *res = -EINVAL;
        return 0;
      }
      auto off = static_cast<off_t>(cb->aio_offset);
      int flags = static_cast<int>(cb->aio_rw_flags);
      if (is_read) flags &= RWF_HIPRI | RWF_NOWAIT;  // the write-only flags mean nothing here
      *res = is_read ? zf_readv(of, fd, iov, cnt, off, flags)
                     : zf_writev(of, fd, iov, cnt, off, flags);
      return 0;
    }
    case IOCB_CMD_FSYNC:
    case IOCB_CMD_FDSYNC:
      if (cb->aio_buf != 0 || cb->aio_offset != 0 || cb->aio_nbytes != 0 || cb->aio_rw_flags != 0)
        return -EINVAL;
      *res = zf_sync(of, cb->aio_lio_opcode == IOCB_CMD_FDSYNC);
      return 0;
    default:
      return -EINVAL;
  }
}

// Submits one ZVFS iocb to context c: 0, or the error that ends the batch.
int submit_one(Ctx* c, aio_context_t ctx, OpenFile* of, struct iocb* cb) {
  if (cb->aio_reserved2 != 0) return -EINVAL;
  if (static_cast<int64_t>(cb->aio_nbytes) < 0) return -EINVAL;
  bool resfd = (cb->aio_flags & IOCB_FLAG_RESFD) != 0;
  pthread_mutex_lock(&c->mu);
  int r = 0;
  if (c->count + c->running >= c->bound) {
    r = -EAGAIN;
  } else if (c->cap < c->bound) {
    auto* ev = static_cast<struct io_event*>(malloc(sizeof(struct io_event) * c->bound));
    if (ev == nullptr) {
      r = -EAGAIN;
    } else {
      for (unsigned i = 0; i < c->count; ++i) ev[i] = c->ev[(c->head + i) % c->cap];
      free(c->ev);
      c->ev = ev;
      c->cap = c->bound;
      c->head = 0;
    }
  }
  if (r == 0) {
    ++c->running;
    c->last_fd = static_cast<int>(cb->aio_fildes);
  }
  pthread_mutex_unlock(&c->mu);
  if (r < 0) return r;
  if (resfd) r = check_eventfd(static_cast<int>(cb->aio_resfd));
  int64_t res = 0;
  if (r == 0) r = perform(of, cb, &res);
  pthread_mutex_lock(&c->mu);
  --c->running;
  if (r == 0) {
    struct io_event& e = c->ev[(c->head + c->count) % c->cap];
    e.data = cb->aio_data;
    e.obj = reinterpret_cast<uintptr_t>(cb);
    e.res = res;
    e.res2 = 0;
    ++c->count;
    c->pending.store(c->count);
    ring_locked(c, ctx, static_cast<int>(cb->aio_fildes));
  }
  pthread_mutex_unlock(&c->mu);
  if (r == 0 && resfd) {
    uint64_t one = 1;
    int saved = errno;
    if (REAL(write)(static_cast<int>(cb->aio_resfd), &one, sizeof one) != sizeof one)
      zlog("io_submit: cannot signal eventfd %u: errno %d", cb->aio_resfd, errno);
    errno = saved;
  }
  return r;
}

// Moves up to `room` queued events to out.
long pop(Ctx* c, struct io_event* out, long room) {
  if (room <= 0 || c->pending.load() == 0) return 0;
  pthread_mutex_lock(&c->mu);
  long n = 0;
  while (n < room && c->count > 0) {
    out[n++] = c->ev[c->head];
    c->head = (c->head + 1) % c->cap;
    --c->count;
  }
  c->pending.store(c->count);
  pthread_mutex_unlock(&c->mu);
  return n;
}

// Removes the doorbell's event from events[0, n); returns the new count and whether it was there.
long filter_bell(Ctx* c, struct io_event* events, long n, bool* rung) {
  auto bell = reinterpret_cast<uintptr_t>(&c->bell);
  long k = 0;
  for (long i = 0; i < n; ++i) {
    if (events[i].obj == bell) {
      *rung = true;
      continue;
    }
    events[k++] = events[i];
  }
  if (*rung) {
    pthread_mutex_lock(&c->mu);
    c->bell_out = false;
    pthread_mutex_unlock(&c->mu);
  }
  return k;
}

int64_t ns_of(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}
int64_t now_ns() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return ns_of(t);
}

int real_wait(aio_context_t ctx, long min_nr, long nr, struct io_event* ev, struct timespec* ts,
              bool pget, sigset_t* mask) {
  if (pget) {
    PgeteventsFn f = next_fn(g_pgetevents, "io_pgetevents");
    return f == nullptr ? -ENOSYS : f(ctx, min_nr, nr, ev, ts, mask);
  }
  GeteventsFn f = next_fn(g_getevents, "io_getevents");
  return f == nullptr ? -ENOSYS : f(ctx, min_nr, nr, ev, ts);
}

// Before a getevents returns: completions it left in the queue while other threads wait in the
// real call (it took the doorbell meant for them, or had no room) ring for them. Only on a
// descriptor still a ZVFS file: a number reused for a pipe or a socket might never be ready,
// and the doorbell would stay out for good.
int leave(Ctx* c, aio_context_t ctx, int result) {
  if (c->pending.load() > 0 && c->waiters.load() > 0) {
    pthread_mutex_lock(&c->mu);
    if (fd_lookup(c->last_fd) != nullptr) ring_locked(c, ctx, c->last_fd);
    pthread_mutex_unlock(&c->mu);
  }
  return result;
}

// io_getevents / io_pgetevents on a context with a user-space queue.
int getevents(Ctx* c, aio_context_t ctx, long min_nr, long nr, struct io_event* events,
              struct timespec* timeout, bool pget, sigset_t* mask) {
  if (min_nr < 0 || nr < 0 || min_nr > nr) return -EINVAL;
  int64_t deadline = 0;
  if (timeout != nullptr) {
    if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000)
      return -EINVAL;
    if (ns_of(*timeout) > 0) deadline = now_ns() + ns_of(*timeout);
  }
  long got = 0;
  for (;;) {
    c->waiters.fetch_add(1);
    got += pop(c, events + got, nr - got);
    if (got >= min_nr) {
      c->waiters.fetch_sub(1);
      return leave(c, ctx, static_cast<int>(got));
    }
    struct timespec left {};
    if (timeout != nullptr && deadline != 0) {
      int64_t ns = deadline - now_ns();
      if (ns < 0) ns = 0;
      left.tv_sec = static_cast<time_t>(ns / 1000000000);
      left.tv_nsec = static_cast<long>(ns % 1000000000);
    }
    int r = real_wait(ctx, min_nr - got, nr - got, events + got,
                      timeout != nullptr ? &left : nullptr, pget, mask);
    c->waiters.fetch_sub(1);
    if (r < 0) return leave(c, ctx, got > 0 ? static_cast<int>(got) : r);
    bool rung = false;
    got += filter_bell(c, events + got, r, &rung);
    if (got >= min_nr || !rung) {
      // Done, or the timeout passed: add what the queue holds now, if there is room.
      got += pop(c, events + got, nr - got);
      return leave(c, ctx, static_cast<int>(got));
    }
  }
}

}  // namespace

// atfork child: AIO contexts are not inherited.
void aio_after_fork_child() {
  pthread_mutex_init(&g_ctx_mu, nullptr);
  for (Ctx& c : g_ctx) {
    pthread_mutex_init(&c.mu, nullptr);
    c.key.store(0);
    reset_locked(&c, 0);
    c.running = 0;
    c.waiters.store(0);
  }
}

}  // namespace zvfs::client

using namespace zvfs::client;

ZVFS_HOOK int io_setup(int nr_events, aio_context_t* ctxp) {
  SetupFn f = next_fn(g_setup, "io_setup");
  if (f == nullptr) return -ENOSYS;
  int r = f(nr_events, ctxp);
  if (r == 0 && g_fd_table != nullptr) (void)add(*ctxp, static_cast<unsigned>(nr_events));
  return r;
}

ZVFS_HOOK int io_destroy(aio_context_t ctx) {
  DestroyFn f = next_fn(g_destroy, "io_destroy");
  if (f == nullptr) return -ENOSYS;
  int r = f(ctx);
  if (g_fd_table != nullptr) drop(ctx);
  return r;
}

ZVFS_HOOK int io_submit(aio_context_t ctx, long nr, struct iocb** iocbs) {
  if (g_fd_table == nullptr || nr <= 0 || iocbs == nullptr) return real_submit(ctx, nr, iocbs);
  long first = 0;
  while (first < nr && zvfs_iocb(iocbs[first]) == nullptr) ++first;
  if (first == nr) return real_submit(ctx, nr, iocbs);
  Ctx* c = nullptr;
  long done = 0;
  int err = 0;
  long i = 0;
  while (i < nr) {
    OpenFile* of = zvfs_iocb(iocbs[i]);
    if (of == nullptr) {
      long j = i;
      while (j < nr && zvfs_iocb(iocbs[j]) == nullptr) ++j;
      int r = real_submit(ctx, j - i, iocbs + i);
      if (r < 0) {
        err = r;
        break;
      }
      done += r;
      if (r < j - i) break;
      i = j;
      continue;
    }
    if (c == nullptr) err = ctx_for_submit(ctx, &c);
    if (err == 0) err = submit_one(c, ctx, of, iocbs[i]);
    if (err < 0) break;
    ++done;
    ++i;
  }
  return done > 0 ? static_cast<int>(done) : err;
}

ZVFS_HOOK int io_getevents(aio_context_t ctx, long min_nr, long nr, struct io_event* events,
                           struct timespec* timeout) {
  Ctx* c = g_fd_table != nullptr ? find(ctx) : nullptr;
  if (c == nullptr) {
    GeteventsFn f = next_fn(g_getevents, "io_getevents");
    return f == nullptr ? -ENOSYS : f(ctx, min_nr, nr, events, timeout);
  }
  return getevents(c, ctx, min_nr, nr, events, timeout, false, nullptr);
}

ZVFS_HOOK int io_pgetevents(aio_context_t ctx, long min_nr, long nr, struct io_event* events,
                            struct timespec* timeout, sigset_t* sigmask) {
  Ctx* c = g_fd_table != nullptr ? find(ctx) : nullptr;
  if (c == nullptr) {
    PgeteventsFn f = next_fn(g_pgetevents, "io_pgetevents");
    return f == nullptr ? -ENOSYS : f(ctx, min_nr, nr, events, timeout, sigmask);
  }
  return getevents(c, ctx, min_nr, nr, events, timeout, true, sigmask);
}

ZVFS_HOOK int io_cancel(aio_context_t ctx, struct iocb* iocb, struct io_event* result) {
  if (g_fd_table != nullptr && zvfs_iocb(iocb) != nullptr)
    return -EINVAL;  // a ZVFS iocb completed inside io_submit
  CancelFn f = next_fn(g_cancel, "io_cancel");
  if (f == nullptr) return -ENOSYS;
  return f(ctx, iocb, result);
}
