// hook_uring_raw.cc — io_uring driven through libc's syscall() (programs with their own ring
// code rather than liburing): submissions naming a ZVFS descriptor are refused. The syscall()
// hook (hook_syscall.cc) calls in here for io_uring_setup, io_uring_enter and io_uring_register.
//
// The kernel would read and write the empty placeholder, silently. liburing users are covered
// by hook_uring.cc; programs that issue io_uring_setup/enter/register through syscall() come
// here. After a successful io_uring_setup the library maps the new ring's submission queue and
// entries itself, read-only (its own mappings: the program may unmap or move its own at any
// time). io_uring_enter with entries to submit then looks at the entries between the kernel's
// head and the program's tail (at most to_submit of them): if one names a ZVFS descriptor (as
// its file, or splice's input) the call fails with EINVAL and a log line, before the kernel
// consumes anything. io_uring_register refuses ZVFS descriptors as fixed files the same way.
//
// Not covered, and documented: rings whose memory the program provides (IORING_SETUP_NO_MMAP),
// rings polled by a kernel thread (IORING_SETUP_SQPOLL: entries are consumed without a call),
// rings set up before the library was loaded, and programs that issue the system calls without
// libc: fio's io_uring engine does (inline system call instructions on x86-64), and so does
// liburing, whose entry points hook_uring.cc covers instead.
//
// Invariants: at most kMaxRings rings are tracked (the oldest are forgotten, and unmapped);
// a ring's slot is published (its fd stored) only after its mappings are complete, and read
// without locks; a slot is reused only under g_mu, and its mappings are unmapped only after
// its fd was withdrawn (a concurrent reader that loaded the fd before may still read them: to
// make that safe, unmapping waits until no reader is inside the slot).
#include <errno.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <mutex>

#include "client/fd_table.h"
#include "client/hook.h"
#include "client/real.h"
#include "client/uring_check.h"

// Newer than the oldest kernel headers the library builds against (values from the kernel ABI).
#ifndef IORING_SETUP_NO_MMAP
#define IORING_SETUP_NO_MMAP (1U << 14)
#endif
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif
#ifndef IORING_REGISTER_USE_REGISTERED_RING
#define IORING_REGISTER_USE_REGISTERED_RING (1U << 31)
#endif

namespace zvfs::client {
namespace {

constexpr int kMaxRings = 32;

struct RawRing {
  std::atomic<int> fd{-1};
  std::atomic<int> readers{0};
  uint64_t generation = 0;  // for the oldest-first eviction
  const unsigned char* sq = nullptr;
  size_t sq_len = 0;
  const unsigned char* sqes = nullptr;
  size_t sqes_len = 0;
  io_sqring_offsets off{};
  unsigned entries = 0;
  unsigned setup_flags = 0;
};

RawRing g_rings[kMaxRings];
std::mutex g_mu;  // slot reuse
uint64_t g_generation = 0;
std::atomic<int> g_tracked{0};

void unmap(RawRing& r) {
  while (r.readers.load(std::memory_order_acquire) != 0) {
  }
  if (r.sq != nullptr) munmap(const_cast<unsigned char*>(r.sq), r.sq_len);
  if (r.sqes != nullptr) munmap(const_cast<unsigned char*>(r.sqes), r.sqes_len);
  r.sq = r.sqes = nullptr;
}

// Withdraws the slot of ring fd `fd` (closed, or its number reused), under g_mu.
void forget_locked(int fd) {
  for (RawRing& r : g_rings) {
    if (r.fd.load(std::memory_order_relaxed) != fd) continue;
    r.fd.store(-1, std::memory_order_release);
    unmap(r);
    g_tracked.fetch_sub(1, std::memory_order_relaxed);
  }
}

void track(int fd, const io_uring_params& p) {
  if ((p.flags & (IORING_SETUP_NO_MMAP | IORING_SETUP_SQPOLL)) != 0) return;
  const bool no_array = (p.flags & IORING_SETUP_NO_SQARRAY) != 0;
  size_t sq_len = std::max({p.sq_off.head, p.sq_off.tail, p.sq_off.ring_mask}) + sizeof(unsigned);
  if (!no_array)
    sq_len = std::max<size_t>(sq_len, p.sq_off.array + p.sq_entries * sizeof(unsigned));
  const size_t sqe_size = (p.flags & IORING_SETUP_SQE128) != 0 ? 128 : 64;
  const size_t sqes_len = p.sq_entries * sqe_size;
  void* sq = REAL(mmap)(nullptr, sq_len, PROT_READ, MAP_SHARED, fd, IORING_OFF_SQ_RING);
  if (sq == MAP_FAILED) return;
  void* sqes = REAL(mmap)(nullptr, sqes_len, PROT_READ, MAP_SHARED, fd, IORING_OFF_SQES);
  if (sqes == MAP_FAILED) {
    munmap(sq, sq_len);
    return;
  }
  std::lock_guard g(g_mu);
  forget_locked(fd);
  RawRing* slot = nullptr;
  for (RawRing& r : g_rings) {
    if (r.fd.load(std::memory_order_relaxed) < 0) {
      slot = &r;
      break;
    }
    if (slot == nullptr || r.generation < slot->generation) slot = &r;
  }
  if (slot->fd.load(std::memory_order_relaxed) >= 0) forget_locked(slot->fd.load());
  slot->generation = ++g_generation;
  slot->sq = static_cast<const unsigned char*>(sq);
  slot->sq_len = sq_len;
  slot->sqes = static_cast<const unsigned char*>(sqes);
  slot->sqes_len = sqes_len;
  slot->off = p.sq_off;
  slot->entries = p.sq_entries;
  slot->setup_flags = p.flags;
  g_tracked.fetch_add(1, std::memory_order_relaxed);
  slot->fd.store(fd, std::memory_order_release);
}

unsigned load_u32(const unsigned char* base, uint32_t off) {
  return __atomic_load_n(reinterpret_cast<const unsigned*>(base + off), __ATOMIC_ACQUIRE);
}

// True if one of the next `to_submit` queued entries of ring `fd` names a ZVFS descriptor.
bool queued_zvfs_entry(int fd, unsigned to_submit) {
  if (g_tracked.load(std::memory_order_relaxed) == 0 || g_fd_table == nullptr) return false;
  for (RawRing& r : g_rings) {
    if (r.fd.load(std::memory_order_acquire) != fd) continue;
    r.readers.fetch_add(1, std::memory_order_acq_rel);
    bool found = false;
    if (r.fd.load(std::memory_order_acquire) == fd) {
      const unsigned head = load_u32(r.sq, r.off.head);
      const unsigned tail = load_u32(r.sq, r.off.tail);
      const unsigned mask = load_u32(r.sq, r.off.ring_mask);
      const bool no_array = (r.setup_flags & IORING_SETUP_NO_SQARRAY) != 0;
      const size_t sqe_size = (r.setup_flags & IORING_SETUP_SQE128) != 0 ? 128 : 64;
      const auto* array = reinterpret_cast<const unsigned*>(r.sq + r.off.array);
      unsigned n = tail - head;
      if (n > to_submit) n = to_submit;
      if (n > r.entries) n = r.entries;
      for (unsigned i = 0; i < n && !found; ++i) {
        const unsigned pos = (head + i) & mask;
        const unsigned idx = no_array ? pos : array[pos];
        if (idx >= r.entries) continue;  // the kernel drops such an entry
        const auto& e = *reinterpret_cast<const io_uring_sqe*>(r.sqes + idx * sqe_size);
        found = e.opcode != IORING_OP_NOP && uring_refuses_entry(e);
      }
    }
    r.readers.fetch_sub(1, std::memory_order_acq_rel);
    return found;
  }
  return false;
}

// io_uring_register's file registrations that would name a ZVFS descriptor.
bool registers_zvfs(unsigned opcode, const void* arg, unsigned nr) {
  if (g_fd_table == nullptr || arg == nullptr) return false;
  switch (opcode & ~IORING_REGISTER_USE_REGISTERED_RING) {
    case IORING_REGISTER_FILES:
      return uring_refuses_fds(static_cast<const int*>(arg), nr);
    case IORING_REGISTER_FILES_UPDATE: {
      const auto* u = static_cast<const io_uring_files_update*>(arg);
      return uring_refuses_fds(reinterpret_cast<const int*>(static_cast<uintptr_t>(u->fds)), nr);
    }
    case IORING_REGISTER_FILES2: {
      if (nr < sizeof(io_uring_rsrc_register)) return false;
      const auto* r = static_cast<const io_uring_rsrc_register*>(arg);
      return uring_refuses_fds(reinterpret_cast<const int*>(static_cast<uintptr_t>(r->data)),
                               r->nr);
    }
    case IORING_REGISTER_FILES_UPDATE2: {
      if (nr < sizeof(io_uring_rsrc_update2)) return false;
      const auto* u = static_cast<const io_uring_rsrc_update2*>(arg);
      return uring_refuses_fds(reinterpret_cast<const int*>(static_cast<uintptr_t>(u->data)),
                               u->nr);
    }
    default:
      return false;
  }
}

}  // namespace

bool raw_ring_submission_refused(int fd, long to_submit) {
  return to_submit > 0 && queued_zvfs_entry(fd, static_cast<unsigned>(to_submit));
}

bool raw_ring_registration_refused(unsigned opcode, const void* arg, unsigned nr) {
  return registers_zvfs(opcode, arg, nr);
}

void raw_ring_created(int fd, const void* params) {
  if (fd >= 0 && params != nullptr) track(fd, *static_cast<const io_uring_params*>(params));
}

void raw_ring_closed(int fd) {
  if (g_tracked.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard g(g_mu);
  forget_locked(fd);
}

}  // namespace zvfs::client
