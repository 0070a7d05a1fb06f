// raw_options.cc — see raw_options.h.
#include "raw_options.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "common/size_text.h"

namespace zvfs::bench {

const char* mode_name(RawMode mode) {
  switch (mode) {
    case RawMode::kRandWrite:
      return "randwrite";
    case RawMode::kRandRead:
      return "randread";
    case RawMode::kSeqWrite:
      return "seqwrite";
    case RawMode::kAppend:
      return "append";
  }
  return "?";
}

const char* usage_text() {
  return "usage: zvfs_bench_raw --file PATH [--mode randwrite|randread|seqwrite|append]\n"
         "         [--bs SIZE] [--qd N] [--fdatasync] [--buffered] [--size SIZE]\n"
         "         [--seconds S] [--ops N] [--seed N] [--keep]\n"
         "         [--flush-every SIZE [--flush-overlap]]\n"
         "Drives PATH with io_uring (O_DIRECT unless --buffered) and prints one JSON object:\n"
         "ops, IOPS, MB/s and latency percentiles in microseconds. With --fdatasync each write\n"
         "is linked to an fdatasync and its latency covers both. With --flush-every an\n"
         "fdatasync follows each SIZE of completed writes, the writes stopping until it is\n"
         "done (a file system's group commit), or going on with --flush-overlap.\n";
}

Result<uint64_t> parse_size(const char* text) {
  uint64_t v = 0;
  if (!zvfs::parse_size(text, &v))
    return make_error(EINVAL, "bad size (digits, optionally followed by k, m, g or t)");
  return v;
}

namespace {

Result<RawMode> parse_mode(std::string_view s) {
  if (s == "randwrite") return RawMode::kRandWrite;
  if (s == "randread") return RawMode::kRandRead;
  if (s == "seqwrite") return RawMode::kSeqWrite;
  if (s == "append") return RawMode::kAppend;
  return make_error(EINVAL, "unknown --mode (randwrite, randread, seqwrite, append)");
}

Result<double> parse_seconds(const char* text) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v > 0) || v > 86400) {
    return make_error(EINVAL, "bad --seconds (a number in (0, 86400])");
  }
  return v;
}

Status check(const RawOptions& o) {
  if (o.path.empty()) return make_error(EINVAL, "--file is required");
  if (o.block_bytes == 0) return make_error(EINVAL, "--bs must be > 0");
  if (o.direct && o.block_bytes % 512 != 0) {
    return make_error(EINVAL, "--bs must be a multiple of 512 with O_DIRECT");
  }
  if (o.queue_depth == 0 || o.queue_depth > 1024) return make_error(EINVAL, "--qd in [1, 1024]");
  if (o.flush_every_bytes != 0 && (o.mode == RawMode::kRandRead || o.fdatasync_each)) {
    return make_error(EINVAL, "--flush-every needs a write mode without --fdatasync");
  }
  if (o.flush_overlap && o.flush_every_bytes == 0) {
    return make_error(EINVAL, "--flush-overlap needs --flush-every");
  }
  if (o.mode != RawMode::kAppend && o.file_bytes < o.block_bytes) {
    return make_error(EINVAL, "--size must hold at least one block");
  }
  return ok_status();
}

}  // namespace

Result<RawOptions> parse_raw_options(int argc, const char* const* argv) {
  RawOptions o;
  for (int i = 1; i < argc; i++) {
    std::string_view a = argv[i];
    // Flags without a value.
    if (a == "--fdatasync") {
      o.fdatasync_each = true;
      continue;
    }
    if (a == "--buffered") {
      o.direct = false;
      continue;
    }
    if (a == "--flush-overlap") {
      o.flush_overlap = true;
      continue;
    }
    if (a == "--keep") {
      o.keep_file = true;
      continue;
    }
    if (i + 1 >= argc) return make_error(EINVAL, "unknown flag or missing value");
    const char* v = argv[++i];
    if (a == "--file") {
      o.path = v;
    } else if (a == "--mode") {
      ZVFS_ASSIGN_OR_RETURN(mode, parse_mode(v));
      o.mode = mode;
    } else if (a == "--bs") {
      ZVFS_ASSIGN_OR_RETURN(bs, parse_size(v));
      if (bs > (64u << 20)) return make_error(EINVAL, "--bs at most 64m");
      o.block_bytes = static_cast<uint32_t>(bs);
    } else if (a == "--qd") {
      ZVFS_ASSIGN_OR_RETURN(qd, parse_size(v));
      if (qd > 1024) return make_error(EINVAL, "--qd in [1, 1024]");
      o.queue_depth = static_cast<uint32_t>(qd);
    } else if (a == "--size") {
      ZVFS_ASSIGN_OR_RETURN(size, parse_size(v));
      o.file_bytes = size;
    } else if (a == "--seconds") {
      ZVFS_ASSIGN_OR_RETURN(s, parse_seconds(v));
      o.seconds = s;
    } else if (a == "--ops") {
      ZVFS_ASSIGN_OR_RETURN(ops, parse_size(v));
      o.ops_max = ops;
    } else if (a == "--flush-every") {
      ZVFS_ASSIGN_OR_RETURN(every, parse_size(v));
      o.flush_every_bytes = every;
    } else if (a == "--seed") {
      ZVFS_ASSIGN_OR_RETURN(seed, parse_size(v));
      o.seed = seed;
    } else {
      return make_error(EINVAL, "unknown flag");
    }
  }
  ZVFS_TRY(check(o));
  return o;
}

}  // namespace zvfs::bench
