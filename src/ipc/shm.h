// shm.h — the per-session shared-memory region: request slots and their data buffers.
//
// Owns the layout of the memfd that the daemon creates for each session and passes to the
// client at the handshake, and the slot state machine both sides follow.
//
//   [RegionHeader, 4 KiB][Slot 0 .. Slot N-1, 128 B each, to a page][size cells, 64Ki x 8 B]
//   [data 0 .. data N-1, slot_data_bytes each]
//
// A slot is two cache lines: the request line, which the client writes and the daemon reads,
// and the reply line, which the daemon writes and the client reads. The request line's state:
//   kFree or kReply ──client writes request, store──► kRequest
//   kRequest ──daemon CAS──► kServing ──daemon──► kReply
// Only the side that owns a state may leave it, so neither side ever sees a half-written
// request. The daemon answers by writing the reply line's message and then its `done` word:
// the request's id, which the client chose (a new one for each request of the slot) and waits
// for. Which client thread may use a slot in kFree or kReply is the client's own business (its
// process-private owner words); the daemon serves only kRequest. The doorbell (doorbell.h)
// wakes the other side when it sleeps.
//
// Why two lines: a client waiting for its reply polls the reply line. Were the reply in the
// request line, each of those polls would take the line back from the worker that is serving
// the request (the CAS, the copy out, the reply are several writes), and each write after a
// poll would have to take it again: a null round trip here cost 1.7x a bare shared-memory
// ping-pong that way, and 1.3-1.4x with the lines apart.
//
// Security: the daemon creates the memfd, sizes it and seals it (no shrink, no grow) before it
// sends it, so a client cannot make the daemon fault by truncating it. The daemon treats
// everything in the region as hostile: it copies a request out of the slot and validates the
// copy (the client may scribble on the slot meanwhile; that only hurts the client).
//
// Write-behind: a small overwrite (within the file's size, at most kBehindMaxBytes) may be
// answered to the application as soon as it is published in a slot: the client raises
// behind_pending, writes the request with kWriteBehind and a stamp, publishes it, rings, and
// returns from write(2) without waiting. What POSIX promises still holds:
//  * Visibility and order. The daemon applies write-behinds only while it holds one daemon-wide
//    lock, and before serving any request (of any session) it applies, under that lock, every
//    write-behind published in any session whose behind_pending is not 0, in the order of their
//    stamps. A write that returned before another request was sent was published before it, so
//    that request sees it; two write-behinds of which one returned before the other was sent
//    carry increasing stamps (CLOCK_MONOTONIC is one clock for all CPUs) and are applied in
//    that order. A client's stamps only order its own writes against others': it cannot
//    reorder another client's.
//  * Errors. ENOSPC is ruled out: the client writes behind only while behind_ok is 1, which the
//    daemon sets only while the pool has room for the dirty-data limit plus every write-behind
//    all sessions could have pending. Any other error of the write (EIO once the pool has
//    failed) is kept by the client and returned by the next fsync/fdatasync of that file, as
//    the kernel reports a failed writeback.
//  * The client waits for the reply before it reuses the slot, and fsync waits for every
//    write-behind of its file; an fsync that comes while the write is still pending asks, with
//    sync_after, for the sync to follow it in the same round trip.
//  * A session that ends (exit, kill -9) has its pending write-behinds applied before its
//    handles are released, as the kernel keeps the dirty pages of a process that exited.
//
// Crash: the region lives only as long as both mappings; it holds no durable state.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "ipc/protocol.h"

namespace zvfs::ipc {

inline constexpr uint32_t kRegionMagic = 0x4d48535a;  // "ZSHM"
inline constexpr uint32_t kDefaultSlotCount = 16;
inline constexpr uint32_t kDefaultSlotDataBytes = 1u << 20;
inline constexpr uint32_t kMaxSlotCount = 64;
// Write-behind bounds: the largest write answered before it is applied, and how many one
// session may have pending (the daemon's ENOSPC margin counts on both).
inline constexpr uint64_t kBehindMaxBytes = 64 * 1024;
inline constexpr uint32_t kBehindMaxPending = 4;

// (1 was a client-side claim state before slot ownership moved into the client's memory.)
enum SlotState : uint32_t { kFree = 0, kRequest = 2, kServing = 3, kReply = 4 };

struct alignas(64) RegionHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t slot_count;
  uint32_t slot_data_bytes;
  alignas(64) std::atomic<uint32_t> doorbell;  // bumped by a client after publishing a request
  std::atomic<uint32_t> daemon_sleepers;       // daemon workers asleep on `doorbell`
  std::atomic<uint32_t> daemon_spinners;       // daemon workers busy-waiting for a request
  alignas(64) std::atomic<uint32_t> client_spinners;  // client threads spinning for a reply
  std::atomic<uint32_t> spin_ok;  // daemon's hint: 1 if a CPU is free for busy-waiting
  // Client threads inside a system call that the library makes on a ZVFS placeholder itself
  // (the kernel's argument checks of a zero-length copy_file_range or sendfile; the ftruncate
  // or truncate that sets its st_size), and the pid of the process that uses this session,
  // written by the client when it connects and, in a forked child, when it takes over the
  // session its parent opened for it (the socket's peer pid is then the parent's). The daemon's
  // placeholder guard lets that process open placeholders, and lets its accesses through while
  // kernel_probes is not 0. The guard protects data from programs that bypass the library, not
  // a security boundary, so the client's word is taken.
  alignas(64) std::atomic<uint32_t> kernel_probes;
  std::atomic<int32_t> client_pid;
  // Write-behind (see the block above Region). behind_ok: the daemon's permission, 1 while the
  // pool has room for every write-behind that all sessions could have pending, so that none of
  // them can fail with ENOSPC. behind_pending: raised by the client before it publishes a
  // write-behind request, lowered by the daemon once the write is applied; while it is 0 the
  // daemon need not look at this session's slots before serving another request.
  alignas(64) std::atomic<uint32_t> behind_ok;
  alignas(64) std::atomic<uint32_t> behind_pending;
};
static_assert(sizeof(RegionHeader) <= 4096);

// Each line holds the word that the other side polls and the message it then reads, so that
// one transfer of the line carries both.
struct alignas(64) RequestLine {
  std::atomic<uint32_t> state;  // SlotState
  // A write-behind's late sync request: the client CASes 0 -> kSyncAsked (its fsync came while
  // the write was pending), the daemon exchanges it to kSyncTooLate once the write is applied
  // and syncs only if it found kSyncAsked. The client resets it with each new request.
  std::atomic<uint32_t> sync_after;
  MsgHeader hdr;  // request_id: the client's id for this request (its low 32 bits, never 0)
  IoReq req;
  uint64_t stamp;  // write-behind: CLOCK_MONOTONIC ns taken when it was published
};
inline constexpr uint32_t kSyncAsked = 1;
inline constexpr uint32_t kSyncTooLate = 2;
struct alignas(64) ReplyLine {
  std::atomic<uint32_t> done;             // low 32 bits of the last answered request_id
  std::atomic<uint32_t> client_sleeping;  // the client waits on `done` with FUTEX_WAIT
  MsgHeader hdr;
  IoRep rep;
};
struct Slot {
  RequestLine request;
  ReplyLine reply;
};
static_assert(sizeof(RequestLine) == 64 && sizeof(ReplyLine) == 64);
// One slot's two lines make an aligned pair, so the adjacent-line prefetch of one thread's slot
// does not pull in another thread's.
inline constexpr size_t kSlotStride = 128;
static_assert(sizeof(Slot) == kSlotStride);

// Size cells: one u64 per daemon handle number of the session (handles are dense and below
// kSizeCells). The daemon keeps in each the logical size of the blob behind that handle,
// updated before it answers any request that changes the size (whichever session sent it),
// so SEEK_END costs the client a load instead of a round trip. Read-only for the client.
inline constexpr uint32_t kSizeCells = 1u << 16;
static_assert(sizeof(std::atomic<uint64_t>) == 8 && std::atomic<uint64_t>::is_always_lock_free);

inline constexpr size_t round_page(size_t n) {
  return (n + 4095) & ~static_cast<size_t>(4095);
}
inline constexpr size_t cells_offset(uint32_t slot_count) {
  return 4096 + round_page(static_cast<size_t>(slot_count) * kSlotStride);
}
inline constexpr size_t data_offset(uint32_t slot_count) {
  return cells_offset(slot_count) + static_cast<size_t>(kSizeCells) * sizeof(uint64_t);
}
inline constexpr size_t region_bytes(uint32_t slot_count, uint32_t slot_data_bytes) {
  return data_offset(slot_count) + static_cast<size_t>(slot_count) * slot_data_bytes;
}

// A mapped region (either side). Not copyable; unmaps on destruction.
class Region {
 public:
  Region() = default;
  ~Region() { unmap(); }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  // Daemon: creates a sealed memfd holding a fresh region, maps it. Returns the memfd (>= 3,
  // close-on-exec) that is to be sent to the client, or -errno.
  int create(uint32_t slot_count, uint32_t slot_data_bytes);
  // Client: maps a memfd received from the daemon and checks its header against what the
  // handshake announced. Returns 0 or -errno. Does not take ownership of fd.
  int attach(int fd, uint32_t slot_count, uint32_t slot_data_bytes, size_t bytes);
  void unmap();

  bool mapped() const { return base_ != nullptr; }
  RegionHeader* header() const { return reinterpret_cast<RegionHeader*>(base_); }
  uint32_t slot_count() const { return slot_count_; }
  uint32_t slot_data_bytes() const { return slot_data_bytes_; }
  Slot* slot(uint32_t i) const {
    return reinterpret_cast<Slot*>(base_ + 4096 + static_cast<size_t>(i) * kSlotStride);
  }
  uint8_t* data(uint32_t i) const {
    return base_ + data_offset(slot_count_) + static_cast<size_t>(i) * slot_data_bytes_;
  }
  // The size cell of daemon handle h (h < kSizeCells).
  std::atomic<uint64_t>* size_cell(uint32_t h) const {
    return reinterpret_cast<std::atomic<uint64_t>*>(base_ + cells_offset(slot_count_)) + h;
  }

 private:
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
  uint32_t slot_count_ = 0;
  uint32_t slot_data_bytes_ = 0;
};

// Moves fd to a number >= 3 (never stdin/stdout/stderr) with close-on-exec. Returns the new fd
// (closing the old one) or -errno.
int fd_above_stdio(int fd);

}  // namespace zvfs::ipc
