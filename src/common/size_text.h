// size_text.h — sizes as users write them on command lines and in configuration files.
//
// One grammar everywhere a size is read (zvfsd --size/--cache/--slot-size, zvfs create, the
// configuration file, the raw-device benchmark): decimal digits, then optionally K, M, G or T
// (either case, powers of 1024), optionally followed by "i" and then "B" or "b" ("8G", "8GiB",
// "256mb", "4096"). Anything else, or a value that does not fit in 64 bits, is refused.
#pragma once

#include <cstdint>

namespace zvfs {

// Parses s into *out. Returns false (and leaves *out alone) on garbage or overflow.
bool parse_size(const char* s, uint64_t* out);

}  // namespace zvfs
