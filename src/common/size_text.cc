// size_text.cc — see size_text.h.
#include "common/size_text.h"

namespace zvfs {

bool parse_size(const char* s, uint64_t* out) {
  if (!s || !*s) return false;
  uint64_t v = 0;
  const char* p = s;
  for (; *p >= '0' && *p <= '9'; ++p) {
    uint64_t d = static_cast<uint64_t>(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (p == s) return false;
  int shift = 0;
  switch (*p) {
    case '\0':
      break;
    case 'k':
    case 'K':
      shift = 10;
      break;
    case 'm':
    case 'M':
      shift = 20;
      break;
    case 'g':
    case 'G':
      shift = 30;
      break;
    case 't':
    case 'T':
      shift = 40;
      break;
    default:
      return false;
  }
  if (*p) {
    ++p;
    if (*p == 'i') ++p;
    if (*p == 'B' || *p == 'b') ++p;
    if (*p) return false;
  }
  if (shift && v > (UINT64_MAX >> shift)) return false;
  *out = v << shift;
  return true;
}

}  // namespace zvfs
