// space_map_block.cc — see space_map_block.h.
#include "engine/alloc/space_map_block.h"

#include <bit>
#include <cstring>

#include "common/log.h"

namespace zvfs::alloc {
namespace {

static_assert(std::endian::native == std::endian::little, "on-disk structures are little-endian");
constexpr uint64_t kKindMask = kUnit - 1;  // offsets are 4096-aligned: the low bits hold the kind

void put64(std::byte* p, uint64_t v) {
  std::memcpy(p, &v, 8);
}
uint64_t get64(const std::byte* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

Error corrupt(const char* why) {
  LOG_ERROR("spacemap", "corrupt space-map block: %s", why);
  return make_error(EIO, "space map: corrupt block");
}

}  // namespace

uint32_t sm_block_bytes(uint32_t n) {
  uint64_t raw = kSmHeaderBytes + uint64_t(n) * kSmRecordBytes;
  return static_cast<uint32_t>((raw + kUnit - 1) / kUnit * kUnit);
}

uint32_t sm_block_capacity(uint32_t bytes) {
  if (bytes <= kSmHeaderBytes) return 0;
  uint32_t n = (bytes - kSmHeaderBytes) / kSmRecordBytes;
  return n < kSmRecordsPerBlockMax ? n : kSmRecordsPerBlockMax;
}

void sm_encode_block(const SmBlockHeader& h, const SpaceRecord* recs, std::byte* out) {
  uint32_t bytes = sm_block_bytes(h.nrecords);
  std::memset(out, 0, bytes);
  std::memcpy(out, &h, sizeof h);
  std::byte* p = out + kSmHeaderBytes;
  for (uint32_t i = 0; i < h.nrecords; ++i, p += kSmRecordBytes) {
    const SpaceRecord& r = recs[i];
    put64(p, r.off | static_cast<uint64_t>(r.kind));
    put64(p + 8, r.len);
    put64(p + 16, r.kind == SpaceRecord::Kind::kAlloc ? 0 : r.txg);
  }
}

Status sm_decode_block(const std::byte* buf, uint32_t bytes, SmBlockHeader* h,
                       std::vector<SpaceRecord>* recs) {
  if (bytes < kSmHeaderBytes || bytes > kSmBlockBytesMax || bytes % kUnit)
    return corrupt("bad block size");
  std::memcpy(h, buf, sizeof *h);
  if (h->magic != kSmMagic) return corrupt("bad magic");
  if (h->version != kSmVersion) return corrupt("unknown version");
  if (h->nrecords > kSmRecordsPerBlockMax || sm_block_bytes(h->nrecords) > bytes)
    return corrupt("more records than the block holds");
  for (uint8_t b : h->reserved)
    if (b != 0) return corrupt("reserved header bytes not zero");
  const std::byte* p = buf + kSmHeaderBytes;
  for (uint32_t i = 0; i < h->nrecords; ++i, p += kSmRecordBytes) {
    uint64_t w0 = get64(p), len = get64(p + 8), txg = get64(p + 16);
    uint64_t kind = w0 & kKindMask;
    SpaceRecord r;
    r.off = w0 & ~kKindMask;
    r.len = len;
    r.txg = txg;
    if (kind == static_cast<uint64_t>(SpaceRecord::Kind::kAlloc)) {
      r.kind = SpaceRecord::Kind::kAlloc;
      if (txg != 0) return corrupt("allocation record with a txg");
    } else if (kind == static_cast<uint64_t>(SpaceRecord::Kind::kFree)) {
      r.kind = SpaceRecord::Kind::kFree;
      if (txg > h->txg) return corrupt("free recorded before its txg");
    } else {
      return corrupt("unknown record kind");
    }
    if (len == 0 || len % kUnit || r.off + len < r.off) return corrupt("bad record length");
    recs->push_back(r);
  }
  for (const std::byte* end = buf + bytes; p < end; ++p)
    if (*p != std::byte{0}) return corrupt("padding not zero");
  return ok_status();
}

}  // namespace zvfs::alloc
