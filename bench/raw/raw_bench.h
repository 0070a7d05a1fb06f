// raw_bench.h — the raw-device baseline: a plain file driven by io_uring at a fixed queue depth.
//
// This is the physical limit the benchmark suite holds ZVFS against: the same block size, the
// same queue depth, the same durability (an fdatasync linked after each write when asked), on a
// plain file of the same disk, with no file system work beyond what the mode itself implies
// (random and sequential writes overwrite a prefilled file, so no block allocation happens while
// measuring; appends extend the file, as a write-ahead log does).
//
// Every block written carries its own offset in its first 8 bytes; every read checks it, so a
// read of a hole or of the wrong block is an error, never a fast result. Any failed or short I/O
// stops the run and is returned as an Error with the kernel's errno.
// The file is created (truncated) at the start and removed at the end unless keep_file is set.
#pragma once

#include <cstdint>
#include <string>

#include "latency.h"
#include "raw_options.h"
#include "zvfs/status.h"

namespace zvfs::bench {

struct RawReport {
  RawOptions options;
  uint64_t ops = 0;    // completed operations (a write+fdatasync chain counts once)
  uint64_t bytes = 0;  // bytes moved by those operations
  double seconds = 0;  // from the first submission to the last completion
  double iops = 0;
  double mb_per_s = 0;                 // 10^6 bytes per second
  LatencySummary latency;              // per operation, submission to completion
  uint64_t flushes = 0;                // --flush-every: fdatasyncs completed...
  double flush_mean_us = 0;            // ...their mean latency...
  uint64_t writes_beside_flushes = 0;  // ...and the writes issued while one was in flight
};

Result<RawReport> run_raw_bench(const RawOptions& options);

// One JSON object on one line (no trailing newline).
std::string report_json(const RawReport& report);

}  // namespace zvfs::bench
