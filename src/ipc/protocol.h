// protocol.h — the ZVFS wire protocol between clients and zvfsd (see docs/PROTOCOL.md).
//
// Owns: the message header, the opcode list, one fixed-size body per operation, and the
// decoder that validates a raw message before the daemon acts on it.
//
// A message is a MsgHeader followed by `payload_len` bytes of body. The same framing is used on
// the control socket (handshake, attach with SCM_RIGHTS, stats, admin) and inside a
// shared-memory slot (data path: read, write, append, sync, ...). Replies reuse the header with
// kReplyBit set in the opcode and the result in `status` (>= 0, or -errno).
//
// Invariants:
//   - Both ends run on the same machine, so integers are in host byte order; every struct is
//     fixed-width with explicit padding and its size is asserted at compile time.
//   - A decoded request has the exact body size its opcode requires (never more, never less)
//     and a payload no longer than kMaxSocketPayload; anything else is rejected with EPROTO
//     (or EPROTONOSUPPORT for a version mismatch) before it reaches the daemon's logic.
//   - Bulk data never travels through the socket: it sits in the slot's data buffer and the
//     body says how many bytes of that buffer are meant (checked against the buffer size).
//
// Nothing here allocates or throws; it is linked into the preload library.
#pragma once

#include <cstddef>
#include <cstdint>

#include "zvfs/status.h"

namespace zvfs::ipc {

inline constexpr uint32_t kMagic = 0x5346565a;  // "ZVFS" in little-endian memory order
inline constexpr uint16_t kVersion = 1;         // message framing (every header carries it)
// Session version: the hello's `client_version` and the shared region's layout. Version 2 put
// each slot's state and message in one cache line; version 3 moved the choice of a slot into
// the client's own memory (no claim state, no free-slot futex in the header); version 4 moved
// the reply into a second cache line of the slot, acknowledged by request id; version 6 added
// kStatFile (a daemon of version 5 would close a session that sent it). Bumped alone, so
// that `zvfs status` (admin messages, which never open a session) still talks to a daemon of
// another session version.
inline constexpr uint32_t kSessionVersion = 7;
inline constexpr uint16_t kReplyBit = 0x8000;
// Largest body accepted on the control socket (the stats reply is the biggest message).
inline constexpr uint32_t kMaxSocketPayload = 64 * 1024;

// The Linux xattr that binds a placeholder to its blob (docs/PROTOCOL.md, "Binding"): the
// daemon's, never the program's. The trusted name is used by a daemon running as root, the user
// name otherwise. The library hides both from programs (hook_xattr.cc).
inline constexpr const char* kTrustedBindingXattr = "trusted.zvfs.blob";
inline constexpr const char* kUserBindingXattr = "user.zvfs.blob_id";

enum class Op : uint16_t {
  kHello = 1,              // socket: version check, returns the session memfd
  kAttach = 2,             // socket + fd: bind/open an fd's blob, returns a handle
  kReleaseIfUnlinked = 3,  // socket + O_PATH fd: deferred delete of an unlinked file's blob
  kStats = 4,              // socket: pool, clients and per-op counters
  kScrubStart = 5,         // socket: start a scrub in the background
  kScrubStatus = 6,        // socket: progress of the current/last scrub
  kShutdown = 7,           // socket: ask the daemon to exit cleanly (same uid or root)
  kStatFile = 8,           // socket + fd (O_PATH too): its blob's size and allocation, no handle
  // Data path (shared-memory slots).
  kNull = 16,
  kDetach = 17,
  kRead = 18,
  kWrite = 19,
  kAppend = 20,         // small append: the daemon picks the offset
  kAppendReserve = 21,  // large append: reserve [end, end+len) atomically, then kWrite chunks
  kTruncate = 22,
  kFallocate = 23,
  kSync = 24,
  kStat = 25,
  kSeek = 26,
  kMtimeSet = 27,  // the program just set the mtime of this handle's file (by descriptor or name)
};
inline constexpr int kOpMax = 28;  // exclusive bound for per-op tables

const char* op_name(Op op);

struct MsgHeader {
  uint32_t magic = kMagic;
  uint16_t version = kVersion;
  uint16_t opcode = 0;
  uint64_t request_id = 0;
  uint32_t payload_len = 0;
  int32_t status = 0;  // replies: 0 or -errno (op-specific results are in the body)
};
static_assert(sizeof(MsgHeader) == 24);

// ---- bodies ----------------------------------------------------------------------------------

struct HelloReq {
  uint32_t client_version = kSessionVersion;
  uint32_t pid = 0;
};
static_assert(sizeof(HelloReq) == 8);

struct HelloRep {
  uint64_t session_id = 0;
  uint64_t region_bytes = 0;
  uint32_t slot_count = 0;
  uint32_t slot_data_bytes = 0;
};
static_assert(sizeof(HelloRep) == 24);

// kStatFile's reply: status 1 and this for a file bound to a blob of the pool; status 0 (body
// zero) for any other file. What stat(2) tells about a file, so any descriptor may ask, O_PATH
// ones included (no read permission needed, as for stat).
struct StatFileRep {
  uint64_t size = 0;
  uint64_t allocated_bytes = 0;
};
static_assert(sizeof(StatFileRep) == 16);

struct AttachReq {
  int32_t open_flags = 0;
  // 1: an empty unbound file becomes a ZVFS file through this attach (docs/PROTOCOL.md,
  // "Binding a Linux file to a blob"); 0 for a name that stays plain and for re-attaches.
  uint32_t may_bind = 0;
};
static_assert(sizeof(AttachReq) == 8);

struct AttachRep {
  int32_t handle = -1;  // -1: plain Linux file
  uint32_t zvfs = 0;
  uint64_t size = 0;
  uint64_t blob_id = 0;
};
static_assert(sizeof(AttachRep) == 24);

// Every data-path request names a handle and at most three numbers.
struct IoReq {
  uint32_t handle = 0;
  int32_t arg = 0;   // fallocate mode, seek whence, sync datasync flag, write flags (below)
  uint64_t off = 0;  // offset, or new size for truncate
  uint64_t len = 0;  // bytes (read/write/append: of the slot's data buffer)
};
static_assert(sizeof(IoReq) == 24);

// Write flags (IoReq::arg of Op::kWrite). kWriteSync: sync the blob after the write, in the
// same round trip (an O_SYNC / O_DSYNC write). kWriteBehind: the client returned from its
// write(2) when it published this request (write-behind, shm.h); the daemon applies it before
// serving anything else, in the order of the request line's stamp.
inline constexpr int32_t kWriteSync = 1;
inline constexpr int32_t kWriteBehind = 2;

struct IoRep {
  int64_t result = 0;  // bytes done, or offset (append, reserve, seek)
  uint64_t aux0 = 0;   // append: end offset; stat: size
  uint64_t aux1 = 0;   // stat: allocated bytes
};
static_assert(sizeof(IoRep) == 24);

struct ScrubStatusRep {
  uint32_t running = 0;
  uint32_t finished = 0;
  uint64_t bytes_done = 0, bytes_total = 0;
  uint64_t errors = 0;
  int32_t status = 0;  // 0, or -errno if the scrub itself failed
  uint32_t pad = 0;
};
static_assert(sizeof(ScrubStatusRep) == 40);

// Stats: fixed part, then `op_count` OpStats, then `client_count` ClientInfo records of
// `client_info_bytes` each. The record grows only at its end; a reader takes the fields it knows
// from each record's start. Daemons from before the field sent 0 there: 32-byte records
// (kClientInfoV1Bytes, without gid).
inline constexpr int kHistBuckets = 40;  // bucket i counts latencies in [2^i, 2^(i+1)) ns
struct StatsHeader {
  uint64_t pool_size = 0, pool_allocated = 0, pool_free = 0, blob_count = 0;
  uint64_t txg = 0, synced_txg = 0;
  uint64_t cache_bytes = 0, cache_max_bytes = 0, cache_hits = 0, cache_misses = 0;
  uint64_t checksum_errors = 0, io_errors = 0, dirty_bytes = 0;
  uint64_t uptime_ms = 0, open_handles = 0, open_blobs = 0;
  uint64_t bad_requests = 0, sessions_total = 0;
  uint32_t daemon_pid = 0, client_count = 0, op_count = 0;
  uint32_t client_info_bytes = 0;  // size of one ClientInfo record; 0: kClientInfoV1Bytes
};
static_assert(sizeof(StatsHeader) == 18 * 8 + 16);

struct OpStats {
  uint16_t op = 0;
  uint16_t pad0 = 0;
  uint32_t pad1 = 0;
  uint64_t count = 0, errors = 0, total_ns = 0;
  uint64_t hist[kHistBuckets] = {};
};
static_assert(sizeof(OpStats) == 32 + 8 * kHistBuckets);

struct ClientInfo {
  uint64_t session_id = 0;
  int32_t pid = 0;  // pid, uid and gid: the client's SO_PEERCRED at connect time
  uint32_t uid = 0;
  uint64_t handles = 0;
  uint64_t requests = 0;
  // ---- end of the first version's record (kClientInfoV1Bytes) ----
  uint32_t gid = 0;
  uint32_t pad = 0;
};
static_assert(sizeof(ClientInfo) == 40);
inline constexpr uint32_t kClientInfoV1Bytes = 32;
static_assert(offsetof(ClientInfo, gid) == kClientInfoV1Bytes);

// After the client records (daemons before it sent none): the write path. The block only
// grows at its end; `bytes` is its size as sent.
struct StatsWrite {
  uint32_t bytes = sizeof(StatsWrite);
  uint32_t pad = 0;
  uint64_t dirty_max_bytes = 0;
  uint64_t throttle_waits = 0;     // writers stopped at the dirty-data limit until a commit
  uint64_t throttle_delay_ns = 0;  // time large writes slept as dirty data neared that limit
  uint64_t log_records = 0, log_blocks = 0,
           log_bytes = 0;  // the intent log's (a block: one write + flush)
  // Since 72 bytes: write-behinds applied, and the fsyncs that joined one (sync_after).
  uint64_t behind_writes = 0, behind_syncs = 0;
};
static_assert(sizeof(StatsWrite) == 72);
inline constexpr uint32_t kStatsWriteV1Bytes = 56;
inline constexpr uint32_t kStatsWriteV2Bytes = 72;

// After the write-path block (daemons before it sent none): the pool's format and what bounds
// its free space. The block only grows at its end; `bytes` is its size as sent.
inline constexpr uint32_t kStatsPoolHostLimited = 1;  // free space is bounded by the host FS
struct StatsPool {
  uint32_t bytes = sizeof(StatsPool);
  uint32_t format_version = 0;   // of the pool's label (docs/FORMAT.md, "Versions")
  uint32_t block_size = 0;       // data block size
  uint32_t flags = 0;            // kStatsPoolHostLimited
  int64_t host_free_bytes = -1;  // free space of the file system holding the pool file; -1: n/a
  // Since 32 bytes: free space set aside by fallocate for the holes of open files.
  uint64_t fallocated_bytes = 0;
};
static_assert(sizeof(StatsPool) == 32);
inline constexpr uint32_t kStatsPoolV1Bytes = 24;
inline constexpr uint32_t kStatsPoolV2Bytes = 32;

inline constexpr uint32_t kMaxClientsInStats =
    (kMaxSocketPayload - sizeof(StatsHeader) - kOpMax * sizeof(OpStats) - sizeof(StatsWrite) -
     sizeof(StatsPool)) /
    sizeof(ClientInfo);

// ---- validation --------------------------------------------------------------------------

// The body size an opcode's request must carry, or -1 for an unknown opcode.
int request_body_size(uint16_t opcode);
// True for opcodes served through shared-memory slots (false: control socket only).
bool is_slot_op(uint16_t opcode);

// Checks a request header: magic, version, known opcode, exact body size.
// EPROTONOSUPPORT for a version mismatch, EPROTO for anything else malformed.
Status check_request_header(const MsgHeader& h);

// Decodes a complete request held in [buf, buf+len): header then body. On success *hdr and
// the body (copied into `body`, which has room for `body_cap` bytes) are valid.
Status decode_request(const void* buf, size_t len, MsgHeader* hdr, void* body, size_t body_cap);

// Writes a header+body message into out (capacity cap). Returns the total size, or 0 if it
// does not fit.
size_t encode_message(uint16_t opcode, uint64_t request_id, int32_t status, const void* body,
                      uint32_t body_len, void* out, size_t cap);

}  // namespace zvfs::ipc
