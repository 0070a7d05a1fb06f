// zil_test.cc — intent log: commit/replay round trip, ring wrap and trim, full ring, torn
// blocks, generations, and group commit from many threads.
#include "engine/zil/zil.h"

#include <gtest/gtest.h>

#include <thread>

#include "engine/vdev/vdev.h"
#include "engine/zil/log_format.h"

namespace zvfs::zil {
namespace {

using dmu::ChangeRecord;
using dmu::OpKind;

constexpr uint64_t kGuid = 0x1234;

ChangeRecord make_write(uint64_t txg, uint64_t blob, uint64_t off, size_t len, uint8_t fill) {
  ChangeRecord r;
  r.txg = txg;
  r.blob = blob;
  r.kind = OpKind::kWrite;
  r.off = off;
  r.len = len;
  r.size_after = off + len;
  r.data.assign(len, fill);
  return r;
}

struct Env {
  std::unique_ptr<vdev::Vdev> dev = vdev::make_memory_vdev(16ull << 20);
  zio::Pipeline zio{*dev};
  Region region{1 << 20, 64 << 10};  // a small ring: 64 KiB

  std::vector<ChangeRecord> replay(uint64_t gen, LogHead head, LogHead* end = nullptr) {
    std::vector<ChangeRecord> out;
    auto r = IntentLog::replay(zio, region, kGuid, gen, head, [&](const ChangeRecord& c) {
      out.push_back(c);
      return ok_status();
    });
    EXPECT_TRUE(r.ok());
    if (end && r.ok()) *end = *r;
    return out;
  }
};

// The encoder writes every byte of the block: over a buffer full of junk it produces the same
// block (and checksum) as over zeros, with zeros in the padding between and after records.
TEST(Zil, EncodingDoesNotDependOnTheBuffer) {
  ChangeRecord a = make_write(3, 7, 100, 5, 0xaa);  // 5 data bytes: 3 bytes of record padding
  ChangeRecord b;
  b.txg = 3;
  b.blob = 7;
  b.kind = OpKind::kXattrSet;
  b.name = "user.x";  // 6 + 1 bytes: 1 byte of padding
  b.data = {1};
  std::vector<const ChangeRecord*> recs{&a, &b};
  const uint64_t bytes = encoded_block_size(recs);
  ASSERT_EQ(bytes % kLogBlockAlign, 0u);
  std::vector<uint8_t> zeros(bytes, 0), junk(bytes, 0x5c);
  BlockIdentity id{kGuid, 1, 9};
  encode_block(id, recs, zeros.data(), bytes);
  encode_block(id, recs, junk.data(), bytes);
  EXPECT_EQ(zeros, junk);
  auto back = decode_block(junk.data(), bytes);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].data, a.data);
  EXPECT_EQ((*back)[1].name, b.name);
  // Past the records, the block is zero to its end.
  const uint64_t used = sizeof(LogBlockHeader) + 2 * sizeof(LogRecordPhys) + 8 + 8;
  for (uint64_t i = used; i < bytes; i++) ASSERT_EQ(junk[i], 0) << i;
}

TEST(Zil, CommitThenReplay) {
  Env env;
  IntentLog log(env.zio, env.region, kGuid, 7, LogHead{});
  std::vector<ChangeRecord> a = {make_write(3, 1, 0, 100, 0xaa)};
  ChangeRecord x;
  x.txg = 3;
  x.blob = 2;
  x.kind = OpKind::kXattrSet;
  x.name = "user.k";
  x.data = {1, 2, 3};
  ChangeRecord t;
  t.txg = 4;
  t.blob = 1;
  t.kind = OpKind::kTruncate;
  t.off = 50;
  std::vector<ChangeRecord> b = {x, t};
  ASSERT_TRUE(log.commit(a).ok());
  ASSERT_TRUE(log.commit(b).ok());
  LogHead end;
  auto got = env.replay(7, LogHead{}, &end);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].data, a[0].data);
  EXPECT_EQ(got[0].off, 0u);
  EXPECT_EQ(got[1].name, "user.k");
  EXPECT_EQ(got[1].data, x.data);
  EXPECT_EQ(got[2].kind, OpKind::kTruncate);
  EXPECT_EQ(got[2].off, 50u);
  EXPECT_EQ(end.seq, 3u);
  EXPECT_EQ(end.pos, log.stats().used_bytes);
  // Another generation sees nothing.
  EXPECT_TRUE(env.replay(8, LogHead{}).empty());
}

TEST(Zil, RingWrapsTrimsAndFills) {
  Env env;
  IntentLog log(env.zio, env.region, kGuid, 1, LogHead{});
  // 20 KiB blocks in a 64 KiB ring: without trimming the fourth does not fit.
  for (int i = 0; i < 3; i++) ASSERT_TRUE(log.commit({make_write(10 + i, 1, 0, 20000, 1)}).ok());
  Status full = log.commit({make_write(13, 1, 0, 20000, 1)});
  EXPECT_EQ(full.code(), ENOSPC);
  // txg 10 is durable: the first block is obsolete.
  LogHead h = log.head_for(10);
  EXPECT_EQ(h.seq, 2u);
  log.trim(h);
  ASSERT_TRUE(log.commit({make_write(13, 1, 0, 20000, 4)}).ok());  // wraps to the ring start
  for (uint64_t txg = 11; txg < 40; txg++) {
    log.trim(log.head_for(txg));
    ASSERT_TRUE(log.commit({make_write(txg + 3, 1, txg, 20000, static_cast<uint8_t>(txg))}).ok())
        << txg;
  }
  LogHead head = log.head_for(39);
  auto got = env.replay(1, head);
  ASSERT_EQ(got.size(), 3u);  // txgs 40, 41, 42 are still needed
  EXPECT_EQ(got[0].txg, 40u);
  EXPECT_EQ(got[2].txg, 42u);
  EXPECT_EQ(got[2].data[0], 39);
}

TEST(Zil, TornBlockEndsTheLog) {
  Env env;
  IntentLog log(env.zio, env.region, kGuid, 1, LogHead{});
  ASSERT_TRUE(log.commit({make_write(2, 1, 0, 5000, 1)}).ok());
  uint64_t second = log.stats().used_bytes;
  ASSERT_TRUE(log.commit({make_write(2, 1, 0, 5000, 2)}).ok());
  ASSERT_TRUE(log.commit({make_write(2, 1, 0, 5000, 3)}).ok());
  // Tear the second block: one sector of it is lost.
  AlignedBuf junk(4096);
  std::memset(junk.data(), 0x5c, 4096);
  ASSERT_TRUE(env.zio.write_raw(env.region.off + second + 4096, junk.data(), 4096).ok());
  auto got = env.replay(1, LogHead{});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].data[0], 1);
}

TEST(Zil, GroupCommitFromManyThreads) {
  Env env;
  env.region.len = 8 << 20;
  IntentLog log(env.zio, env.region, kGuid, 1, LogHead{});
  constexpr int kThreads = 8, kEach = 40;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; i++) {
        ASSERT_TRUE(log.commit({make_write(5, t + 1, i * 100, 100, static_cast<uint8_t>(i))}).ok());
      }
    });
  }
  for (auto& t : ts) t.join();
  auto st = log.stats();
  EXPECT_EQ(st.commits, uint64_t{kThreads * kEach});
  EXPECT_LE(st.blocks, st.commits);
  auto got = env.replay(1, LogHead{});
  ASSERT_EQ(got.size(), size_t{kThreads * kEach});
  // Per blob, records come back in the order they were committed.
  std::vector<int> next(kThreads + 1, 0);
  for (const auto& r : got) {
    ASSERT_EQ(r.off, uint64_t(next[r.blob]) * 100);
    next[r.blob]++;
  }
}

}  // namespace
}  // namespace zvfs::zil
