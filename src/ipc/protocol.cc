// protocol.cc — validation and framing of protocol messages (see protocol.h).
#include "ipc/protocol.h"

#include <cstring>

namespace zvfs::ipc {

const char* op_name(Op op) {
  switch (op) {
    case Op::kHello:
      return "hello";
    case Op::kAttach:
      return "attach";
    case Op::kReleaseIfUnlinked:
      return "release";
    case Op::kStats:
      return "stats";
    case Op::kScrubStart:
      return "scrub";
    case Op::kScrubStatus:
      return "scrub_status";
    case Op::kShutdown:
      return "shutdown";
    case Op::kStatFile:
      return "stat_file";
    case Op::kNull:
      return "null";
    case Op::kDetach:
      return "detach";
    case Op::kRead:
      return "read";
    case Op::kWrite:
      return "write";
    case Op::kAppend:
      return "append";
    case Op::kAppendReserve:
      return "append_reserve";
    case Op::kTruncate:
      return "truncate";
    case Op::kFallocate:
      return "fallocate";
    case Op::kSync:
      return "sync";
    case Op::kStat:
      return "stat";
    case Op::kSeek:
      return "seek";
    case Op::kMtimeSet:
      return "mtime_set";
  }
  return "unknown";
}

int request_body_size(uint16_t opcode) {
  switch (static_cast<Op>(opcode)) {
    case Op::kHello:
      return sizeof(HelloReq);
    case Op::kAttach:
      return sizeof(AttachReq);
    case Op::kReleaseIfUnlinked:
    case Op::kStats:
    case Op::kScrubStart:
    case Op::kScrubStatus:
    case Op::kShutdown:
    case Op::kStatFile:
      return 0;
    case Op::kNull:
    case Op::kDetach:
    case Op::kRead:
    case Op::kWrite:
    case Op::kAppend:
    case Op::kAppendReserve:
    case Op::kTruncate:
    case Op::kFallocate:
    case Op::kSync:
    case Op::kStat:
    case Op::kSeek:
    case Op::kMtimeSet:
      return sizeof(IoReq);
  }
  return -1;
}

bool is_slot_op(uint16_t opcode) {
  return opcode >= static_cast<uint16_t>(Op::kNull) && opcode < kOpMax;
}

Status check_request_header(const MsgHeader& h) {
  if (h.magic != kMagic) return make_error(EPROTO, "bad magic");
  if (h.version != kVersion) return make_error(EPROTONOSUPPORT, "protocol version mismatch");
  int want = request_body_size(h.opcode);
  if (want < 0) return make_error(EPROTO, "unknown opcode");
  if (h.payload_len != static_cast<uint32_t>(want)) return make_error(EPROTO, "bad body size");
  return ok_status();
}

Status decode_request(const void* buf, size_t len, MsgHeader* hdr, void* body, size_t body_cap) {
  if (len < sizeof(MsgHeader)) return make_error(EPROTO, "truncated header");
  std::memcpy(hdr, buf, sizeof(MsgHeader));
  ZVFS_TRY(check_request_header(*hdr));
  if (len != sizeof(MsgHeader) + hdr->payload_len) return make_error(EPROTO, "length mismatch");
  if (hdr->payload_len > body_cap) return make_error(EPROTO, "body too large");
  std::memcpy(body, static_cast<const uint8_t*>(buf) + sizeof(MsgHeader), hdr->payload_len);
  return ok_status();
}

size_t encode_message(uint16_t opcode, uint64_t request_id, int32_t status, const void* body,
                      uint32_t body_len, void* out, size_t cap) {
  if (cap < sizeof(MsgHeader) || cap - sizeof(MsgHeader) < body_len) return 0;
  MsgHeader h;
  h.opcode = opcode;
  h.request_id = request_id;
  h.payload_len = body_len;
  h.status = status;
  std::memcpy(out, &h, sizeof(h));
  if (body_len) std::memcpy(static_cast<uint8_t*>(out) + sizeof(h), body, body_len);
  return sizeof(h) + body_len;
}

}  // namespace zvfs::ipc
