// hook_posix_aio.cc — POSIX AIO (aio_read, aio_write, aio_fsync, lio_listio) on ZVFS files.
//
// glibc runs POSIX AIO requests on helper threads that call its internal pread/pwrite/fsync,
// which never reach the library's hooks: on a ZVFS descriptor they would read and write the
// empty placeholder (the data would land in the Linux file, where no ZVFS reader looks). So a
// request on a ZVFS descriptor is performed here, synchronously, through file_ops (with the
// kernel's semantics for the descriptor, O_APPEND included), before the submitting call
// returns; requests on other descriptors go to glibc untouched.
//
// A served request is left exactly as glibc leaves a finished one: its result in the aiocb's
// __return_value and its error (0 or an errno) in __error_code. glibc's own aio_error,
// aio_return, aio_suspend (a finished request ends the wait at once) and aio_cancel (no queued
// request for the descriptor: AIO_ALLDONE) therefore need no hook. The completion notification
// is delivered as glibc delivers it: SIGEV_SIGNAL and SIGEV_THREAD_ID queue the signal with
// si_code SI_ASYNCIO, SIGEV_THREAD runs the function on a new detached thread. lio_listio
// serves its ZVFS entries first and hands the others (the ZVFS ones blanked out) to glibc; its
// notification is glibc's if glibc got entries, else sent here.
//
// Invariant: an aiocb on a ZVFS descriptor is never passed to glibc, so no glibc helper thread
// ever touches the placeholder.
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/fd_table.h"
#include "client/file_ops.h"
#include "client/hook.h"
#include "client/real.h"

namespace zvfs::client {
namespace {

// The 64-bit forms are the same structure on the targets the library builds for.
static_assert(sizeof(aiocb) == sizeof(aiocb64) &&
              offsetof(aiocb, aio_offset) == offsetof(aiocb64, aio_offset));

OpenFile* zvfs_of(const aiocb* cb) {
  return cb == nullptr || g_fd_table == nullptr ? nullptr : fd_lookup(cb->aio_fildes);
}

struct ThreadNotify {
  void (*fn)(sigval);
  sigval value;
};

void* run_notify(void* arg) {
  ThreadNotify n = *static_cast<ThreadNotify*>(arg);
  free(arg);
  n.fn(n.value);
  return nullptr;
}

// Delivers a completion notification the way glibc's AIO does.
void notify(const sigevent& ev) {
  if (ev.sigev_notify == SIGEV_SIGNAL || ev.sigev_notify == SIGEV_THREAD_ID) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = ev.sigev_signo;
    info.si_code = SI_ASYNCIO;
    info.si_pid = getpid();
    info.si_uid = getuid();
    info.si_value = ev.sigev_value;
    if (ev.sigev_notify == SIGEV_THREAD_ID)
      REAL(syscall)(SYS_rt_tgsigqueueinfo, getpid(), ev._sigev_un._tid, ev.sigev_signo, &info);
    else
      REAL(syscall)(SYS_rt_sigqueueinfo, getpid(), ev.sigev_signo, &info);
  } else if (ev.sigev_notify == SIGEV_THREAD && ev.sigev_notify_function != nullptr) {
    auto* n = static_cast<ThreadNotify*>(malloc(sizeof(ThreadNotify)));
    if (n == nullptr) return;
    *n = ThreadNotify{ev.sigev_notify_function, ev.sigev_value};
    // As glibc: the program's attributes as they are, else a detached thread.
    pthread_attr_t own;
    pthread_attr_t* attr = ev.sigev_notify_attributes;
    if (attr == nullptr) {
      pthread_attr_init(&own);
      pthread_attr_setdetachstate(&own, PTHREAD_CREATE_DETACHED);
      attr = &own;
    }
    pthread_t t;
    if (pthread_create(&t, attr, run_notify, n) != 0) free(n);
    if (attr == &own) pthread_attr_destroy(&own);
  }
}

// Performs one request on a ZVFS descriptor and records its outcome in the aiocb.
// Returns false if it failed.
bool serve(OpenFile* of, aiocb* cb, int opcode) {
  ssize_t r;
  if (opcode == LIO_READ)
    r = zf_pread(of, cb->aio_fildes, const_cast<void*>(cb->aio_buf), cb->aio_nbytes,
                 cb->aio_offset);
  else if (opcode == LIO_WRITE)
    r = zf_pwrite(of, cb->aio_fildes, const_cast<const void*>(cb->aio_buf), cb->aio_nbytes,
                  cb->aio_offset);
  else
    r = zf_sync(of, opcode == O_DSYNC);
  cb->__return_value = r < 0 ? -1 : r;
  __atomic_store_n(&cb->__error_code, r < 0 ? static_cast<int>(-r) : 0, __ATOMIC_RELEASE);
  return r >= 0;
}

int submit_one(OpenFile* of, aiocb* cb, int opcode) {
  if (cb->aio_reqprio < 0 || cb->aio_reqprio > AIO_PRIO_DELTA_MAX) {  // as glibc checks it
    cb->__return_value = -1;
    __atomic_store_n(&cb->__error_code, EINVAL, __ATOMIC_RELEASE);
    errno = EINVAL;
    return -1;
  }
  serve(of, cb, opcode);
  notify(cb->aio_sigevent);
  return 0;
}

int fsync_one(int op, aiocb* cb, OpenFile* of) {
  if (op != O_SYNC && op != O_DSYNC) {
    errno = EINVAL;
    return -1;
  }
  return submit_one(of, cb, op);
}

// lio_listio: the ZVFS entries are served here, the rest go to glibc.
template <class Cb, class Real>
int listio(int mode, Cb* const list[], int nent, sigevent* sig, Real real) {
  if ((mode != LIO_WAIT && mode != LIO_NOWAIT) || nent <= 0 || list == nullptr)
    return real(mode, list, nent, sig);
  bool any_zvfs = false, others = false;
  for (int i = 0; i < nent; ++i) {
    auto* cb = reinterpret_cast<aiocb*>(list[i]);
    if (cb == nullptr || cb->aio_lio_opcode == LIO_NOP) continue;
    (zvfs_of(cb) != nullptr ? any_zvfs : others) = true;
  }
  if (!any_zvfs) return real(mode, list, nent, sig);
  bool failed = false;
  // The list handed to glibc: a copy with the ZVFS entries blanked (on the stack if short).
  constexpr int kOnStack = 64;
  Cb* on_stack[kOnStack];
  Cb** rest = nent <= kOnStack ? on_stack : static_cast<Cb**>(malloc(sizeof(Cb*) * nent));
  if (rest == nullptr) {
    errno = EAGAIN;
    return -1;
  }
  for (int i = 0; i < nent; ++i) {
    auto* cb = reinterpret_cast<aiocb*>(list[i]);
    rest[i] = list[i];
    if (cb == nullptr || cb->aio_lio_opcode == LIO_NOP) continue;
    OpenFile* of = zvfs_of(cb);
    if (of == nullptr) continue;
    rest[i] = nullptr;
    if (cb->aio_lio_opcode != LIO_READ && cb->aio_lio_opcode != LIO_WRITE) {
      cb->__return_value = -1;
      __atomic_store_n(&cb->__error_code, EINVAL, __ATOMIC_RELEASE);
      failed = true;
      continue;
    }
    failed |= !serve(of, cb, cb->aio_lio_opcode);
  }
  int rc = 0;
  if (others) {
    rc = real(mode, rest, nent, sig);
  } else if (mode == LIO_NOWAIT && sig != nullptr) {
    notify(*sig);
  }
  if (rest != on_stack) free(rest);
  if (rc == 0 && failed && mode == LIO_WAIT) {
    errno = EIO;
    return -1;
  }
  return rc;
}

}  // namespace
}  // namespace zvfs::client

using namespace zvfs::client;

#define ZVFS_AIO_REAL(name)                   \
  static auto real = next_as(&::name, #name); \
  if (real == nullptr) {                      \
    errno = ENOSYS;                           \
    return -1;                                \
  }

ZVFS_HOOK int aio_read(struct aiocb* cb) noexcept {
  if (OpenFile* of = zvfs_of(cb)) return submit_one(of, cb, LIO_READ);
  ZVFS_AIO_REAL(aio_read);
  return real(cb);
}

ZVFS_HOOK int aio_read64(struct aiocb64* cb) noexcept {
  if (OpenFile* of = zvfs_of(reinterpret_cast<aiocb*>(cb)))
    return submit_one(of, reinterpret_cast<aiocb*>(cb), LIO_READ);
  ZVFS_AIO_REAL(aio_read64);
  return real(cb);
}

ZVFS_HOOK int aio_write(struct aiocb* cb) noexcept {
  if (OpenFile* of = zvfs_of(cb)) return submit_one(of, cb, LIO_WRITE);
  ZVFS_AIO_REAL(aio_write);
  return real(cb);
}

ZVFS_HOOK int aio_write64(struct aiocb64* cb) noexcept {
  if (OpenFile* of = zvfs_of(reinterpret_cast<aiocb*>(cb)))
    return submit_one(of, reinterpret_cast<aiocb*>(cb), LIO_WRITE);
  ZVFS_AIO_REAL(aio_write64);
  return real(cb);
}

ZVFS_HOOK int aio_fsync(int op, struct aiocb* cb) noexcept {
  if (OpenFile* of = zvfs_of(cb)) return fsync_one(op, cb, of);
  ZVFS_AIO_REAL(aio_fsync);
  return real(op, cb);
}

ZVFS_HOOK int aio_fsync64(int op, struct aiocb64* cb) noexcept {
  if (OpenFile* of = zvfs_of(reinterpret_cast<aiocb*>(cb)))
    return fsync_one(op, reinterpret_cast<aiocb*>(cb), of);
  ZVFS_AIO_REAL(aio_fsync64);
  return real(op, cb);
}

ZVFS_HOOK int lio_listio(int mode, struct aiocb* const list[], int nent,
                         struct sigevent* sig) noexcept {
  ZVFS_AIO_REAL(lio_listio);
  return listio(mode, list, nent, sig, real);
}

ZVFS_HOOK int lio_listio64(int mode, struct aiocb64* const list[], int nent,
                           struct sigevent* sig) noexcept {
  ZVFS_AIO_REAL(lio_listio64);
  return listio(mode, list, nent, sig, real);
}
