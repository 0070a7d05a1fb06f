// fault_vdev.cc — see fault_vdev.h.
//
// The cut: the unflushed writes are first undone newest to oldest (restoring each one's old
// contents gives back exactly the medium as of the last successful flush), then replayed
// oldest to newest, each kept, dropped or torn. Later writes win where they overlap earlier
// ones, as on a disk that may reorder writes but never invents data.
#include "engine/vdev/fault_vdev.h"

#include <algorithm>
#include <cstring>

#include "engine/vdev/vdev_check.h"

namespace zvfs::vdev {

FaultVdev::FaultVdev(uint64_t size, uint64_t seed)
    : FaultVdev(MemImage(size - size % kSectorSize), seed) {}

FaultVdev::FaultVdev(MemImage img, uint64_t seed)
    : size_(img.size()), img_(std::move(img)), rng_(seed), backed_(size_ / kSectorSize) {}

FaultVdev::~FaultVdev() = default;

std::unique_ptr<FaultVdev> FaultVdev::from_image(const void* data, uint64_t size, uint64_t seed) {
  auto v = std::unique_ptr<FaultVdev>(new FaultVdev(size, seed));
  if (v->img_.data() == nullptr && v->size_ != 0) return nullptr;
  std::memcpy(v->img_.data(), data, v->size_);
  return v;
}

std::string FaultVdev::describe() const {
  return "fault:" + std::to_string(size_);
}

bool FaultVdev::overlaps(const std::vector<Range>& rs, uint64_t off, uint64_t len) {
  for (const Range& r : rs)
    if (off < r.off + r.len && r.off < off + len) return true;
  return false;
}

int FaultVdev::do_write(IoReq& r) {
  uint64_t number = ++fs_.writes;
  bool injected = overlaps(bad_write_ranges_, r.off, r.len) ||
                  std::find(bad_write_numbers_.begin(), bad_write_numbers_.end(), number) !=
                      bad_write_numbers_.end();
  if (injected && number != cut_at_write_) {
    ++fs_.injected_errors;
    return -EIO;
  }
  // The host file system must give the file the blocks it writes for the first time.
  const uint64_t first = r.off / kSectorSize, last = (r.off + r.len - 1) / kSectorSize;
  if (host_left_ >= 0) {
    int64_t need = 0;
    for (uint64_t b = first; b <= last; ++b) need += backed_[b] ? 0 : kSectorSize;
    if (need > host_left_) {
      ++fs_.injected_errors;
      return -ENOSPC;
    }
    host_left_ -= need;
  }
  for (uint64_t b = first; b <= last; ++b) backed_[b] = true;
  Unflushed u;
  u.off = r.off;
  u.old_data.assign(img_.data() + r.off, img_.data() + r.off + r.len);
  u.new_data.reserve(r.len);
  for_each_segment(r, [&](std::byte* mem, uint32_t len, uint64_t) {
    u.new_data.insert(u.new_data.end(), mem, mem + len);
  });
  std::memcpy(img_.data() + r.off, u.new_data.data(), r.len);
  unflushed_.push_back(std::move(u));
  if (number == cut_at_write_) {
    cut_locked();  // the write was in flight: it meets the same fate as the unflushed ones
    return -EIO;
  }
  return static_cast<int>(r.len);
}

int FaultVdev::submit(std::span<IoReq> reqs) {
  std::lock_guard<std::mutex> g(mu_);
  for (IoReq& r : reqs) {
    int bad = check_req(r, size_);
    if (bad != 0) {
      r.result = bad;
    } else if (fs_.power_cut) {
      r.result = -EIO;
    } else if (r.op == IoReq::Op::kWrite) {
      r.result = do_write(r);
    } else if (overlaps(bad_read_ranges_, r.off, r.len)) {
      ++fs_.injected_errors;
      r.result = -EIO;
    } else {
      for_each_segment(r, [&](std::byte* mem, uint32_t len, uint64_t off) {
        std::memcpy(mem, img_.data() + off, len);
      });
      r.result = r.len;
    }
    counters_.count(r);
  }
  return batch_result(reqs.data(), reqs.size());
}

int FaultVdev::flush() {
  std::lock_guard<std::mutex> g(mu_);
  ++fs_.flushes;
  int rc = 0;
  if (fs_.power_cut) {
    rc = -EIO;
  } else if (fail_next_flush_) {
    fail_next_flush_ = false;
    ++fs_.injected_errors;
    rc = -EIO;
  } else {
    unflushed_.clear();
  }
  counters_.count_flush(rc);
  return rc;
}

void FaultVdev::cut_locked() {
  if (fs_.power_cut) return;
  fs_.power_cut = true;
  for (auto it = unflushed_.rbegin(); it != unflushed_.rend(); ++it)
    std::memcpy(img_.data() + it->off, it->old_data.data(), it->old_data.size());
  for (const Unflushed& u : unflushed_) {
    uint64_t pick = fate_ == CutFate::kRandom ? rng_() % 3 : static_cast<uint64_t>(fate_) - 1;
    switch (pick) {
      case 0:
        std::memcpy(img_.data() + u.off, u.new_data.data(), u.new_data.size());
        ++fs_.cut_kept;
        break;
      case 1:
        ++fs_.cut_dropped;
        break;
      default:
        for (size_t s = 0; s < u.new_data.size(); s += kTearSectorSize)
          if (rng_() & 1)
            std::memcpy(img_.data() + u.off + s, u.new_data.data() + s, kTearSectorSize);
        ++fs_.cut_torn;
        break;
    }
  }
  unflushed_.clear();
}

void FaultVdev::arm_power_cut_at_write(uint64_t n) {
  std::lock_guard<std::mutex> g(mu_);
  cut_at_write_ = n;
}

void FaultVdev::set_cut_fate(CutFate f) {
  std::lock_guard<std::mutex> g(mu_);
  fate_ = f;
}

void FaultVdev::cut_power() {
  std::lock_guard<std::mutex> g(mu_);
  cut_locked();
}

bool FaultVdev::power_is_cut() const {
  std::lock_guard<std::mutex> g(mu_);
  return fs_.power_cut;
}

std::unique_ptr<FaultVdev> FaultVdev::reboot(uint64_t seed) {
  std::lock_guard<std::mutex> g(mu_);
  cut_locked();
  return std::unique_ptr<FaultVdev>(new FaultVdev(std::move(img_), seed));
}

std::vector<std::byte> FaultVdev::surviving_image() {
  std::lock_guard<std::mutex> g(mu_);
  cut_locked();
  return std::vector<std::byte>(img_.data(), img_.data() + img_.size());
}

void FaultVdev::fail_write_number(uint64_t n) {
  std::lock_guard<std::mutex> g(mu_);
  bad_write_numbers_.push_back(n);
}

void FaultVdev::fail_writes_in_range(uint64_t off, uint64_t len) {
  std::lock_guard<std::mutex> g(mu_);
  bad_write_ranges_.push_back({off, len});
}

void FaultVdev::fail_reads_in_range(uint64_t off, uint64_t len) {
  std::lock_guard<std::mutex> g(mu_);
  bad_read_ranges_.push_back({off, len});
}

void FaultVdev::clear_range_failures() {
  std::lock_guard<std::mutex> g(mu_);
  bad_write_ranges_.clear();
  bad_read_ranges_.clear();
}

void FaultVdev::limit_host_space(uint64_t bytes) {
  std::lock_guard<std::mutex> g(mu_);
  host_left_ = static_cast<int64_t>(bytes);
}

void FaultVdev::unlimited_host_space() {
  std::lock_guard<std::mutex> g(mu_);
  host_left_ = -1;
}

int64_t FaultVdev::host_free_bytes() const {
  std::lock_guard<std::mutex> g(mu_);
  return host_left_;
}

void FaultVdev::fail_next_flush() {
  std::lock_guard<std::mutex> g(mu_);
  fail_next_flush_ = true;
}

void FaultVdev::flip_bits(uint64_t off, uint8_t mask) {
  std::lock_guard<std::mutex> g(mu_);
  if (off >= img_.size()) return;
  img_.data()[off] ^= std::byte{mask};
  // Bit rot is at rest: an unflushed write covering the byte would not undo it at a cut.
  for (Unflushed& u : unflushed_) {
    if (off >= u.off && off < u.off + u.old_data.size()) u.old_data[off - u.off] ^= std::byte{mask};
  }
}

bool FaultVdev::peek(uint64_t off, void* out, uint64_t len) const {
  std::lock_guard<std::mutex> g(mu_);
  if (off > img_.size() || len > img_.size() - off) return false;
  std::memcpy(out, img_.data() + off, len);
  return true;
}

uint64_t FaultVdev::write_count() const {
  std::lock_guard<std::mutex> g(mu_);
  return fs_.writes;
}

FaultStats FaultVdev::fault_stats() const {
  std::lock_guard<std::mutex> g(mu_);
  FaultStats s = fs_;
  s.unflushed_writes = unflushed_.size();
  return s;
}

}  // namespace zvfs::vdev
