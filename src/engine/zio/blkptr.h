// blkptr.h — the on-disk block pointer.
//
// Every reference from one block to another (uberblock → object directory → dnode → indirect
// blocks → data blocks, space maps, ...) is a BlockPtr. It says where the block lives, how big it
// is, when it was born, and the checksum of its contents, so a parent always verifies its child:
// a block whose contents do not match its pointer's checksum is never returned as data.
//
// Layout (64 bytes, little-endian, see docs/FORMAT.md "Block pointer"):
//   off  size  field
//     0     8  offset      byte offset on the vdev; multiple of 4096
//     8     4  vdev        vdev id (0 today; room for mirrors)
//    12     4  asize       bytes allocated on disk (multiple of 4096)
//    16     4  lsize       logical size of the block contents
//    20     4  psize       stored size (== lsize until compression exists)
//    24     1  type        BlockType
//    25     1  level       0 = data, n = indirect block n levels above data
//    26     1  comp        compression (0 = none)
//    27     1  cksum       checksum algorithm (1 = XXH3-128)
//    28     4  fill        data blocks reachable below (1 for a data block)
//    32     8  birth_txg   txg in which the block was written (snapshots/clones later)
//    40    16  checksum    XXH3-128 over the psize stored bytes (low 64, high 64)
//    56     8  reserved    zero
// A hole is the all-zero BlockPtr (birth_txg == 0).
#pragma once

#include <cstdint>
#include <cstring>

namespace zvfs::zio {

enum class BlockType : uint8_t {
  kNone = 0,
  kData = 1,      // file data
  kIndirect = 2,  // array of BlockPtr
  kDnode = 3,     // array of dnodes
  kObjDir = 4,    // object directory / blob table node
  kSpaceMap = 5,  // allocator space map
  kXattr = 6,     // blob extended attributes
  kZilBlock = 7,  // intent log block
  kOther = 8,
};

enum class ChecksumAlg : uint8_t { kNone = 0, kXxh3_128 = 1 };

struct Checksum {
  uint64_t lo = 0, hi = 0;
  bool operator==(const Checksum&) const = default;
};

struct BlockPtr {
  uint64_t offset = 0;
  uint32_t vdev = 0;
  uint32_t asize = 0;
  uint32_t lsize = 0;
  uint32_t psize = 0;
  BlockType type = BlockType::kNone;
  uint8_t level = 0;
  uint8_t comp = 0;
  ChecksumAlg cksum = ChecksumAlg::kNone;
  uint32_t fill = 0;
  uint64_t birth_txg = 0;
  Checksum checksum{};
  uint64_t reserved = 0;

  bool is_hole() const { return birth_txg == 0; }
  bool operator==(const BlockPtr&) const = default;
};
static_assert(sizeof(BlockPtr) == 64, "BlockPtr is an on-disk structure of 64 bytes");

}  // namespace zvfs::zio
