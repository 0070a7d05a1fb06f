// uberblock.cc — encoding, ring placement and selection of uberblocks (see uberblock.h).
#include "engine/spa/uberblock.h"

#include <algorithm>
#include <cstring>

#include "common/aligned_buf.h"
#include "common/log.h"

namespace zvfs::spa {
namespace {

zio::Checksum ub_checksum(const UberblockPhys& p) {
  return zio::checksum(&p, offsetof(UberblockPhys, checksum));
}

// Writes `ub` into its slot under `magic` (a live or an abandoned uberblock).
Status write_slot(zio::Pipeline& zio, const Layout& layout, const Uberblock& ub, uint64_t magic) {
  AlignedBuf buf(kUberblockSlotSize);
  if (!buf.data()) return make_error(ENOMEM, "uberblock buffer");
  auto* p = reinterpret_cast<UberblockPhys*>(buf.data());
  p->magic = magic;
  p->version = kUberblockVersion;
  p->flags = ub.flags;
  p->txg = ub.txg;
  p->pool_guid = ub.pool_guid;
  p->timestamp_ns = ub.timestamp_ns;
  p->meta_root = ub.meta_root;
  p->space_map = ub.space_map;
  p->next_blob_id = ub.next_blob_id;
  p->blob_count = ub.blob_count;
  p->log_head_pos = ub.log_head_pos;
  p->log_head_seq = ub.log_head_seq;
  p->log_gen = ub.log_gen;
  p->checksum = ub_checksum(*p);
  uint64_t off = layout.ub_off + (ub.txg % layout.ub_count) * uint64_t{kUberblockSlotSize};
  return zio.write_raw(off, buf.data(), kUberblockSlotSize);
}

// Decodes a slot holding `magic` (a live or an abandoned uberblock).
std::optional<Uberblock> decode_slot(const void* slot, uint64_t pool_guid, uint64_t magic) {
  UberblockPhys p;
  std::memcpy(&p, slot, sizeof(p));
  if (p.magic != magic || p.version != kUberblockVersion) return std::nullopt;
  if (!(ub_checksum(p) == p.checksum)) return std::nullopt;
  if (p.pool_guid != pool_guid || p.txg == 0) return std::nullopt;
  Uberblock ub;
  ub.txg = p.txg;
  ub.flags = p.flags;
  ub.pool_guid = p.pool_guid;
  ub.timestamp_ns = p.timestamp_ns;
  ub.meta_root = p.meta_root;
  ub.space_map = p.space_map;
  ub.next_blob_id = p.next_blob_id;
  ub.blob_count = p.blob_count;
  ub.log_head_pos = p.log_head_pos;
  ub.log_head_seq = p.log_head_seq;
  ub.log_gen = p.log_gen;
  return ub;
}

}  // namespace

Status write_uberblock(zio::Pipeline& zio, const Layout& layout, const Uberblock& ub) {
  return write_slot(zio, layout, ub, kUberblockMagic);
}

std::optional<Uberblock> decode_uberblock(const void* slot, uint64_t pool_guid) {
  return decode_slot(slot, pool_guid, kUberblockMagic);
}

Result<std::vector<Uberblock>> read_uberblocks(zio::Pipeline& zio, const Layout& layout,
                                               uint64_t pool_guid, uint64_t* abandoned_txg) {
  const uint64_t ring_bytes = uint64_t{layout.ub_count} * kUberblockSlotSize;
  AlignedBuf buf(ring_bytes);
  if (!buf.data()) return make_error(ENOMEM, "uberblock ring buffer");
  ZVFS_TRY(zio.read_raw(layout.ub_off, buf.data(), static_cast<uint32_t>(ring_bytes)));
  std::vector<Uberblock> all;
  if (abandoned_txg) *abandoned_txg = 0;
  for (uint32_t i = 0; i < layout.ub_count; i++) {
    const std::byte* slot = buf.data() + uint64_t{i} * kUberblockSlotSize;
    if (abandoned_txg) {
      auto gone = decode_slot(slot, pool_guid, kUberblockAbandonedMagic);
      if (gone && gone->txg % layout.ub_count == i)
        *abandoned_txg = std::max(*abandoned_txg, gone->txg);
    }
    auto ub = decode_uberblock(slot, pool_guid);
    if (!ub) continue;
    if (ub->txg % layout.ub_count != i) continue;  // a slot only ever holds its own txgs
    all.push_back(*ub);
  }
  if (all.empty()) {
    LOG_ERROR("spa", "%s: no valid uberblock in the ring; the pool cannot be imported",
              zio.vdev().describe().c_str());
    return make_error(EIO, "no valid uberblock");
  }
  std::sort(all.begin(), all.end(),
            [](const Uberblock& x, const Uberblock& y) { return x.txg > y.txg; });
  LOG_DEBUG("spa", "uberblock ring: %zu valid, newest txg %llu", all.size(),
            static_cast<unsigned long long>(all.front().txg));
  return all;
}

Status invalidate_newer_uberblocks(zio::Pipeline& zio, const Layout& layout,
                                   const std::vector<Uberblock>& all, uint64_t txg) {
  bool wrote = false;
  for (const Uberblock& ub : all) {
    if (ub.txg <= txg) continue;
    LOG_INFO("spa", "%s: invalidating uberblock of txg %llu (importing txg %llu)",
             zio.vdev().describe().c_str(), static_cast<unsigned long long>(ub.txg),
             static_cast<unsigned long long>(txg));
    ZVFS_TRY(write_slot(zio, layout, ub, kUberblockAbandonedMagic));
    wrote = true;
  }
  if (!wrote) return ok_status();
  return zio.flush();
}

Result<Uberblock> read_best_uberblock(zio::Pipeline& zio, const Layout& layout,
                                      uint64_t pool_guid) {
  ZVFS_ASSIGN_OR_RETURN(all, read_uberblocks(zio, layout, pool_guid));
  return all.front();
}

}  // namespace zvfs::spa
