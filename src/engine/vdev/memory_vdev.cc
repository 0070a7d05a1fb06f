// memory_vdev.cc — a vdev held in memory, for tests and for the engine's own unit tests.
//
// Owns one zero-filled MemImage of the device's size. Requests are checked exactly as the file
// vdev checks them (alignment, bounds) so code that passes here also passes on a real device.
// Every write is "durable" at once (there is no power to cut): crash behaviour is tested with
// FaultVdev instead. A mutex serializes the copies (they take microseconds), which keeps
// overlapping concurrent requests free of data races.
#include <cstring>
#include <mutex>

#include "engine/vdev/mem_image.h"
#include "engine/vdev/vdev.h"
#include "engine/vdev/vdev_check.h"
#include "engine/vdev/vdev_counters.h"

namespace zvfs::vdev {
namespace {

class MemoryVdev final : public Vdev {
 public:
  explicit MemoryVdev(MemImage img) : img_(std::move(img)) {}

  uint64_t size() const override { return img_.size(); }

  int submit(std::span<IoReq> reqs) override {
    for (IoReq& r : reqs) {
      r.result = check_req(r, img_.size());
      if (r.result == 0) {
        std::lock_guard<std::mutex> g(mu_);
        for_each_segment(r, [&](std::byte* mem, uint32_t len, uint64_t off) {
          if (r.op == IoReq::Op::kRead)
            std::memcpy(mem, img_.data() + off, len);
          else
            std::memcpy(img_.data() + off, mem, len);
        });
        r.result = r.len;
      }
      counters_.count(r);
    }
    return batch_result(reqs.data(), reqs.size());
  }

  int flush() override {
    counters_.count_flush(0);
    return 0;
  }

  VdevStats stats() const override { return counters_.snapshot(); }
  std::string describe() const override { return "memory:" + std::to_string(img_.size()); }

 private:
  MemImage img_;
  std::mutex mu_;
  VdevCounters counters_;
};

}  // namespace

std::unique_ptr<Vdev> make_memory_vdev(uint64_t size) {
  size -= size % kSectorSize;
  MemImage img(size);
  if (size != 0 && img.data() == nullptr) return nullptr;
  return std::make_unique<MemoryVdev>(std::move(img));
}

}  // namespace zvfs::vdev
