// protocol_test.cc — encode/decode and validation of protocol messages.
#include "ipc/protocol.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace zvfs::ipc {
namespace {

TEST(Protocol, RoundTripEveryRequestOp) {
  for (int op = 0; op < kOpMax + 4; ++op) {
    int body = request_body_size(static_cast<uint16_t>(op));
    if (body < 0) continue;
    std::vector<uint8_t> in(body + 1, 0xab), buf(256), out(64);
    size_t n =
        encode_message(static_cast<uint16_t>(op), 77, 0, in.data(), body, buf.data(), buf.size());
    ASSERT_EQ(n, sizeof(MsgHeader) + body);
    MsgHeader h;
    ASSERT_TRUE(decode_request(buf.data(), n, &h, out.data(), out.size()).ok()) << op;
    EXPECT_EQ(h.opcode, op);
    EXPECT_EQ(h.request_id, 77u);
    if (body > 0) {
      EXPECT_EQ(0, std::memcmp(in.data(), out.data(), body));
    }
  }
}

TEST(Protocol, IoRequestFieldsSurvive) {
  IoReq r;
  r.handle = 5;
  r.arg = -3;
  r.off = 1ull << 40;
  r.len = 16384;
  uint8_t buf[64];
  size_t n =
      encode_message(static_cast<uint16_t>(Op::kWrite), 9, 0, &r, sizeof(r), buf, sizeof buf);
  MsgHeader h;
  IoReq got;
  ASSERT_TRUE(decode_request(buf, n, &h, &got, sizeof got).ok());
  EXPECT_EQ(got.handle, 5u);
  EXPECT_EQ(got.arg, -3);
  EXPECT_EQ(got.off, 1ull << 40);
  EXPECT_EQ(got.len, 16384u);
}

TEST(Protocol, RejectsMalformed) {
  uint8_t buf[64];
  IoReq r;
  size_t n = encode_message(static_cast<uint16_t>(Op::kRead), 1, 0, &r, sizeof(r), buf, sizeof buf);
  MsgHeader h;
  IoReq body;
  // Truncated header and truncated body.
  EXPECT_EQ(decode_request(buf, 10, &h, &body, sizeof body).code(), EPROTO);
  EXPECT_EQ(decode_request(buf, n - 1, &h, &body, sizeof body).code(), EPROTO);
  // Trailing garbage.
  EXPECT_EQ(decode_request(buf, n + 1, &h, &body, sizeof body).code(), EPROTO);
  // Bad magic.
  uint8_t bad[64];
  std::memcpy(bad, buf, n);
  bad[0] ^= 1;
  EXPECT_EQ(decode_request(bad, n, &h, &body, sizeof body).code(), EPROTO);
  // Version mismatch is reported as such.
  std::memcpy(bad, buf, n);
  reinterpret_cast<MsgHeader*>(bad)->version = kVersion + 1;
  EXPECT_EQ(decode_request(bad, n, &h, &body, sizeof body).code(), EPROTONOSUPPORT);
  // Unknown opcode.
  std::memcpy(bad, buf, n);
  reinterpret_cast<MsgHeader*>(bad)->opcode = 999;
  EXPECT_EQ(decode_request(bad, n, &h, &body, sizeof body).code(), EPROTO);
  // Body length that disagrees with the opcode.
  std::memcpy(bad, buf, n);
  reinterpret_cast<MsgHeader*>(bad)->payload_len = 8;
  EXPECT_EQ(decode_request(bad, n, &h, &body, sizeof body).code(), EPROTO);
  // Body larger than the caller's buffer.
  EXPECT_EQ(decode_request(buf, n, &h, &body, 4).code(), EPROTO);
}

TEST(Protocol, RandomBytesNeverDecodeWithWrongSize) {
  std::mt19937_64 rng(42);
  uint8_t buf[128], body[64];
  for (int i = 0; i < 20000; ++i) {
    size_t n = rng() % sizeof(buf);
    for (size_t k = 0; k < n; ++k) buf[k] = static_cast<uint8_t>(rng());
    if (i % 2) std::memcpy(buf, &kMagic, 4);  // get past the magic half of the time
    MsgHeader h;
    if (decode_request(buf, n, &h, body, sizeof body).ok()) {
      EXPECT_EQ(static_cast<int>(h.payload_len), request_body_size(h.opcode));
      EXPECT_EQ(n, sizeof(MsgHeader) + h.payload_len);
    }
  }
}

TEST(Protocol, EncodeRefusesSmallBuffer) {
  uint8_t buf[30];
  IoReq r;
  EXPECT_EQ(encode_message(1, 1, 0, &r, sizeof(r), buf, sizeof buf), 0u);
}

TEST(Protocol, SlotOpsAndNames) {
  EXPECT_TRUE(is_slot_op(static_cast<uint16_t>(Op::kWrite)));
  EXPECT_FALSE(is_slot_op(static_cast<uint16_t>(Op::kAttach)));
  EXPECT_FALSE(is_slot_op(999));
  EXPECT_STREQ(op_name(Op::kAppendReserve), "append_reserve");
}

}  // namespace
}  // namespace zvfs::ipc
