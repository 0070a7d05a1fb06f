// label.cc — encoding, decoding and validation of the pool label (see label.h).
#include "engine/spa/label.h"

#include <cstring>

#include "common/aligned_buf.h"
#include "common/log.h"

namespace zvfs::spa {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

uint64_t align_down(uint64_t v, uint64_t a) {
  return v / a * a;
}
uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

bool valid_block_size(uint32_t bs) {
  return bs >= 4096 && bs <= (1u << 20) && (bs & (bs - 1)) == 0;
}

zio::Checksum label_checksum(const LabelPhys& l) {
  return zio::checksum(&l, offsetof(LabelPhys, checksum));
}

// Checks that a decoded layout is internally consistent and fits the device.
bool layout_sane(const Layout& l, uint64_t dev_size) {
  if (!valid_block_size(l.block_size)) return false;
  if (l.vdev_size > dev_size) return false;
  for (uint64_t v : {l.ub_off, l.log_off, l.log_len, l.data_off, l.data_len, l.label2_off}) {
    if (v % 4096 != 0) return false;
  }
  if (l.ub_off < kLabelSize || l.ub_count == 0 || l.ub_count > 4096) return false;
  if (l.log_off < l.ub_off + uint64_t{l.ub_count} * kUberblockSlotSize) return false;
  if (l.log_len == 0 || l.data_off < l.log_off + l.log_len) return false;
  if (l.data_len == 0 || l.data_off + l.data_len > l.label2_off) return false;
  return l.label2_off + kLabelSize <= l.vdev_size;
}

Layout layout_from(const LabelPhys& p) {
  Layout l;
  l.vdev_size = p.vdev_size;
  l.block_size = p.block_size;
  l.ub_off = p.ub_off;
  l.ub_count = p.ub_count;
  l.log_off = p.log_off;
  l.log_len = p.log_len;
  l.data_off = p.data_off;
  l.data_len = p.data_len;
  l.label2_off = align_down(p.vdev_size, 4096) - kLabelSize;
  return l;
}

enum class Verdict { kOk, kNoMagic, kBadChecksum, kBadVersion, kBadLayout };

Verdict decode(const LabelPhys& p, uint64_t dev_size, Label* out) {
  if (p.magic != kLabelMagic) return Verdict::kNoMagic;
  if (!(label_checksum(p) == p.checksum)) return Verdict::kBadChecksum;
  if (p.version < kOldestFormatVersion || p.version > kFormatVersion) return Verdict::kBadVersion;
  if (p.ub_slot_size != kUberblockSlotSize) return Verdict::kBadLayout;
  Layout l = layout_from(p);
  if (!layout_sane(l, dev_size)) return Verdict::kBadLayout;
  out->version = p.version;
  out->pool_guid = p.pool_guid;
  out->create_time_ns = p.create_time_ns;
  out->layout = l;
  return Verdict::kOk;
}

}  // namespace

Result<Layout> compute_layout(uint64_t vdev_size, uint32_t block_size, uint64_t log_bytes) {
  if (!valid_block_size(block_size)) {
    LOG_ERROR("spa", "block size %u is not a power of two in [4 KiB, 1 MiB]", block_size);
    return make_error(EINVAL, "bad block size");
  }
  uint64_t size = align_down(vdev_size, 4096);
  if (size < kMinPoolBytes) {
    LOG_ERROR("spa", "device of %llu bytes is too small for a pool (minimum %llu)",
              static_cast<unsigned long long>(vdev_size),
              static_cast<unsigned long long>(kMinPoolBytes));
    return make_error(EINVAL, "device too small");
  }
  Layout l;
  l.vdev_size = size;
  l.block_size = block_size;
  l.ub_off = kLabelSize;
  l.ub_count = kUberblockSlots;
  l.log_off = l.ub_off + uint64_t{kUberblockSlots} * kUberblockSlotSize;
  uint64_t log = log_bytes;
  if (log == 0) {
    log = size / 64;
    if (log < 64 * kMiB) log = 64 * kMiB;
    if (log > 1024 * kMiB) log = 1024 * kMiB;
  }
  if (log > size / 8) log = size / 8;
  log = align_down(log, 4096);
  if (log < 256 * 1024) log = 256 * 1024;
  l.log_len = log;
  l.data_off = align_up(l.log_off + l.log_len, kMiB);
  l.label2_off = size - kLabelSize;
  if (l.data_off + 4 * kMiB > l.label2_off) return make_error(EINVAL, "device too small");
  l.data_len = align_down(l.label2_off - l.data_off, 4096);
  return l;
}

Layout grown_layout(const Layout& l, uint64_t dev_size) {
  const uint64_t size = align_down(dev_size, 4096);
  if (size <= l.vdev_size) return l;
  Layout g = l;
  g.vdev_size = size;
  g.label2_off = size - kLabelSize;
  g.data_len = align_down(g.label2_off - g.data_off, 4096);
  return g;
}

Status write_labels(zio::Pipeline& zio, const Label& label) {
  AlignedBuf buf(kLabelSize);
  if (!buf.data()) return make_error(ENOMEM, "label buffer");
  auto* p = reinterpret_cast<LabelPhys*>(buf.data());
  const Layout& l = label.layout;
  p->magic = kLabelMagic;
  p->version = label.version;
  p->block_size = l.block_size;
  p->pool_guid = label.pool_guid;
  p->vdev_size = l.vdev_size;
  p->create_time_ns = label.create_time_ns;
  p->ub_off = l.ub_off;
  p->ub_count = l.ub_count;
  p->ub_slot_size = kUberblockSlotSize;
  p->log_off = l.log_off;
  p->log_len = l.log_len;
  p->data_off = l.data_off;
  p->data_len = l.data_len;
  p->checksum = label_checksum(*p);
  // One copy durable before the other is touched: a crash (or a torn sector) while labels are
  // rewritten (format upgrade, growth) leaves at least one copy whole, old or new. The copy at
  // the end goes first: when a pool grows, import looks for it at the device's new end, and
  // until it is there label 0 (old or new) must be whole.
  ZVFS_TRY(zio.write_raw(l.label2_off, buf.data(), kLabelSize));
  ZVFS_TRY(zio.flush());
  ZVFS_TRY(zio.write_raw(0, buf.data(), kLabelSize));
  return zio.flush();
}

Result<Label> read_label(zio::Pipeline& zio) {
  const uint64_t dev = zio.vdev().size();
  const std::string what = zio.vdev().describe();
  if (dev < kMinPoolBytes) {
    LOG_ERROR("spa", "%s: %llu bytes is too small to hold a ZVFS pool", what.c_str(),
              static_cast<unsigned long long>(dev));
    return make_error(ENOENT, "not a ZVFS pool");
  }
  AlignedBuf buf(kLabelSize);
  if (!buf.data()) return make_error(ENOMEM, "label buffer");
  const uint64_t offs[2] = {0, align_down(dev, 4096) - kLabelSize};
  Verdict worst = Verdict::kNoMagic;
  for (uint64_t off : offs) {
    if (!zio.read_raw(off, buf.data(), kLabelSize).ok()) continue;
    Label out;
    Verdict v = decode(*reinterpret_cast<const LabelPhys*>(buf.data()), dev, &out);
    if (v == Verdict::kOk) {
      if (off != 0)
        LOG_WARN("spa", "%s: first label damaged, using the copy at the end", what.c_str());
      return out;
    }
    if (v == Verdict::kBadChecksum) zio.count_checksum_error();
    if (static_cast<int>(v) > static_cast<int>(worst)) worst = v;
  }
  switch (worst) {
    case Verdict::kNoMagic:
      LOG_ERROR("spa", "%s is not a ZVFS pool (no label)", what.c_str());
      return make_error(ENOENT, "not a ZVFS pool");
    case Verdict::kBadVersion:
      LOG_ERROR("spa", "%s: pool label has an unknown format version (this build reads %u to %u)",
                what.c_str(), kOldestFormatVersion, kFormatVersion);
      return make_error(EINVAL, "unknown pool format version");
    case Verdict::kBadLayout:
      LOG_ERROR("spa", "%s: pool label describes an impossible layout", what.c_str());
      return make_error(EINVAL, "bad pool layout");
    default:
      LOG_ERROR("spa", "%s: both pool labels fail their checksum", what.c_str());
      return make_error(EIO, "pool labels damaged");
  }
}

bool has_label(zio::Pipeline& zio) {
  const uint64_t dev = zio.vdev().size();
  if (dev < 2 * kLabelSize) return false;
  AlignedBuf buf(kLabelSize);
  if (!buf.data()) return false;
  for (uint64_t off : {uint64_t{0}, align_down(dev, 4096) - kLabelSize}) {
    if (!zio.read_raw(off, buf.data(), kLabelSize).ok()) continue;
    if (reinterpret_cast<const LabelPhys*>(buf.data())->magic == kLabelMagic) return true;
  }
  return false;
}

}  // namespace zvfs::spa
