// blob_table.h — the daemon's table of open blobs, shared by all sessions.
//
// Owns, per blob that has at least one handle open: the engine's Blob, the number of handles
// (across every session), whether its last link is gone (delete deferred to the last close),
// whether its placeholder inode was made durable by this daemon, and the Linux st_size mirror.
//
// Invariants:
//   - An entry exists iff opens > 0 (guarded by mu_). The last release() erases it and, if the
//     blob's inode has no link left (marked unlinked, or nlink == 0 on the fd being closed),
//     deletes the blob from the pool.
//   - The mirror (the placeholder's st_size) is only changed under OpenBlob::mirror_mu, from
//     the blob's size as read under that lock, so racing extenders never shrink it.
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
  std::atomic<uint64_t> mirrored_size{0};  // written under mirror_mu
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

  // Makes the placeholder's st_size equal to the blob's size, via fd (must be writable).
  // force: also when the size shrank.
  void mirror_size(OpenBlob& ob, int fd, bool force);

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
