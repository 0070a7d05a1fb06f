// dnode.h — the on-disk description of one object (a blob).
//
// Dnodes are 256 bytes, packed into the blocks of the meta-object (the object directory), whose
// blocks are the pool's metadata block size m = min(block size, 16 KiB): m / 256 dnodes per
// block (16 at 4 KiB, 64 at 16 KiB); the dnode of blob id N is entry N % (m/256) of block
// N / (m/256). A free slot is all zeros,
// so a meta-object block whose dnodes are all free is stored as a hole. Dnodes carry no checksum
// of their own: the meta-object block pointer's checksum covers them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/zio/blkptr.h"

namespace zvfs::dmu {

inline constexpr uint32_t kDnodeSize = 256;
// The metadata block size of a pool (indirect, dnode and xattr blocks).
inline uint32_t meta_block_size(uint32_t block_size) {
  return block_size < 16384 ? block_size : 16384;
}
inline constexpr uint8_t kDnodeVersion = 1;

enum class ObjType : uint8_t { kFree = 0, kBlob = 1 };

// flags: the xattr stream is stored in the dnode itself, in bytes [128, 256) (where the xattr
// tree pointer and the reserved tail would be), xattr_bytes long. Format-2 pools only.
inline constexpr uint8_t kDnodeXattrInline = 1;
inline constexpr uint32_t kDnodeXattrInlineOffset = 128;
inline constexpr uint32_t kInlineXattrMax = 128;

struct DnodePhys {
  ObjType type = ObjType::kFree;
  uint8_t version = 0;
  uint8_t flags = 0;  // kDnodeXattrInline
  uint8_t pad0 = 0;
  uint32_t block_size = 0;  // data block size of this object
  uint64_t id = 0;          // self-check: the slot's blob id
  uint64_t size = 0;        // logical size in bytes
  uint64_t create_txg = 0;
  uint64_t modify_txg = 0;
  uint64_t xattr_bytes = 0;  // serialized size of the xattr block (0 = none)
  uint64_t reserved0[2] = {};
  zio::BlockPtr root{};   // data tree: hole (empty), a data block (level 0) or an indirect
  zio::BlockPtr xattr{};  // extended attributes: a tree of metadata-size blocks (hole = none)
  uint64_t reserved1[8] = {};
};
static_assert(sizeof(DnodePhys) == kDnodeSize, "dnode is 256 bytes on disk");
static_assert(offsetof(DnodePhys, xattr) == kDnodeXattrInlineOffset &&
                  kDnodeXattrInlineOffset + kInlineXattrMax == kDnodeSize,
              "an inline xattr stream fills the dnode from the xattr pointer on");

inline bool xattr_inline(const DnodePhys& dn) {
  return (dn.flags & kDnodeXattrInline) != 0;
}
// The dnode's xattr tree: a hole when the stream is inline (or there is none).
inline zio::BlockPtr xattr_tree(const DnodePhys& dn) {
  return xattr_inline(dn) ? zio::BlockPtr{} : dn.xattr;
}
// The inline stream's bytes (kInlineXattrMax of room).
inline const uint8_t* inline_xattr(const DnodePhys& dn) {
  return reinterpret_cast<const uint8_t*>(&dn) + kDnodeXattrInlineOffset;
}
inline uint8_t* inline_xattr(DnodePhys& dn) {
  return reinterpret_cast<uint8_t*>(&dn) + kDnodeXattrInlineOffset;
}

// What every reader checks of a blob's dnode before trusting it: its slot's id, the known
// version and flags, the pool's block size, and an inline xattr length that fits.
inline bool dnode_consistent(const DnodePhys& dn, uint64_t id, uint32_t block_size) {
  if (dn.id != id || dn.version != kDnodeVersion || dn.block_size != block_size) return false;
  if ((dn.flags & ~kDnodeXattrInline) != 0) return false;
  return !xattr_inline(dn) || (dn.xattr_bytes > 0 && dn.xattr_bytes <= kInlineXattrMax);
}

}  // namespace zvfs::dmu
