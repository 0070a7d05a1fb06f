// dnode.h — the on-disk description of one object (a blob).
//
// Dnodes are 256 bytes, packed 64 to a 16 KiB block of the meta-object (the object directory);
// the dnode of blob id N is entry N % 64 of meta-object block N / 64. A free slot is all zeros,
// so a meta-object block whose dnodes are all free is stored as a hole. Dnodes carry no checksum
// of their own: the meta-object block pointer's checksum covers them.
#pragma once

#include <cstdint>

#include "engine/zio/blkptr.h"

namespace zvfs::dmu {

inline constexpr uint32_t kDnodeSize = 256;
inline constexpr uint32_t kMetaBlockSize = 16384;
inline constexpr uint32_t kDnodesPerBlock = kMetaBlockSize / kDnodeSize;  // 64
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
  zio::BlockPtr xattr{};  // extended attributes block (hole = none)
  uint64_t reserved1[8] = {};
};
static_assert(sizeof(DnodePhys) == kDnodeSize, "dnode is 256 bytes on disk");

}  // namespace zvfs::dmu
