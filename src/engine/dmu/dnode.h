// dnode.h — the on-disk description of one object (a blob).
//
// Dnodes are 256 bytes, packed into the blocks of the meta-object (the object directory), whose
// blocks are the pool's metadata block size m = min(block size, 16 KiB): m / 256 dnodes per
// block (16 at 4 KiB, 64 at 16 KiB); the dnode of blob id N is entry N % (m/256) of block
// N / (m/256). A free slot is all zeros,
// so a meta-object block whose dnodes are all free is stored as a hole. Dnodes carry no checksum
// of their own: the meta-object block pointer's checksum covers them.
#pragma once

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

struct DnodePhys {
  ObjType type = ObjType::kFree;
  uint8_t version = 0;
  uint8_t pad0[2] = {};
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

}  // namespace zvfs::dmu
