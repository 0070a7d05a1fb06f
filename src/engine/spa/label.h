// label.h — the pool label and the pool layout it describes.
//
// A label is one 4 KiB sector that says "this device holds a ZVFS pool" and where everything
// is: the uberblock ring, the intent-log region and the data region. It is written once, at
// create, at offset 0 and again in the last 4 KiB of the device, so a pool whose first sector is
// overwritten still imports. Labels change only when a pool is upgraded or grown, one copy at a
// time (the end copy first, each durable before the next), so a crash can never tear both.
//
// Invariants (checked on every read, always on):
//   - magic, format version, checksum (XXH3-128 over every byte before the checksum field).
//   - the regions are 4 KiB aligned, in order, do not overlap and lie inside the device.
#pragma once

#include <cstdint>

#include "engine/zio/blkptr.h"
#include "engine/zio/zio.h"
#include "zvfs/status.h"

namespace zvfs::spa {

inline constexpr uint64_t kLabelMagic = 0x4c42414c5346565aULL;  // "ZVFSLABL"
// The format version this build writes into new pools, and the oldest it still imports.
// Version 2 lets data blocks and xattr blocks end before their nominal size (their zero tail is
// not stored); version-1 pools are read as before and written only in version-1 form.
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint32_t kOldestFormatVersion = 1;
inline constexpr uint32_t kLabelSize = 4096;
inline constexpr uint32_t kUberblockSlots = 128;
inline constexpr uint32_t kUberblockSlotSize = 4096;
inline constexpr uint64_t kMinPoolBytes = 16ull << 20;

// Where things are on the device (all offsets and lengths multiples of 4096).
struct Layout {
  uint64_t vdev_size = 0;
  uint32_t block_size = 0;
  uint64_t ub_off = 0;
  uint32_t ub_count = 0;
  uint64_t log_off = 0, log_len = 0;
  uint64_t data_off = 0, data_len = 0;
  uint64_t label2_off = 0;
};

struct LabelPhys {
  uint64_t magic;
  uint32_t version;
  uint32_t block_size;
  uint64_t pool_guid;
  uint64_t vdev_size;
  uint64_t create_time_ns;
  uint64_t ub_off;
  uint32_t ub_count;
  uint32_t ub_slot_size;
  uint64_t log_off;
  uint64_t log_len;
  uint64_t data_off;
  uint64_t data_len;
  uint8_t reserved[kLabelSize - 88 - 16];
  zio::Checksum checksum;  // XXH3-128 of bytes [0, 4080)
};
static_assert(sizeof(LabelPhys) == kLabelSize, "a label is one 4 KiB sector");

// The layout for a new pool. log_bytes == 0 picks 1/64 of the device, clamped to
// [64 MiB, 1 GiB] and to at most 1/8 of the device. EINVAL if the device is too small or the
// block size is not a power of two in [4 KiB, 1 MiB].
Result<Layout> compute_layout(uint64_t vdev_size, uint32_t block_size, uint64_t log_bytes);

// `l` extended to a device of dev_size bytes: the last label moves to the new end and the data
// region grows up to it; nothing else moves. `l` itself if the device is not larger.
Layout grown_layout(const Layout& l, uint64_t dev_size);

struct Label {
  uint32_t version = kFormatVersion;  // of the pool: what its blocks may hold
  uint64_t pool_guid = 0;
  uint64_t create_time_ns = 0;
  Layout layout;
};

// Writes both copies, the one at the end first, each made durable before the next is written.
Status write_labels(zio::Pipeline& zio, const Label& label);

// Reads the first valid copy. ENOENT: no label at all (not a ZVFS pool). EINVAL: a label of a
// version outside [kOldestFormatVersion, kFormatVersion] or an impossible layout. EIO: labels
// present but both damaged. Every refusal is logged with the reason.
Result<Label> read_label(zio::Pipeline& zio);

// True if either copy carries the label magic (used by create to refuse an existing pool).
bool has_label(zio::Pipeline& zio);

}  // namespace zvfs::spa
