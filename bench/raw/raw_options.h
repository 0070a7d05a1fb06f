// raw_options.h — what one run of the raw-device baseline does, and its command line.
//
// The baseline drives a plain file with io_uring, by default with O_DIRECT, the way the
// physical device would be driven by the best possible user-space engine at the same queue
// depth. Parsing never aborts: a bad flag or value is an Error whose message says which.
#pragma once

#include <cstdint>
#include <string>

#include "zvfs/status.h"

namespace zvfs::bench {

enum class RawMode {
  kRandWrite,  // overwrite random aligned blocks of a prefilled file
  kRandRead,   // read random aligned blocks of a prefilled file
  kSeqWrite,   // overwrite a prefilled file front to back, wrapping around
  kAppend,     // extend an empty file block by block
};

struct RawOptions {
  std::string path;  // the file to drive (created; removed unless keep_file)
  RawMode mode = RawMode::kRandWrite;
  uint32_t block_bytes = 4096;  // multiple of 512 with O_DIRECT
  uint32_t queue_depth = 1;     // operations (or write+fdatasync chains) in flight
  bool fdatasync_each = false;  // each write is followed by an fdatasync (linked SQE)
  // An fdatasync after every flush_every_bytes of completed writes (0: none), as a file system
  // that commits in groups issues: with flush_overlap the writes go on meanwhile, else they
  // stop until it completes (the writes in flight complete first, since a flush covers only
  // completed writes). Write modes without fdatasync_each only.
  uint64_t flush_every_bytes = 0;
  bool flush_overlap = false;
  bool direct = true;                  // O_DIRECT; false: buffered through the page cache
  uint64_t file_bytes = 256ull << 20;  // working set of the random and sequential modes
  double seconds = 5.0;                // stop issuing after this long...
  uint64_t ops_max = 0;                // ...or after this many operations (0: no count bound)
  uint64_t seed = 1;                   // random offsets are reproducible
  bool keep_file = false;
};

const char* mode_name(RawMode mode);

// Parses "4096", "4k", "16K", "1m", "256M", "2g" (powers of 1024). Rejects overflow and junk.
Result<uint64_t> parse_size(const char* text);

// Parses the command line (argv[0] is the program). The usage text is usage_text().
Result<RawOptions> parse_raw_options(int argc, const char* const* argv);
const char* usage_text();

}  // namespace zvfs::bench
