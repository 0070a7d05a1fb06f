// main.cc — zvfs_bench_raw: the raw-device baseline of the benchmark suite (see raw_bench.h).
//
// Prints one JSON object on stdout; on a bad command line or a failed run prints what went wrong
// on stderr and exits 2 (usage) or 1 (the run failed).
#include <cstdio>
#include <cstring>

#include "raw_bench.h"
#include "raw_options.h"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      std::fputs(zvfs::bench::usage_text(), stdout);
      return 0;
    }
  }
  auto opts = zvfs::bench::parse_raw_options(argc, argv);
  if (!opts.ok()) {
    std::fprintf(stderr, "zvfs_bench_raw: %s: %s\n%s", opts.error().msg,
                 std::strerror(opts.error().code), zvfs::bench::usage_text());
    return 2;
  }
  auto rep = zvfs::bench::run_raw_bench(*opts);
  if (!rep.ok()) {
    std::fprintf(stderr, "zvfs_bench_raw: %s: %s\n", rep.error().msg,
                 std::strerror(rep.error().code));
    return 1;
  }
  std::printf("%s\n", zvfs::bench::report_json(*rep).c_str());
  return 0;
}
