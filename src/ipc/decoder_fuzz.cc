// decoder_fuzz.cc — libFuzzer target for the daemon's request decoder.
//
// Feeds arbitrary bytes to decode_request() (what the daemon runs on every control message)
// and, for inputs that decode, checks the decoder's promises: the body size is the one the
// opcode requires and the message length is exactly header + body. Slot requests are decoded
// from a header copy the same way (check_request_header), so this covers both paths.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "ipc/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zvfs::ipc;
  MsgHeader h;
  alignas(8) uint8_t body[64];
  zvfs::Status s = decode_request(data, size, &h, body, sizeof body);
  if (s.ok()) {
    if (static_cast<int>(h.payload_len) != request_body_size(h.opcode)) abort();
    if (size != sizeof(MsgHeader) + h.payload_len) abort();
    if (!check_request_header(h).ok()) abort();
  } else if (s.code() != EPROTO && s.code() != EPROTONOSUPPORT) {
    abort();
  }
  return 0;
}
