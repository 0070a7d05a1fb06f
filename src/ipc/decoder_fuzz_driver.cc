// decoder_fuzz_driver.cc — runs the decoder's fuzz target (decoder_fuzz.cc) without libFuzzer,
// so every compiler builds it and ctest runs it in every build, the sanitizer build included.
//
// Feeds LLVMFuzzerTestOneInput a deterministic stream of inputs: random byte strings, and valid
// requests of every opcode, as they are or mutated (bits flipped, bytes overwritten, truncated,
// extended, header fields set to edge values). Each input sits in a heap buffer of exactly its
// size, so AddressSanitizer sees any read past it.
//
//   ipc_decoder_fuzz_stream [--seed N] [--inputs N] [--max-seconds S]
//
// Defaults: seed 1, 200000 inputs, at most 10 s (then it stops early and says so). The seed is
// printed first: the same seed gives the same inputs, so a crash is reproduced by re-running it.
// Exit 0; 1 if the stream never made a valid request of some opcode (it would then test only
// the rejection paths); 2 for bad arguments. A broken promise of the decoder aborts.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "ipc/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace zvfs::ipc {
namespace {

struct Rng {
  uint64_t s;
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
};

std::vector<uint16_t> known_opcodes() {
  std::vector<uint16_t> ops;
  for (int op = 0; op < kOpMax; ++op)
    if (request_body_size(static_cast<uint16_t>(op)) >= 0) ops.push_back(static_cast<uint16_t>(op));
  return ops;
}

// A valid request of `op` with a random id and body.
std::vector<uint8_t> valid_request(Rng& rng, uint16_t op) {
  MsgHeader h;
  h.opcode = op;
  h.request_id = rng.next();
  h.payload_len = static_cast<uint32_t>(request_body_size(op));
  std::vector<uint8_t> m(sizeof h + h.payload_len);
  memcpy(m.data(), &h, sizeof h);
  for (size_t i = sizeof h; i < m.size(); ++i) m[i] = static_cast<uint8_t>(rng.next());
  return m;
}

// Sets one header field of `m` (which holds at least a header) to an edge value.
void edge_header(Rng& rng, std::vector<uint8_t>* m) {
  MsgHeader h;
  memcpy(&h, m->data(), sizeof h);
  const uint32_t want = h.payload_len;
  switch (rng.below(4)) {
    case 0: {
      const uint32_t lens[] = {0,           1,           want - 1,          want + 1,
                               0xffffffffu, 0x80000000u, kMaxSocketPayload, kMaxSocketPayload + 1};
      h.payload_len = lens[rng.below(8)];
      break;
    }
    case 1: {
      const uint16_t versions[] = {0, kVersion + 1, 0xffff};
      h.version = versions[rng.below(3)];
      break;
    }
    case 2: {
      const uint16_t ops[] = {0, kOpMax, static_cast<uint16_t>(h.opcode | kReplyBit), 0xffff,
                              static_cast<uint16_t>(rng.next())};
      h.opcode = ops[rng.below(5)];
      break;
    }
    default:
      h.magic = rng.below(2) ? __builtin_bswap32(kMagic) : static_cast<uint32_t>(rng.next());
      break;
  }
  memcpy(m->data(), &h, sizeof h);
}

std::vector<uint8_t> make_input(Rng& rng, const std::vector<uint16_t>& ops) {
  const uint32_t kind = rng.below(8);
  if (kind == 0) {  // random bytes
    std::vector<uint8_t> m(rng.below(300));
    for (auto& b : m) b = static_cast<uint8_t>(rng.next());
    return m;
  }
  std::vector<uint8_t> m = valid_request(rng, ops[rng.below(static_cast<uint32_t>(ops.size()))]);
  switch (kind) {
    case 1:  // as it is
      break;
    case 2:  // bits flipped
      for (uint32_t n = 1 + rng.below(4); n > 0; --n) m[rng.below(m.size())] ^= 1u << rng.below(8);
      break;
    case 3:  // bytes overwritten
      for (uint32_t n = 1 + rng.below(4); n > 0; --n)
        m[rng.below(m.size())] = static_cast<uint8_t>(rng.next());
      break;
    case 4:  // truncated
      m.resize(rng.below(static_cast<uint32_t>(m.size())));
      break;
    case 5:  // extended
      for (uint32_t n = 1 + rng.below(64); n > 0; --n)
        m.push_back(static_cast<uint8_t>(rng.next()));
      break;
    default:  // a header field at an edge value
      edge_header(rng, &m);
      break;
  }
  return m;
}

bool parse_u64(const char* s, uint64_t* out) {
  char* end = nullptr;
  unsigned long long v = strtoull(s, &end, 10);
  if (!*s || *end) return false;
  *out = v;
  return true;
}

int run(int argc, char** argv) {
  uint64_t seed = 1, inputs = 200000, max_seconds = 10;
  for (int i = 1; i < argc; ++i) {
    uint64_t* v = !strcmp(argv[i], "--seed")          ? &seed
                  : !strcmp(argv[i], "--inputs")      ? &inputs
                  : !strcmp(argv[i], "--max-seconds") ? &max_seconds
                                                      : nullptr;
    if (!v || i + 1 >= argc || !parse_u64(argv[++i], v)) {
      fprintf(stderr, "usage: %s [--seed N] [--inputs N] [--max-seconds S]\n", argv[0]);
      return 2;
    }
  }
  printf("decoder fuzz stream: seed %llu, %llu inputs\n", static_cast<unsigned long long>(seed),
         static_cast<unsigned long long>(inputs));
  fflush(stdout);
  const std::vector<uint16_t> ops = known_opcodes();
  std::vector<uint64_t> decoded(kOpMax, 0);
  uint64_t done = 0, valid = 0;
  Rng rng{seed};
  const auto start = std::chrono::steady_clock::now();
  const auto limit = start + std::chrono::seconds(max_seconds);
  for (; done < inputs; ++done) {
    if (done % 4096 == 0 && std::chrono::steady_clock::now() > limit) {
      printf("time limit (%llu s) reached\n", static_cast<unsigned long long>(max_seconds));
      break;
    }
    std::vector<uint8_t> m = make_input(rng, ops);
    // Exactly the input's size on the heap: a read past it is a sanitizer error.
    std::unique_ptr<uint8_t[]> buf(new uint8_t[m.size() ? m.size() : 1]);
    if (!m.empty()) memcpy(buf.get(), m.data(), m.size());
    LLVMFuzzerTestOneInput(buf.get(), m.size());
    MsgHeader h;
    alignas(8) uint8_t body[64];
    if (decode_request(buf.get(), m.size(), &h, body, sizeof body).ok()) {
      ++valid;
      ++decoded[h.opcode];
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  printf("%llu inputs in %.2f s: %llu decoded, %llu rejected\n",
         static_cast<unsigned long long>(done), secs, static_cast<unsigned long long>(valid),
         static_cast<unsigned long long>(done - valid));
  int rc = 0;
  for (uint16_t op : ops) {
    if (decoded[op] != 0) continue;
    printf("no valid %s request was generated\n", op_name(static_cast<Op>(op)));
    rc = 1;
  }
  return rc;
}

}  // namespace
}  // namespace zvfs::ipc

int main(int argc, char** argv) {
  return zvfs::ipc::run(argc, argv);
}
