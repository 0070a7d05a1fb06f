// raw_bench.cc — see raw_bench.h.
//
// The loop keeps queue_depth slots busy. A slot issues one read or write SQE, or with
// fdatasync_each a write SQE linked (IOSQE_IO_LINK) to an fsync SQE with IORING_FSYNC_DATASYNC;
// its operation completes with its last CQE. user_data = slot index * 2 + stage (0: the read or
// write, 1: the fdatasync). A slot is refilled as soon as it completes while the time and count
// bounds allow, then the loop drains whatever is still in flight.
// With flush_every_bytes an fdatasync SQE (user_data kFlushTag) follows each such amount of
// writes, and one the run's last writes. Without flush_overlap the writes go in groups of that
// many bytes: a group's writes are issued, complete, then its fdatasync runs alone, and slots
// wait in idle_ meanwhile (a group commit); with it the fdatasync is issued once that many
// bytes completed since the last one began, and the writes go on beside it.
#include "raw_bench.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/aligned_buf.h"

namespace zvfs::bench {
namespace {

constexpr size_t kLatencySamplesMax = 4'000'000;
constexpr size_t kPrefillChunkBytes = 1u << 20;
constexpr uint64_t kFlushTag = ~uint64_t{0};

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// xorshift64*: cheap, reproducible offsets and incompressible fill.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dull;
  }
};

void fill_random(std::byte* p, size_t n, Rng& rng) {
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng.next();
    std::memcpy(p + i, &v, 8);
  }
}

// The first 8 bytes of every block written name the block's offset; the next 8 a serial.
void stamp(std::byte* block, uint64_t off, uint64_t serial) {
  std::memcpy(block, &off, 8);
  std::memcpy(block + 8, &serial, 8);
}

uint64_t tag_of(const std::byte* block) {
  uint64_t v = 0;
  std::memcpy(&v, block, 8);
  return v;
}

class File {
 public:
  File(std::string path, bool keep) : path_(std::move(path)), keep_(keep) {}
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() {
    if (fd_ >= 0) close(fd_);
    if (fd_ >= 0 && !keep_) unlink(path_.c_str());
  }
  Status open_fresh(bool direct) {
    int flags = O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0);
    fd_ = ::open(path_.c_str(), flags, 0644);
    if (fd_ < 0) {
      return make_error(errno, direct ? "open(O_DIRECT) of the bench file failed"
                                      : "open of the bench file failed");
    }
    return ok_status();
  }
  int fd() const { return fd_; }

 private:
  std::string path_;
  bool keep_;
  int fd_ = -1;
};

// Writes the working set once, every block stamped, then makes it durable.
Status prefill(int fd, uint64_t file_bytes, uint32_t bs, Rng& rng) {
  size_t chunk = std::max<size_t>(bs, kPrefillChunkBytes / bs * bs);
  AlignedBuf buf(chunk);
  if (buf.data() == nullptr) return make_error(ENOMEM, "prefill buffer");
  fill_random(buf.data(), chunk, rng);
  uint64_t end = file_bytes / bs * bs;
  for (uint64_t off = 0; off < end;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, end - off));
    for (size_t b = 0; b < n; b += bs) stamp(buf.data() + b, off + b, 0);
    ssize_t w = pwrite(fd, buf.data(), n, static_cast<off_t>(off));
    if (w < 0) return make_error(errno, "prefill write failed");
    if (static_cast<size_t>(w) != n) return make_error(EIO, "prefill write was short");
    off += n;
  }
  if (fdatasync(fd) != 0) return make_error(errno, "prefill fdatasync failed");
  return ok_status();
}

struct Slot {
  AlignedBuf buf;
  uint64_t off = 0;
  uint64_t start_ns = 0;
};

class Runner {
 public:
  Runner(const RawOptions& o, int fd) : o_(o), fd_(fd), rng_(o.seed), lat_(kLatencySamplesMax) {}
  ~Runner() {
    if (ring_ready_) io_uring_queue_exit(&ring_);
  }

  Result<RawReport> run();

 private:
  bool may_issue(uint64_t t) const {
    return first_error_.code == 0 && (o_.ops_max == 0 || issued_ < o_.ops_max) && t < deadline_ns_;
  }
  uint64_t next_offset();
  void issue(uint32_t slot_index, uint64_t t);
  void complete(uint32_t slot_index, uint64_t t);
  // --flush-every: whether a write may go now (without overlap, not while a flush runs nor
  // beyond the group's bytes), the fdatasync when it is due, and its completion.
  bool may_write(uint64_t t) const;
  void maybe_flush(uint64_t t);
  void issue_flush(uint64_t t);
  void flush_done(int res, uint64_t t);
  void note_error(int code, const char* msg) {
    if (first_error_.code == 0) first_error_ = Error{code, msg};
  }

  const RawOptions& o_;
  int fd_;
  Rng rng_;
  LatencyRecorder lat_;
  io_uring ring_{};
  bool ring_ready_ = false;
  std::vector<Slot> slots_;
  uint64_t deadline_ns_ = 0;
  uint64_t issued_ = 0;
  uint64_t completed_ = 0;
  uint64_t inflight_ = 0;
  uint64_t next_seq_off_ = 0;
  uint64_t unflushed_ = 0;     // bytes of writes completed since the last fdatasync began
  uint64_t group_issued_ = 0;  // bytes of writes issued since then
  bool flush_inflight_ = false;
  uint64_t flush_start_ns_ = 0;
  uint64_t flushes_ = 0;
  uint64_t flush_ns_ = 0;
  uint64_t beside_flush_ = 0;
  std::vector<uint32_t> idle_;  // slots held back while a flush is due or running
  Error first_error_{0, ""};
};

uint64_t Runner::next_offset() {
  uint64_t bs = o_.block_bytes;
  uint64_t blocks = o_.file_bytes / bs;
  switch (o_.mode) {
    case RawMode::kRandWrite:
    case RawMode::kRandRead:
      return rng_.next() % blocks * bs;
    case RawMode::kSeqWrite: {
      if (next_seq_off_ + bs > blocks * bs) next_seq_off_ = 0;
      uint64_t off = next_seq_off_;
      next_seq_off_ += bs;
      return off;
    }
    case RawMode::kAppend: {
      uint64_t off = next_seq_off_;
      next_seq_off_ += bs;
      return off;
    }
  }
  return 0;
}

void Runner::issue(uint32_t i, uint64_t t) {
  Slot& s = slots_[i];
  s.off = next_offset();
  s.start_ns = t;
  bool write = o_.mode != RawMode::kRandRead;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (write) {
    stamp(s.buf.data(), s.off, issued_ + 1);
    io_uring_prep_write(sqe, fd_, s.buf.data(), o_.block_bytes, s.off);
  } else {
    io_uring_prep_read(sqe, fd_, s.buf.data(), o_.block_bytes, s.off);
  }
  io_uring_sqe_set_data64(sqe, uint64_t{i} * 2);
  if (write && o_.fdatasync_each) {
    sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe* fs = io_uring_get_sqe(&ring_);
    io_uring_prep_fsync(fs, fd_, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(fs, uint64_t{i} * 2 + 1);
  }
  issued_++;
  inflight_++;
  group_issued_ += o_.block_bytes;
  if (flush_inflight_) beside_flush_++;
}

void Runner::complete(uint32_t i, uint64_t t) {
  lat_.add(t - slots_[i].start_ns);
  completed_++;
  inflight_--;
  if (o_.flush_every_bytes == 0) {
    if (may_issue(t)) issue(i, t);
    return;
  }
  unflushed_ += o_.block_bytes;
  if (may_write(t)) {
    issue(i, t);
  } else {
    idle_.push_back(i);
  }
  maybe_flush(t);
}

bool Runner::may_write(uint64_t t) const {
  if (!may_issue(t)) return false;
  if (o_.flush_every_bytes == 0 || o_.flush_overlap) return true;
  return !flush_inflight_ && group_issued_ < o_.flush_every_bytes;
}

void Runner::maybe_flush(uint64_t t) {
  if (flush_inflight_ || unflushed_ == 0) return;
  const bool last = inflight_ == 0 && !may_issue(t);  // the run's tail gets its flush too
  if (o_.flush_overlap) {
    if (unflushed_ >= o_.flush_every_bytes || last) issue_flush(t);
  } else if (inflight_ == 0 && (group_issued_ >= o_.flush_every_bytes || last)) {
    issue_flush(t);
  }
}

void Runner::issue_flush(uint64_t t) {
  io_uring_sqe* fs = io_uring_get_sqe(&ring_);
  io_uring_prep_fsync(fs, fd_, IORING_FSYNC_DATASYNC);
  io_uring_sqe_set_data64(fs, kFlushTag);
  flush_inflight_ = true;
  unflushed_ = 0;
  group_issued_ = 0;
  flush_start_ns_ = t;
}

void Runner::flush_done(int res, uint64_t t) {
  if (res < 0) note_error(-res, "fdatasync failed");
  flush_inflight_ = false;
  flushes_++;
  flush_ns_ += t - flush_start_ns_;
  while (!idle_.empty() && may_write(t)) {
    uint32_t i = idle_.back();
    idle_.pop_back();
    issue(i, t);
  }
  maybe_flush(t);
}

Result<RawReport> Runner::run() {
  // Two SQEs per slot when writes are linked to an fdatasync; one for a --flush-every one.
  int r = io_uring_queue_init(o_.queue_depth * 2 + 1, &ring_, 0);
  if (r < 0) return make_error(-r, "io_uring_queue_init failed");
  ring_ready_ = true;
  slots_.resize(o_.queue_depth);
  for (Slot& s : slots_) {
    if (!s.buf.reset(o_.block_bytes)) return make_error(ENOMEM, "slot buffer");
    fill_random(s.buf.data(), o_.block_bytes, rng_);
  }

  uint64_t start = now_ns();
  deadline_ns_ = start + static_cast<uint64_t>(o_.seconds * 1e9);
  for (uint32_t i = 0; i < o_.queue_depth; i++) {
    if (may_write(start)) {
      issue(i, start);
    } else {
      idle_.push_back(i);
    }
  }
  uint64_t last = start;
  while (inflight_ > 0 || flush_inflight_) {
    r = io_uring_submit_and_wait(&ring_, 1);
    if (r < 0 && r != -EINTR) {
      // Nothing more can complete reliably; report what the ring said.
      return make_error(-r, "io_uring_submit_and_wait failed");
    }
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0, seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      seen++;
      uint64_t ud = io_uring_cqe_get_data64(cqe);
      if (ud == kFlushTag) {
        last = now_ns();
        flush_done(cqe->res, last);
        continue;
      }
      auto i = static_cast<uint32_t>(ud / 2);
      bool fsync_stage = (ud % 2) == 1;
      int res = cqe->res;
      last = now_ns();
      if (fsync_stage) {
        if (res < 0) note_error(-res, "fdatasync failed");
        complete(i, last);
        continue;
      }
      if (res < 0) {
        note_error(-res, o_.mode == RawMode::kRandRead ? "read failed" : "write failed");
      } else if (static_cast<uint32_t>(res) != o_.block_bytes) {
        note_error(EIO, "short read or write");
      } else if (o_.mode == RawMode::kRandRead && tag_of(slots_[i].buf.data()) != slots_[i].off) {
        note_error(EIO, "read returned a block that does not carry its offset");
      }
      // A write linked to an fdatasync completes with the fdatasync's CQE (which the kernel
      // posts as -ECANCELED when the write failed, so it always arrives).
      bool linked = o_.mode != RawMode::kRandRead && o_.fdatasync_each;
      if (!linked) complete(i, last);
    }
    io_uring_cq_advance(&ring_, seen);
  }
  if (first_error_.code != 0) return first_error_;

  RawReport rep;
  rep.options = o_;
  rep.ops = completed_;
  rep.bytes = completed_ * o_.block_bytes;
  rep.seconds = static_cast<double>(last - start) / 1e9;
  if (rep.seconds > 0) {
    rep.iops = static_cast<double>(rep.ops) / rep.seconds;
    rep.mb_per_s = static_cast<double>(rep.bytes) / 1e6 / rep.seconds;
  }
  rep.latency = lat_.summarize();
  rep.flushes = flushes_;
  rep.writes_beside_flushes = beside_flush_;
  if (flushes_ > 0) rep.flush_mean_us = static_cast<double>(flush_ns_) / 1000.0 / flushes_;
  return rep;
}

}  // namespace

Result<RawReport> run_raw_bench(const RawOptions& o) {
  File file(o.path, o.keep_file);
  ZVFS_TRY(file.open_fresh(o.direct));
  Rng fill_rng(o.seed ^ 0x5eedull);
  if (o.mode != RawMode::kAppend) {
    ZVFS_TRY(prefill(file.fd(), o.file_bytes, o.block_bytes, fill_rng));
  } else if (fsync(file.fd()) != 0) {
    // The empty file's own creation is not part of the first append's cost.
    return make_error(errno, "fsync of the new bench file failed");
  }
  Runner runner(o, file.fd());
  return runner.run();
}

std::string report_json(const RawReport& r) {
  const RawOptions& o = r.options;
  const LatencySummary& l = r.latency;
  char buf[1024];
  int n = std::snprintf(
      buf, sizeof buf,
      "{\"tool\":\"zvfs_bench_raw\",\"mode\":\"%s\",\"block_bytes\":%" PRIu32
      ",\"queue_depth\":%" PRIu32 ",\"sync\":\"%s\",\"direct\":%s,\"file_bytes\":%" PRIu64
      ",\"ops\":%" PRIu64
      ",\"seconds\":%.3f,\"iops\":%.1f,\"mb_per_s\":%.2f,"
      "\"lat_us\":{\"min\":%.2f,\"mean\":%.2f,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,"
      "\"p999\":%.2f,\"max\":%.2f},\"flush_every_bytes\":%" PRIu64
      ",\"flush_overlap\":%s,\"flushes\":%" PRIu64
      ",\"flush_mean_us\":%.2f,"
      "\"writes_beside_flushes\":%" PRIu64 "}",
      mode_name(o.mode), o.block_bytes, o.queue_depth, o.fdatasync_each ? "fdatasync" : "none",
      o.direct ? "true" : "false", o.file_bytes, r.ops, r.seconds, r.iops, r.mb_per_s, l.min_us,
      l.mean_us, l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, o.flush_every_bytes,
      o.flush_overlap ? "true" : "false", r.flushes, r.flush_mean_us, r.writes_beside_flushes);
  if (n < 0) return "{}";
  return std::string(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
}

}  // namespace zvfs::bench
