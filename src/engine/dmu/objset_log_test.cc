// objset_log_test.cc — what gather_unlogged() hands the intent log: a write's bytes as they
// were when gathered, held by reference, even while writers change the same blocks again.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "engine/dmu/objset.h"
#include "engine/vdev/vdev.h"

namespace zvfs::dmu {
namespace {

constexpr uint32_t kBs = 16 * 1024;

struct Env {
  std::unique_ptr<vdev::Vdev> dev = vdev::make_memory_vdev(64ull << 20);
  zio::Pipeline zio{*dev};
  alloc::Allocator alloc{1 << 20, 64ull << 20, 0};
  arc::Arc arc{zio, 16 << 20};
  ObjectSet os{zio, arc, alloc, kBs, ObjsetRoot{}, 1};

  std::shared_ptr<Object> new_object() {
    auto id = os.create();
    EXPECT_TRUE(id.ok());
    auto o = os.hold(*id);
    EXPECT_TRUE(o.ok());
    return *o;
  }
  void write(Object& o, uint64_t off, std::vector<uint8_t> bytes) {
    auto w = os.write(o, off, bytes.data(), bytes.size());
    ASSERT_TRUE(w.ok());
    ASSERT_EQ(*w, bytes.size());
  }
  std::vector<uint8_t> read(Object& o, uint64_t off, size_t len) {
    std::vector<uint8_t> out(len);
    auto r = os.read(o, off, out.data(), len);
    EXPECT_TRUE(r.ok());
    out.resize(r.ok() ? *r : 0);
    return out;
  }
};

std::vector<uint8_t> payload(const ChangeRecord& r) {
  std::vector<uint8_t> out(r.payload_bytes());
  r.copy_payload(out.data());
  return out;
}

const ChangeRecord* first_write(const LogBatch& b) {
  for (const auto& r : b.records)
    if (r.kind == OpKind::kWrite) return &r;
  return nullptr;
}

TEST(ObjsetLog, AGatheredWriteKeepsItsBytesWhileTheBlocksChangeAgain) {
  Env env;
  auto o = env.new_object();
  // One whole block and a piece of the next one.
  std::vector<uint8_t> first(kBs + 300);
  for (size_t i = 0; i < first.size(); i++) first[i] = static_cast<uint8_t>(i * 7 + 1);
  env.write(*o, 0, first);

  ASSERT_TRUE(env.os.begin_log(*o));
  auto batch = env.os.gather_unlogged(*o, 1 << 20);
  ASSERT_TRUE(batch.ok());
  const ChangeRecord* rec = first_write(*batch);
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->len, first.size());
  // The bytes are referenced in the dirty blocks, not copied out.
  EXPECT_TRUE(rec->data.empty());
  EXPECT_FALSE(rec->refs.empty());
  ASSERT_EQ(payload(*rec), first);

  // Before the log block is written, the same blocks change: a whole-block overwrite, a
  // partial one, and a truncate that zeroes the tail of the second block.
  env.write(*o, 0, std::vector<uint8_t>(kBs, 0xee));
  env.write(*o, 5, std::vector<uint8_t>(10, 0x11));
  env.write(*o, kBs + 100, std::vector<uint8_t>(50, 0x22));
  ASSERT_TRUE(env.os.truncate(*o, kBs + 120).ok());

  // The record still carries the bytes of its gather; readers see the new ones.
  EXPECT_EQ(payload(*rec), first);
  std::vector<uint8_t> now(kBs + 120, 0xee);
  std::memset(now.data() + 5, 0x11, 10);
  for (size_t i = kBs; i < kBs + 100; i++) now[i] = first[i];
  std::memset(now.data() + kBs + 100, 0x22, 20);
  EXPECT_EQ(env.read(*o, 0, kBs * 2), now);

  env.os.mark_logged(*o, *batch);
  env.os.end_log(*o);
}

TEST(ObjsetLog, FreedBytesOfAGatheredWriteAreZeros) {
  Env env;
  auto o = env.new_object();
  env.write(*o, 0, std::vector<uint8_t>(3 * kBs, 0x5a));
  ASSERT_TRUE(env.os.punch(*o, kBs, kBs).ok());

  ASSERT_TRUE(env.os.begin_log(*o));
  auto batch = env.os.gather_unlogged(*o, 1 << 20);
  ASSERT_TRUE(batch.ok());
  const ChangeRecord* rec = first_write(*batch);
  ASSERT_NE(rec, nullptr);
  std::vector<uint8_t> want(3 * kBs, 0x5a);
  std::memset(want.data() + kBs, 0, kBs);
  EXPECT_EQ(payload(*rec), want);
  EXPECT_EQ(batch->bytes, 3 * kBs);
  env.os.end_log(*o);
}

}  // namespace
}  // namespace zvfs::dmu
