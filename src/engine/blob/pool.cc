// pool.cc — the public Pool API (zvfs/blob.h) on top of PoolCore.
#include "common/log.h"
#include "engine/blob/handles.h"
#include "engine/blob/pool_testing.h"

namespace zvfs::engine {
namespace {

Result<std::unique_ptr<Pool>> wrap(Result<std::shared_ptr<PoolCore>> core) {
  if (!core.ok()) return core.error();
  return std::unique_ptr<Pool>(new PoolImpl(std::move(*core)));
}

Result<std::unique_ptr<vdev::Vdev>> open_path(const std::string& path, const PoolConfig& cfg,
                                              bool create) {
  vdev::FileVdevOptions o;
  o.create = create;
  o.size = create ? cfg.create_size : 0;
  o.direct = cfg.direct_io;
  auto dev = vdev::open_file_vdev(path, o);
  if (!dev.ok()) {
    LOG_ERROR("spa", "cannot open %s: %s", path.c_str(), dev.error().msg);
    return dev.error();
  }
  return std::move(*dev);
}

BlobStat to_public(const dmu::ObjStat& s) {
  return BlobStat{s.id, s.size, s.allocated_bytes, s.create_txg, s.modify_txg};
}

}  // namespace

Result<std::unique_ptr<Pool>> Pool::create(const std::string& path, const PoolConfig& cfg) {
  ZVFS_ASSIGN_OR_RETURN(dev, open_path(path, cfg, true));
  return wrap(PoolCore::open(std::move(dev), cfg, true, path));
}

Result<std::unique_ptr<Pool>> Pool::import(const std::string& path, const PoolConfig& cfg) {
  ZVFS_ASSIGN_OR_RETURN(dev, open_path(path, cfg, false));
  return wrap(PoolCore::open(std::move(dev), cfg, false, path));
}

Result<std::unique_ptr<Pool>> Pool::create(std::unique_ptr<vdev::Vdev> vdev,
                                           const PoolConfig& cfg) {
  return wrap(PoolCore::open(std::move(vdev), cfg, true, ""));
}

Result<std::unique_ptr<Pool>> Pool::import(std::unique_ptr<vdev::Vdev> vdev,
                                           const PoolConfig& cfg) {
  return wrap(PoolCore::open(std::move(vdev), cfg, false, ""));
}

PoolImpl::~PoolImpl() {
  if (core_->check_open().ok()) {
    Status st = core_->export_pool();
    if (!st.ok()) LOG_ERROR("spa", "export on close failed: %s", st.error().msg);
  }
}

Status PoolImpl::export_pool() {
  return core_->export_pool();
}

Result<BlobId> PoolImpl::create_blob() {
  ZVFS_TRY(core_->admit_metadata());
  return core_->objset().create();
}

Result<std::shared_ptr<Blob>> PoolImpl::open_blob(BlobId id) {
  ZVFS_TRY(core_->check_open());
  ZVFS_ASSIGN_OR_RETURN(obj, core_->objset().hold(id));
  return std::shared_ptr<Blob>(std::make_shared<BlobImpl>(core_, std::move(obj)));
}

Status PoolImpl::delete_blob(BlobId id) {
  ZVFS_TRY(core_->check_writable());
  ZVFS_ASSIGN_OR_RETURN(obj, core_->objset().hold(id));
  return core_->objset().remove(*obj);
}

Status PoolImpl::for_each_blob(const std::function<bool(const BlobStat&)>& fn) {
  ZVFS_TRY(core_->check_open());
  return core_->objset().for_each([&](const dmu::ObjStat& s) { return fn(to_public(s)); });
}

Status PoolImpl::sync_all() {
  return core_->sync_all();
}

PoolStats PoolImpl::stats() const {
  return core_->stats();
}

Result<ScrubReport> PoolImpl::scrub(const std::function<void(const ScrubProgress&)>& progress) {
  ZVFS_TRY(core_->check_open());
  return core_->scrub(progress);
}

Result<CheckReport> PoolImpl::check() {
  ZVFS_TRY(core_->check_open());
  return core_->check();
}

Result<uint32_t> PoolImpl::upgrade_format() {
  ZVFS_TRY(core_->check_writable());
  return core_->upgrade_format();
}

Result<uint64_t> PoolImpl::grow() {
  ZVFS_TRY(core_->check_writable());
  return core_->grow();
}

// --- Blob ---

namespace {
constexpr size_t kWriteChunk = 4 << 20;  // large writes are admitted (throttled) per chunk
constexpr size_t kSmallXattrBytes = 4096;
}  // namespace

Result<size_t> BlobImpl::read(uint64_t off, void* buf, size_t len) {
  ZVFS_TRY(core_->check_open());
  return core_->objset().read(*obj_, off, buf, len);
}

BlobImpl::~BlobImpl() {
  std::lock_guard lk(set_aside_mu_);
  core_->unreserve(set_aside_.total() * core_->objset().block_size());
}

bool BlobImpl::set_aside_covers(uint64_t off, uint64_t len) {
  const uint64_t bs = core_->objset().block_size();
  const uint64_t b0 = off / bs, b1 = (off + len + bs - 1) / bs;
  if (!has_set_aside_.load(std::memory_order_acquire) || len == 0) return false;
  std::lock_guard lk(set_aside_mu_);
  for (uint64_t b = b0; b < b1; b = set_aside_.end_of(b)) {
    if (!set_aside_.contains(b)) return false;
  }
  return true;
}

void BlobImpl::take_set_aside(uint64_t b0, uint64_t b1) {
  if (!has_set_aside_.load(std::memory_order_acquire)) return;
  std::lock_guard lk(set_aside_mu_);
  core_->unreserve(set_aside_.remove(b0, b1) * core_->objset().block_size());
  has_set_aside_.store(!set_aside_.empty(), std::memory_order_release);
}

Status BlobImpl::admit_write(uint64_t off, uint64_t len) {
  // Blocks a fallocate set aside are this write's: fully inside them, it needs no room.
  const bool covered = off != PoolCore::kNoOffset && set_aside_covers(off, len);
  ZVFS_TRY(core_->admit(len, /*need_space=*/!covered, obj_.get(), off));
  if (off != PoolCore::kNoOffset) {
    const uint64_t bs = core_->objset().block_size();
    take_set_aside(off / bs, (off + len + bs - 1) / bs);
  }
  return ok_status();
}

Result<size_t> BlobImpl::write(uint64_t off, const void* buf, size_t len) {
  const auto* p = static_cast<const uint8_t*>(buf);
  size_t done = 0;
  do {
    const size_t n = std::min(len - done, kWriteChunk);
    ZVFS_TRY(admit_write(off + done, n));
    ZVFS_TRY(core_->objset().write(*obj_, off + done, p + done, n));
    done += n;
  } while (done < len);
  return len;
}

Result<uint64_t> BlobImpl::append(const void* buf, size_t len) {
  // At the end as it is now (another appender may move it first: then the blocks taken are
  // near, not exactly, the ones written).
  ZVFS_TRY(admit_write(core_->objset().size(*obj_), len));
  return core_->objset().append(*obj_, buf, len);
}

Status BlobImpl::truncate(uint64_t size) {
  ZVFS_TRY(core_->admit(0, /*need_space=*/false));
  const uint64_t old = core_->objset().size(*obj_);
  ZVFS_TRY(core_->objset().truncate(*obj_, size));
  // Shrinking frees everything past the new end, set-aside blocks too (as ext4 frees blocks
  // preallocated past the size); growing leaves them.
  if (size < old) {
    const uint64_t bs = core_->objset().block_size();
    take_set_aside((size + bs - 1) / bs, UINT64_MAX);
  }
  return ok_status();
}

Status BlobImpl::punch_hole(uint64_t off, uint64_t len) {
  ZVFS_TRY(core_->admit(0, /*need_space=*/false));
  ZVFS_TRY(core_->objset().punch(*obj_, off, len));
  const uint64_t bs = core_->objset().block_size();
  const uint64_t end = len > UINT64_MAX - off ? UINT64_MAX : off + len;
  take_set_aside(off / bs + (off % bs != 0), end / bs);  // the blocks it freed whole
  return ok_status();
}

Status BlobImpl::allocate(uint64_t off, uint64_t len, bool keep_size) {
  if (len > UINT64_MAX - off) return make_error(EFBIG, "allocate past the maximum blob size");
  const uint64_t end = off + len;
  const uint64_t bs = core_->objset().block_size();
  ZVFS_TRY(core_->check_writable());
  ZVFS_ASSIGN_OR_RETURN(holes, core_->objset().hole_blocks(*obj_, off / bs, (end + bs - 1) / bs));
  {
    std::lock_guard lk(set_aside_mu_);
    for (const auto& [a, b] : set_aside_.ranges()) holes.remove(a, b);  // set aside already
    ZVFS_TRY(core_->reserve(holes.total() * bs));
    for (const auto& [a, b] : holes.ranges()) set_aside_.add(a, b);
    has_set_aside_.store(!set_aside_.empty(), std::memory_order_release);
  }
  if (keep_size || end <= core_->objset().size(*obj_)) return ok_status();
  ZVFS_TRY(core_->admit(0, /*need_space=*/false));
  return core_->objset().truncate(*obj_, end);
}

Status BlobImpl::sync() {
  ZVFS_TRY(core_->check_open());
  return core_->sync_blob(*obj_);
}

uint64_t BlobImpl::size() const {
  return core_->objset().size(*obj_);
}

Result<BlobStat> BlobImpl::stat() {
  ZVFS_TRY(core_->check_open());
  ZVFS_ASSIGN_OR_RETURN(s, core_->objset().stat(*obj_));
  return to_public(s);
}

Result<uint64_t> BlobImpl::seek_data(uint64_t off) {
  ZVFS_TRY(core_->check_open());
  return core_->objset().seek(*obj_, off, true);
}

Result<uint64_t> BlobImpl::seek_hole(uint64_t off) {
  ZVFS_TRY(core_->check_open());
  return core_->objset().seek(*obj_, off, false);
}

Result<std::vector<uint8_t>> BlobImpl::get_xattr(std::string_view name) {
  ZVFS_TRY(core_->check_open());
  return core_->objset().get_xattr(*obj_, name);
}

Status BlobImpl::set_xattr(std::string_view name, const void* value, size_t len) {
  // A small value (the daemon's owner tag of a new file) is metadata; a large one is data.
  ZVFS_TRY(len <= kSmallXattrBytes ? core_->admit_metadata() : core_->admit(len));
  return core_->objset().set_xattr(*obj_, name, value, len);
}

Status BlobImpl::remove_xattr(std::string_view name) {
  ZVFS_TRY(core_->admit(0, /*need_space=*/false));
  return core_->objset().remove_xattr(*obj_, name);
}

Result<std::vector<std::string>> BlobImpl::list_xattrs() {
  ZVFS_TRY(core_->check_open());
  return core_->objset().list_xattrs(*obj_);
}

void testing::abandon(Pool& pool) {
  static_cast<PoolImpl&>(pool).core().abandon();
}

Result<testing::StoredShape> testing::stored_shape(Pool& pool, BlobId id) {
  ZVFS_ASSIGN_OR_RETURN(o, static_cast<PoolImpl&>(pool).core().objset().hold(id));
  std::lock_guard lk(o->mu);
  const dmu::DnodePhys& dn = o->committed;
  StoredShape s;
  s.data_root_lsize = dn.root.is_hole() ? 0 : dn.root.lsize;
  s.data_root_level = dn.root.level;
  s.xattrs_in_dnode = dmu::xattr_inline(dn);
  const zio::BlockPtr x = dmu::xattr_tree(dn);
  s.xattr_root_lsize = x.is_hole() ? 0 : x.lsize;
  s.xattr_bytes = dn.xattr_bytes;
  return s;
}

}  // namespace zvfs::engine
