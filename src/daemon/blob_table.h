// blob_table.h — the daemon's table of open blobs, shared by all sessions.
//
// Owns, per blob that has at least one handle open: the engine's Blob, the number of handles
// (across every session), whether its last link is gone (delete deferred to the last close),
// whether its placeholder inode was made durable by this daemon, the size cells of its handles
// (shared memory of the sessions, see ipc/shm.h) and the Linux st_size mirror.
//
// Invariants:
//   - An entry exists iff opens > 0 (guarded by mu_). The last release() erases it and, if the
//     blob's inode has no link left (marked unlinked, or nlink == 0 on the fd being closed),
//     deletes the blob from the pool.
//   - publish_size() stores the blob's size, read under OpenBlob::mirror_mu, into every size
//     cell of the blob before the request that changed the size is answered: racing extenders
//     never make a cell go back, and every client's SEEK_END sees the size at once.
//   - The placeholder's st_size follows lazily: at most once a second while the size grows,
//     at once when it shrinks or grows from 0 (so a placeholder is never empty while its blob
//     is not), and exactly at the last close (and when a file is attached).
//     An ftruncate per extending write made ext4 commit its journal at the next fdatasync of
//     the pool file (4 KiB append + fdatasync: 3.4k -> 4.5k per second without it). Programs
//     that run without the library may see a size up to a second old while a file grows.
//   - The placeholder's st_mtime (and with it st_ctime) follows changes of the data the same
//     way: a write, append, truncate or fallocate sets it to now if it was last set a second
//     or more ago (or by the size mirror's ftruncate, which sets it too); changes within that
//     second leave it pending, and the next release of a handle sets it to the time of the
//     last change. So it is at most a second behind the last change while a file is written,
//     and exact once a handle on it closes. A write-behind never sets it (the daemon applies
//     it after the program's call returned, maybe as the program sets the mtime itself): its
//     time waits for the next other change or release. Not at fsync: dirtying the placeholder's
//     inode makes ext4 commit its journal at the pool file's next fdatasync (see above). An mtime
//     the program set after the last change (utimensat, as `cp -p` and `tar` do before
//     closing) differs from what the daemon last left there: it is kept, also across the last
//     close's ftruncate. The library reports each set (the mtime_set request, which follows
//     the program's earlier changes), and that orders it exactly. A set by a program without
//     the library is ordered by the inode's ctime, to within a clock tick (the kernel stamps
//     coarsely, or with the multigrain floor of Linux 6.13, which may lie before a fine clock
//     reading of the same tick: comparing with that lost `cp -p`'s time now and then); one of
//     the change's tick, or followed by a chmod, counts as after the change.
//   - Appends and append reservations take OpenBlob::append_mu, so every appender sees the end
//     left by the previous one (O_APPEND is atomic across processes).
// Crash: nothing here is durable. A blob whose inode was unlinked but whose delete had not
// happened when the daemon died is an orphan; `zvfs fsck --root` finds and deletes it.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "zvfs/blob.h"

namespace zvfs::daemon {

struct OpenBlob {
  engine::BlobId id = 0;
  std::shared_ptr<engine::Blob> blob;
  int opens = 0;          // guarded by BlobTable::mu_
  bool unlinked = false;  // guarded by BlobTable::mu_
  std::atomic<bool> placeholder_durable{false};
  std::mutex append_mu;
  std::mutex mirror_mu;
  std::atomic<uint64_t> mirrored_size{0};     // written under mirror_mu
  uint64_t mirrored_ns = 0;                   // when the placeholder was last set (mirror_mu)
  int64_t changed_real_ns = 0;                // CLOCK_REALTIME of the last change (mirror_mu)
  int64_t changed_coarse_ns = 0;              // CLOCK_REALTIME_COARSE of it (mirror_mu)
  uint64_t change_seq = 0;                    // changes so far (mirror_mu)
  uint64_t program_set_seq = 0;               // change_seq at the program's last report (mirror_mu)
  bool program_set_reported = false;          // a report since the daemon last set it (mirror_mu)
  int64_t mtime_real_ns = 0;                  // the change its mtime shows (mirror_mu)
  struct timespec placed_mtime {};            // its mtime after the daemon set it (mirror_mu)
  bool placed_valid = false;                  // placed_mtime was read (mirror_mu)
  std::vector<std::atomic<uint64_t>*> cells;  // size cells of its handles (mirror_mu)
};

class BlobTable {
 public:
  explicit BlobTable(engine::Pool& pool) : pool_(pool) {}

  // Opens (or finds) the blob and counts one more handle on it.
  Result<std::shared_ptr<OpenBlob>> acquire(engine::BlobId id);
  // One handle on ob is gone; fd is that handle's descriptor (for the nlink check).
  void release(const std::shared_ptr<OpenBlob>& ob, int fd);
  // The blob's inode lost its last link: delete now if unused, else at the last release.
  Status mark_unlinked(engine::BlobId id);

  // The blob's data or size changed (or may have): stores the size into every size cell of
  // the blob, and into the placeholder's st_size and st_mtime through fd (writable) when due
  // (see the invariants). shrunk: the size may have gone down (truncate). behind: a
  // write-behind, applied after its call returned, maybe while or after the program set the
  // mtime: its time is left pending (the next change or release), never set over the
  // program's.
  void publish_size(OpenBlob& ob, int fd, bool shrunk, bool behind = false);
  // When a handle closes: the placeholder's st_size made exact if `with_size` (the blob's last
  // handle, or a writable one), and its st_mtime set to the time of the blob's last change in
  // this daemon if it shows another, unless the program set it since the daemon last did
  // (kept, also across the ftruncate).
  void settle_placeholder(OpenBlob& ob, int fd, bool with_size);
  // A handle was attached through fd: the mtime the program found there counts as the
  // daemon's own until the daemon first sets it.
  void note_attached(OpenBlob& ob, int fd);
  // The program set the placeholder's mtime (futimens through a library descriptor) after the
  // changes so far: what orders it against a change of the same clock tick.
  void note_program_mtime(OpenBlob& ob);
  // A handle's size cell: starts receiving the blob's size (set at once) / stops.
  void add_cell(OpenBlob& ob, std::atomic<uint64_t>* cell);
  void remove_cell(OpenBlob& ob, std::atomic<uint64_t>* cell);
  // Sets the placeholder's st_size to the blob's size now, through fd (any access mode).
  // Returns false if that failed (logged).
  bool mirror_now(OpenBlob& ob, int fd);

  size_t open_blobs() const;
  uint64_t total_opens() const;

 private:
  void delete_blob(engine::BlobId id, const char* why);

  engine::Pool& pool_;
  mutable std::mutex mu_;
  std::unordered_map<engine::BlobId, std::shared_ptr<OpenBlob>> open_;
  uint64_t opens_ = 0;
};

}  // namespace zvfs::daemon
