// blob_table.cc — open blobs, reference counts, deferred deletes, size cells, st_size mirror.
#include "daemon/blob_table.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "common/log.h"
#include "ipc/doorbell.h"

namespace zvfs::daemon {

Result<std::shared_ptr<OpenBlob>> BlobTable::acquire(engine::BlobId id) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = open_.find(id);
  if (it != open_.end()) {
    it->second->opens++;
    opens_++;
    return it->second;
  }
  ZVFS_ASSIGN_OR_RETURN(blob, pool_.open_blob(id));
  auto ob = std::make_shared<OpenBlob>();
  ob->id = id;
  ob->blob = std::move(blob);
  ob->opens = 1;
  ob->mirrored_size.store(ob->blob->size());
  open_.emplace(id, ob);
  opens_++;
  return ob;
}

void BlobTable::release(const std::shared_ptr<OpenBlob>& ob, int fd) {
  bool drop = false, gone = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (--ob->opens == 0) {
      drop = true;
      gone = ob->unlinked;
      open_.erase(ob->id);
    }
    opens_--;
  }
  // The placeholder's st_size follows the blob lazily while the file is open, exactly from the
  // last close; its mtime exactly from any close.
  if (fd >= 0 && !gone) settle_placeholder(*ob, fd, drop);
  if (!drop) return;
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0) {
    gone = gone || st.st_nlink == 0;
    // A placeholder holds no data (an xattr block at most): more means that a program wrote
    // into it without the library. Those bytes are not in the pool; say so.
    if (st.st_blocks > 8)
      LOG_WARN("daemon",
               "inode %" PRIu64 " (blob %" PRIu64 "): its placeholder holds %" PRIu64
               " KiB written without libzvfs.so; they are not part of the file's data in the pool",
               static_cast<uint64_t>(st.st_ino), ob->id, static_cast<uint64_t>(st.st_blocks) / 2);
  }
  if (gone) delete_blob(ob->id, "last close of an unlinked file");
}

Status BlobTable::mark_unlinked(engine::BlobId id) {
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = open_.find(id);
    if (it != open_.end()) {
      it->second->unlinked = true;
      return ok_status();
    }
  }
  delete_blob(id, "unlinked file not open");
  return ok_status();
}

void BlobTable::delete_blob(engine::BlobId id, const char* why) {
  Status s = pool_.delete_blob(id);
  if (s.ok())
    LOG_INFO("daemon", "deleted blob %" PRIu64 " (%s)", id, why);
  else if (s.code() != ENOENT)
    LOG_ERROR("daemon", "deleting blob %" PRIu64 " failed: %s", id, s.error().msg);
}

namespace {

constexpr uint64_t kMirrorIntervalNs = 1000ull * 1000 * 1000;

// ftruncate through fd, or through a write-only reopen of it when fd is read-only.
bool set_placeholder_size(int fd, uint64_t size) {
  if (ftruncate(fd, static_cast<off_t>(size)) == 0) return true;
  if (errno != EBADF && errno != EINVAL) return false;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  int wfd = open(path, O_WRONLY | O_CLOEXEC);
  if (wfd < 0) return false;
  bool ok = ftruncate(wfd, static_cast<off_t>(size)) == 0;
  close(wfd);
  return ok;
}

int64_t clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t realtime_ns() {
  return clock_ns(CLOCK_REALTIME);
}

// Records the placeholder's mtime as the daemon's own last change of it left it: a different
// one later was set by the program (utimensat after its writes, as `cp -p` and `tar` do) and
// is kept. ob.mirror_mu held.
void note_placed_mtime(OpenBlob& ob, int fd) {
  struct stat st;
  ob.placed_valid = fstat(fd, &st) == 0;
  if (ob.placed_valid) ob.placed_mtime = st.st_mtim;
  ob.program_set_reported = false;
}

bool same_time(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// Whether an mtime the program set (the placeholder shows another than the daemon's last, or
// the library reported a set) was set after the last change of the data. The library's report,
// if one came since the daemon last set the mtime, decides: it arrived after the changes
// counted until then (a write-behind the program wrote before its set included), and before
// any later one. Without one (a program without the library), the inode's ctime says when, in
// the kernel's stamps: never later than the clock at the call and never earlier than the
// coarse clock then (a coarse stamp, the multigrain floor of Linux 6.13 and later, or a fine
// one). A ctime before the change's coarse clock reading was set before it; a later one is
// taken as set after it, as `cp -p` and `tar` need, though one of the change's own tick may
// be earlier, and a chmod after the change moves the ctime as well.
bool set_after_last_change(const OpenBlob& ob, int64_t ctime_ns) {
  if (ob.program_set_reported) return ob.program_set_seq == ob.change_seq;
  return ctime_ns >= ob.changed_coarse_ns;
}

// futimens of the mtime alone (atime stays): `t`, or now where the daemon may not set an
// explicit time on that file (only its owner or a privileged process may; anyone who may
// write it may set now). 0 or -1 with errno.
int set_mtime(int fd, struct timespec t) {
  struct timespec ts[2] = {{0, UTIME_OMIT}, t};
  int r = futimens(fd, ts);
  if (r != 0 && t.tv_nsec != UTIME_NOW && errno == EPERM) {
    ts[1].tv_nsec = UTIME_NOW;
    r = futimens(fd, ts);
  }
  return r;
}

struct timespec timespec_of(int64_t real_ns) {
  if (real_ns == 0) return {0, UTIME_NOW};
  return {static_cast<time_t>(real_ns / 1000000000), static_cast<long>(real_ns % 1000000000)};
}

// Sets the placeholder's st_mtime (and so its st_ctime) to `real_ns` (0: now), recorded as
// showing the change at `shown_ns`. ob.mirror_mu held.
void set_placeholder_mtime(OpenBlob& ob, int fd, int64_t real_ns, int64_t shown_ns) {
  if (set_mtime(fd, timespec_of(real_ns)) != 0) {
    LOG_DEBUG("daemon", "blob %" PRIu64 ": setting the placeholder's mtime: %s", ob.id,
              strerror(errno));
    return;
  }
  ob.mtime_real_ns = shown_ns;
  note_placed_mtime(ob, fd);
}

// Sets the placeholder's st_size and records it; ob.mirror_mu held. False (logged) on failure.
// The ftruncate also sets the placeholder's mtime to now, recorded as showing `shown_ns` (the
// change that called for it, or now). A placeholder that has the size already (the library's
// own ftruncate set it before its truncate request) gets that mtime alone: a futimens passes
// no guard, where an ftruncate is a pre-content event that the guard thread must answer.
bool mirror_locked(OpenBlob& ob, int fd, uint64_t size, int64_t shown_ns) {
  struct stat st;
  const struct timespec now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  const bool sized =
      fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) == size && futimens(fd, now) == 0;
  if (!sized && !set_placeholder_size(fd, size)) {
    LOG_WARN("daemon", "blob %" PRIu64 ": mirroring size %" PRIu64 " to the placeholder: %s", ob.id,
             size, strerror(errno));
    return false;
  }
  ob.mirrored_size.store(size);
  ob.mirrored_ns = ipc::now_ns();
  ob.mtime_real_ns = shown_ns;
  note_placed_mtime(ob, fd);
  return true;
}

}  // namespace

bool BlobTable::mirror_now(OpenBlob& ob, int fd) {
  std::lock_guard<std::mutex> g(ob.mirror_mu);
  return mirror_locked(ob, fd, ob.blob->size(), realtime_ns());
}

void BlobTable::publish_size(OpenBlob& ob, int fd, bool shrunk, bool behind) {
  std::lock_guard<std::mutex> g(ob.mirror_mu);
  uint64_t size = ob.blob->size();
  for (std::atomic<uint64_t>* c : ob.cells) c->store(size, std::memory_order_release);
  ob.changed_coarse_ns = clock_ns(CLOCK_REALTIME_COARSE);
  ob.changed_real_ns = realtime_ns();
  ob.change_seq++;
  uint64_t mirrored = ob.mirrored_size.load(std::memory_order_relaxed);
  // Growth may wait, except from 0: an empty placeholder tells the library's stat that the
  // file is empty, without asking (hook_stat.cc), so it must never hide data.
  if (size == mirrored || (size > mirrored && mirrored != 0 && !shrunk &&
                           ipc::now_ns() - ob.mirrored_ns < kMirrorIntervalNs)) {
    // The mtime follows at most a second behind; the rest at the next release
    // (settle_placeholder).
    if (ob.changed_real_ns - ob.mtime_real_ns >= static_cast<int64_t>(kMirrorIntervalNs) && !behind)
      set_placeholder_mtime(ob, fd, 0, ob.changed_real_ns);
    return;
  }
  (void)mirror_locked(ob, fd, size, ob.changed_real_ns);
}

void BlobTable::settle_placeholder(OpenBlob& ob, int fd, bool with_size) {
  std::lock_guard<std::mutex> g(ob.mirror_mu);
  const uint64_t size = ob.blob->size();
  const bool size_due = with_size && ob.mirrored_size.load() != size;
  const bool mtime_due = ob.changed_real_ns != 0 && ob.changed_real_ns != ob.mtime_real_ns;
  if (!size_due && !mtime_due) return;
  struct stat st;
  if (fstat(fd, &st) != 0) return;
  // An mtime set since the daemon's last change of it is the program's (another time than the
  // daemon left, or any the library reported, the same one included): it stays, also across
  // the size's ftruncate, if it was set after the last change of the data
  // (set_after_last_change); a change after it moves the mtime, as the kernel's write would
  // have.
  const int64_t ctime_ns =
      static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  const bool programs =
      (!ob.placed_valid || !same_time(st.st_mtim, ob.placed_mtime) || ob.program_set_reported) &&
      set_after_last_change(ob, ctime_ns);
  if (size_due && !mirror_locked(ob, fd, size, ob.changed_real_ns)) return;
  if (!programs) {
    set_placeholder_mtime(ob, fd, ob.changed_real_ns, ob.changed_real_ns);
    return;
  }
  ob.mtime_real_ns = ob.changed_real_ns;  // nothing more to show
  if (size_due && set_mtime(fd, st.st_mtim) != 0)
    LOG_DEBUG("daemon", "blob %" PRIu64 ": restoring the placeholder's mtime: %s", ob.id,
              strerror(errno));
  note_placed_mtime(ob, fd);
}

void BlobTable::note_attached(OpenBlob& ob, int fd) {
  std::lock_guard<std::mutex> g(ob.mirror_mu);
  if (!ob.placed_valid) note_placed_mtime(ob, fd);
}

void BlobTable::note_program_mtime(OpenBlob& ob) {
  std::lock_guard<std::mutex> g(ob.mirror_mu);
  ob.program_set_seq = ob.change_seq;
  ob.program_set_reported = true;
}

void BlobTable::add_cell(OpenBlob& ob, std::atomic<uint64_t>* cell) {
  std::lock_guard<std::mutex> g(ob.mirror_mu);
  cell->store(ob.blob->size(), std::memory_order_release);
  ob.cells.push_back(cell);
}

void BlobTable::remove_cell(OpenBlob& ob, std::atomic<uint64_t>* cell) {
  std::lock_guard<std::mutex> g(ob.mirror_mu);
  std::erase(ob.cells, cell);
}

size_t BlobTable::open_blobs() const {
  std::lock_guard<std::mutex> g(mu_);
  return open_.size();
}

uint64_t BlobTable::total_opens() const {
  std::lock_guard<std::mutex> g(mu_);
  return opens_;
}

}  // namespace zvfs::daemon
