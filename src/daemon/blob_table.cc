// blob_table.cc — open blobs, reference counts, deferred deletes, st_size mirror.
#include "daemon/blob_table.h"

#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "common/log.h"

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

void BlobTable::mirror_size(OpenBlob& ob, int fd, bool force) {
  uint64_t size = ob.blob->size();
  if (!force && size <= ob.mirrored_size.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> g(ob.mirror_mu);
  size = ob.blob->size();
  if (size == ob.mirrored_size.load() && !force) return;
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    LOG_WARN("daemon", "blob %" PRIu64 ": mirroring size %" PRIu64 " to the placeholder: %s", ob.id,
             size, strerror(errno));
    return;
  }
  ob.mirrored_size.store(size);
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
