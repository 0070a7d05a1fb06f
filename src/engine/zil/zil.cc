// zil.cc — group commit, ring placement, trimming and replay of the intent log (see zil.h).
#include "engine/zil/zil.h"

#include <algorithm>
#include <cstring>

#include "common/log.h"

namespace zvfs::zil {
namespace {

constexpr uint64_t kMaxBlockBytes = 16ull << 20;  // one group commit writes at most this

// Where a block of `bytes` starting at linear position `pos` really goes (no wrapping).
uint64_t place(uint64_t pos, uint64_t bytes, uint64_t cap) {
  if (pos % cap + bytes > cap) pos = (pos / cap + 1) * cap;
  return pos;
}

}  // namespace

IntentLog::IntentLog(zio::Pipeline& zio, Region region, uint64_t pool_guid, uint64_t gen,
                     LogHead start)
    : zio_(zio), region_(region), guid_(pool_guid), gen_(gen), head_(start), tail_(start) {}

uint64_t IntentLog::used_bytes() const {
  std::lock_guard lk(mu_);
  return tail_.pos - head_.pos;
}

ZilStats IntentLog::stats() const {
  std::lock_guard lk(mu_);
  return ZilStats{records_, blocks_, bytes_written_, commits_, tail_.pos - head_.pos, region_.len};
}

LogHead IntentLog::head_for(uint64_t txg) const {
  std::lock_guard lk(mu_);
  for (const Live& l : live_) {
    if (l.max_txg > txg) return LogHead{l.pos, l.seq};
  }
  return tail_;
}

void IntentLog::trim(LogHead h) {
  std::lock_guard lk(mu_);
  if (h.pos < head_.pos) return;
  head_ = h;
  while (!live_.empty() && live_.front().pos < h.pos) live_.pop_front();
}

Status IntentLog::commit(const std::vector<dmu::ChangeRecord>& records) {
  if (records.empty()) return ok_status();
  Waiter w{&records};
  std::unique_lock lk(mu_);
  queue_.push_back(&w);
  while (!w.done) {
    if (writing_) {
      cv_.wait(lk);
      continue;
    }
    // Become the writer for everything queued (bounded by kMaxBlockBytes).
    writing_ = true;
    std::vector<Waiter*> batch;
    uint64_t bytes = 0;
    while (!queue_.empty()) {
      Waiter* q = queue_.front();
      uint64_t n = 0;
      for (const auto& r : *q->records)
        n += sizeof(LogRecordPhys) + r.name.size() + r.payload_bytes() + 8;
      if (!batch.empty() && bytes + n > kMaxBlockBytes) break;
      bytes += n;
      batch.push_back(q);
      queue_.pop_front();
    }
    lk.unlock();
    Status st = write_block(batch);
    lk.lock();
    for (Waiter* q : batch) {
      q->st = st;
      q->done = true;
    }
    writing_ = false;
    cv_.notify_all();
  }
  return w.st;
}

// Called by the single writer; mu_ not held except to reserve and publish the position.
Status IntentLog::write_block(const std::vector<Waiter*>& batch) {
  std::vector<const dmu::ChangeRecord*> recs;
  uint64_t max_txg = 0;
  for (Waiter* q : batch) {
    for (const auto& r : *q->records) {
      recs.push_back(&r);
      max_txg = std::max(max_txg, r.txg);
    }
  }
  const uint64_t bytes = encoded_block_size(recs);
  if (bytes > region_.len / 2) return make_error(ENOSPC, "log block larger than the log");
  LogHead at;
  {
    std::lock_guard lk(mu_);
    at.pos = place(tail_.pos, bytes, region_.len);
    at.seq = tail_.seq;
    if (at.pos + bytes - head_.pos > region_.len) return make_error(ENOSPC, "intent log full");
  }
  if (buf_.size() < bytes && !buf_.reset(std::max<uint64_t>(bytes, 1 << 20))) {
    return make_error(ENOMEM, "log buffer");
  }
  encode_block(BlockIdentity{guid_, gen_, at.seq}, recs, reinterpret_cast<uint8_t*>(buf_.data()),
               bytes);
  Status st = zio_.write_raw_durable(region_.off + at.pos % region_.len, buf_.data(),
                                     static_cast<uint32_t>(bytes));
  if (!st.ok()) {
    LOG_ERROR("zil", "intent log write of %llu bytes failed: %s",
              static_cast<unsigned long long>(bytes), st.error().msg);
    return make_error(EIO, "intent log write failed");
  }
  std::lock_guard lk(mu_);
  live_.push_back(Live{at.pos, bytes, at.seq, max_txg});
  tail_ = LogHead{at.pos + bytes, at.seq + 1};
  records_ += recs.size();
  blocks_++;
  bytes_written_ += bytes;
  commits_ += batch.size();
  return ok_status();
}

Result<LogHead> IntentLog::replay(zio::Pipeline& zio, Region region, uint64_t pool_guid,
                                  uint64_t gen, LogHead head, const ReplayFn& fn) {
  AlignedBuf hdr(kLogBlockAlign);
  AlignedBuf body;
  if (!hdr.data()) return make_error(ENOMEM, "log replay buffer");
  LogHead at = head;
  uint64_t blocks = 0, records = 0;
  while (at.pos - head.pos < region.len) {
    uint64_t phys = at.pos % region.len;
    BlockIdentity want{pool_guid, gen, at.seq};
    uint64_t bytes = 0;
    if (zio.read_raw(region.off + phys, hdr.data(), kLogBlockAlign).ok()) {
      bytes = check_header(hdr.data(), want, region.len - phys);
    }
    if (bytes == 0 && phys != 0) {
      // The writer skips to the ring start when a block does not fit before the end.
      uint64_t next = (at.pos / region.len + 1) * region.len;
      if (next - head.pos >= region.len) break;
      if (zio.read_raw(region.off, hdr.data(), kLogBlockAlign).ok()) {
        bytes = check_header(hdr.data(), want, region.len);
      }
      if (bytes != 0) at.pos = next;
    }
    if (bytes == 0 || at.pos + bytes - head.pos > region.len) break;
    if (body.size() < bytes && !body.reset(bytes)) return make_error(ENOMEM, "log replay buffer");
    if (!zio.read_raw(region.off + at.pos % region.len, body.data(), static_cast<uint32_t>(bytes))
             .ok()) {
      break;
    }
    auto recs = decode_block(reinterpret_cast<const uint8_t*>(body.data()), bytes);
    if (!recs.ok()) break;  // torn: this block was never acknowledged
    for (const auto& r : *recs) {
      ZVFS_TRY(fn(r));
      records++;
    }
    blocks++;
    at.pos += bytes;
    at.seq++;
  }
  LOG_INFO("zil", "replayed %llu records from %llu log blocks",
           static_cast<unsigned long long>(records), static_cast<unsigned long long>(blocks));
  return at;
}

}  // namespace zvfs::zil
