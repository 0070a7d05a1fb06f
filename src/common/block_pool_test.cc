// block_pool_test.cc — the block pool's promises: alignment, reuse of freed buffers of the same
// size (no new memory from the kernel), sizes kept apart, large sizes outside the pool, and
// buffers intact under concurrent use.
#include "common/block_pool.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "common/aligned_buf.h"

namespace zvfs {
namespace {

bool aligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % block_pool::kUnit == 0;
}

TEST(BlockPool, BuffersAreAlignedAndReused) {
  std::vector<void*> first;
  for (int i = 0; i < 100; i++) {
    void* p = block_pool::take(16384);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(aligned(p));
    std::memset(p, i, 16384);  // the whole buffer is usable
    first.push_back(p);
  }
  block_pool::settle();  // a refill the takes started lands below what they give back
  EXPECT_EQ(std::set<void*>(first.begin(), first.end()).size(), first.size());
  for (void* p : first) block_pool::give(p, 16384);
  if (!block_pool::pooling()) return;  // AddressSanitizer build: aligned_alloc'd buffers
  const uint64_t mapped = block_pool::stats().mapped_bytes;
  std::set<void*> again;
  for (int i = 0; i < 100; i++) again.insert(block_pool::take(16384));
  EXPECT_EQ(again, std::set<void*>(first.begin(), first.end())) << "freed buffers come back";
  EXPECT_EQ(block_pool::stats().mapped_bytes, mapped) << "no new memory for reused sizes";
  for (void* p : again) block_pool::give(p, 16384);
}

// Taking buffers until a size's list runs low makes the background refiller carve the next
// chunk with its pages already present, so later takes neither map nor fault.
TEST(BlockPool, RefillerCarvesPrefaultedChunksAheadOfDemand) {
  if (!block_pool::pooling()) GTEST_SKIP() << "AddressSanitizer build: no pool to refill";
  constexpr size_t kSize = 12288;  // a size no other test uses: its list starts empty
  const size_t per_chunk = (2u << 20) / kSize;
  const uint64_t before = block_pool::stats().mapped_bytes;
  std::vector<void*> held;
  for (size_t i = 0; i < per_chunk / 2 + 1; i++) held.push_back(block_pool::take(kSize));
  block_pool::settle();
  const uint64_t after = block_pool::stats().mapped_bytes;
  EXPECT_EQ(after - before, 2 * per_chunk * kSize) << "the first chunk and one refill";
  // The next buffer comes from the refilled chunk: resident before anyone touched it.
  void* p = block_pool::take(kSize);
  held.push_back(p);
  unsigned char vec[3] = {};
  ASSERT_EQ(mincore(p, kSize, vec), 0);
  for (unsigned char v : vec) EXPECT_TRUE(v & 1) << "a refilled page was not populated";
  for (void* q : held) block_pool::give(q, kSize);
}

TEST(BlockPool, SizesAreKeptApartAndLargeOnesBypassThePool) {
  void* a = block_pool::take(4096);
  void* b = block_pool::take(8192);
  void* big = block_pool::take(block_pool::kMaxPooled + 4096);
  ASSERT_TRUE(a && b && big);
  EXPECT_TRUE(aligned(a) && aligned(b) && aligned(big));
  std::memset(big, 7, block_pool::kMaxPooled + 4096);
  block_pool::give(a, 4096);
  block_pool::give(b, 8192);
  block_pool::give(big, block_pool::kMaxPooled + 4096);
  if (!block_pool::pooling()) return;
  EXPECT_EQ(block_pool::take(8192), b);  // the 8 KiB list, not the 4 KiB one
  EXPECT_EQ(block_pool::take(4096), a);
  block_pool::give(a, 4096);
  block_pool::give(b, 8192);
}

TEST(BlockPool, AlignedBufZeroFillsReusedMemory) {
  AlignedBuf a(16384);
  std::memset(a.data(), 0xab, a.size());
  a.reset(0);
  AlignedBuf b(16384);  // may be the same memory
  for (size_t i = 0; i < b.size(); i++) ASSERT_EQ(b.data()[i], std::byte{0}) << i;
  AlignedBuf c(100);  // rounded up inside, the size it was asked for outside
  EXPECT_EQ(c.size(), 100u);
  AlignedBuf d = std::move(c);
  EXPECT_EQ(c.data(), nullptr);
  EXPECT_EQ(d.size(), 100u);
}

TEST(BlockPool, ACallerThatCarvesPopulatesItsChunk) {
  if (!block_pool::pooling()) GTEST_SKIP() << "AddressSanitizer build: no pool to carve";
  constexpr size_t kSize = 20480;         // a size no other test uses: its list starts empty
  void* first = block_pool::take(kSize);  // carved by this caller: the refiller had nothing
  ASSERT_NE(first, nullptr);
  // The next buffer of that chunk, which nobody has touched: its pages are already resident,
  // so the write that takes it does not fault them in one by one.
  void* next = block_pool::take(kSize);
  ASSERT_NE(next, nullptr);
  unsigned char vec[kSize / 4096] = {};
  ASSERT_EQ(mincore(next, kSize, vec), 0);
  for (unsigned char v : vec) EXPECT_TRUE(v & 1) << "a page of a carved chunk was not populated";
  block_pool::give(first, kSize);
  block_pool::give(next, kSize);
}

TEST(BlockPool, ConcurrentUseKeepsEveryBufferIntact) {
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; t++) {
    ts.emplace_back([t, &bad] {
      std::vector<AlignedBuf> held;
      for (int i = 0; i < 3000; i++) {
        AlignedBuf b;
        if (!b.reset(4096 * (1 + (i + t) % 4), false)) {
          bad++;
          return;
        }
        std::memset(b.data(), t * 31 + i % 200, b.size());
        held.push_back(std::move(b));
        if (held.size() > 50) {
          for (size_t k = 0; k < held.size(); k++) {
            const auto& h = held[k];
            for (size_t j = 0; j < h.size(); j += 512)
              if (h.data()[j] != h.data()[0]) bad++;
          }
          held.erase(held.begin(), held.begin() + 25);
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace zvfs
