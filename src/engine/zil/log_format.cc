// log_format.cc — encoding and bounds-checked decoding of intent-log blocks.
#include "engine/zil/log_format.h"

#include <cstring>

#include "common/copy.h"
#include "engine/zio/zio.h"

namespace zvfs::zil {
namespace {

uint64_t pad8(uint64_t v) {
  return (v + 7) & ~uint64_t{7};
}

uint64_t record_bytes(const dmu::ChangeRecord& r) {
  return sizeof(LogRecordPhys) + pad8(r.name.size() + r.payload_bytes());
}

zio::Checksum block_checksum(const uint8_t* data, uint64_t bytes) {
  // The checksum field is zero while computing; callers guarantee that.
  return zio::checksum(data, bytes);
}

}  // namespace

uint64_t encoded_block_size(const std::vector<const dmu::ChangeRecord*>& recs) {
  uint64_t n = sizeof(LogBlockHeader);
  for (const auto* r : recs) n += record_bytes(*r);
  return (n + kLogBlockAlign - 1) / kLogBlockAlign * kLogBlockAlign;
}

void encode_block(const BlockIdentity& id, const std::vector<const dmu::ChangeRecord*>& recs,
                  uint8_t* out, uint64_t bytes) {
  uint64_t pos = sizeof(LogBlockHeader);
  for (const auto* r : recs) {
    LogRecordPhys p{};
    p.txg = r->txg;
    p.blob = r->blob;
    p.kind = static_cast<uint8_t>(r->kind);
    p.name_len = static_cast<uint32_t>(r->name.size());
    p.off = r->off;
    p.len = r->len;
    p.size_after = r->size_after;
    const uint64_t payload = r->payload_bytes();
    p.data_len = payload;
    std::memcpy(out + pos, &p, sizeof(p));
    pos += sizeof(p);
    std::memcpy(out + pos, r->name.data(), r->name.size());
    r->copy_payload(out + pos + r->name.size());
    const uint64_t used = r->name.size() + payload;
    std::memset(out + pos + used, 0, pad8(used) - used);
    pos += pad8(used);
  }
  std::memset(out + pos, 0, bytes - pos);  // the padding to the block's 4 KiB multiple
  LogBlockHeader h{};
  h.magic = kLogMagic;
  h.version = kLogVersion;
  h.nrecords = static_cast<uint32_t>(recs.size());
  h.pool_guid = id.pool_guid;
  h.gen = id.gen;
  h.seq = id.seq;
  h.bytes = bytes;
  h.payload_bytes = pos;
  std::memcpy(out, &h, sizeof(h));
  h.checksum = block_checksum(out, bytes);
  std::memcpy(out, &h, sizeof(h));
}

uint64_t check_header(const void* hdr, const BlockIdentity& expect, uint64_t room) {
  LogBlockHeader h;
  std::memcpy(&h, hdr, sizeof(h));
  if (h.magic != kLogMagic || h.version != kLogVersion) return 0;
  if (h.pool_guid != expect.pool_guid || h.gen != expect.gen || h.seq != expect.seq) return 0;
  if (h.bytes < kLogBlockAlign || h.bytes % kLogBlockAlign != 0 || h.bytes > room) return 0;
  if (h.payload_bytes < sizeof(h) || h.payload_bytes > h.bytes) return 0;
  return h.bytes;
}

Result<std::vector<dmu::ChangeRecord>> decode_block(const uint8_t* data, uint64_t bytes) {
  LogBlockHeader h;
  std::memcpy(&h, data, sizeof(h));
  if (h.bytes != bytes || h.payload_bytes > bytes) return make_error(EIO, "log block size");
  std::vector<uint8_t> copy(data, data + bytes);
  LogBlockHeader z = h;
  z.checksum = zio::Checksum{};
  std::memcpy(copy.data(), &z, sizeof(z));
  if (!(block_checksum(copy.data(), bytes) == h.checksum)) {
    return make_error(EIO, "log block checksum");
  }
  std::vector<dmu::ChangeRecord> out;
  uint64_t pos = sizeof(h);
  for (uint32_t i = 0; i < h.nrecords; i++) {
    if (h.payload_bytes - pos < sizeof(LogRecordPhys)) return make_error(EIO, "log record");
    LogRecordPhys p;
    std::memcpy(&p, data + pos, sizeof(p));
    pos += sizeof(p);
    const uint64_t body = uint64_t{p.name_len} + p.data_len;
    if (p.name_len > 4096 || p.data_len > bytes || h.payload_bytes - pos < body) {
      return make_error(EIO, "log record body");
    }
    if (p.kind < static_cast<uint8_t>(dmu::OpKind::kCreate) ||
        p.kind > static_cast<uint8_t>(dmu::OpKind::kDelete)) {
      return make_error(EIO, "log record kind");
    }
    dmu::ChangeRecord r;
    r.txg = p.txg;
    r.blob = p.blob;
    r.kind = static_cast<dmu::OpKind>(p.kind);
    r.off = p.off;
    r.len = p.len;
    r.size_after = p.size_after;
    r.name.assign(reinterpret_cast<const char*>(data + pos), p.name_len);
    r.data.assign(data + pos + p.name_len, data + pos + body);
    pos += pad8(body);
    if (pos > h.payload_bytes) return make_error(EIO, "log record padding");
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace zvfs::zil
