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

Result<size_t> BlobImpl::write(uint64_t off, const void* buf, size_t len) {
  const auto* p = static_cast<const uint8_t*>(buf);
  size_t done = 0;
  do {
    const size_t n = std::min(len - done, kWriteChunk);
    ZVFS_TRY(core_->admit(n, /*need_space=*/true, obj_.get(), off + done));
    ZVFS_TRY(core_->objset().write(*obj_, off + done, p + done, n));
    done += n;
  } while (done < len);
  return len;
}

Result<uint64_t> BlobImpl::append(const void* buf, size_t len) {
  ZVFS_TRY(core_->admit(len, /*need_space=*/true, obj_.get()));
  return core_->objset().append(*obj_, buf, len);
}

Status BlobImpl::truncate(uint64_t size) {
  ZVFS_TRY(core_->admit(0, /*need_space=*/false));
  return core_->objset().truncate(*obj_, size);
}

Status BlobImpl::punch_hole(uint64_t off, uint64_t len) {
  ZVFS_TRY(core_->admit(0, /*need_space=*/false));
  return core_->objset().punch(*obj_, off, len);
}

Status BlobImpl::allocate(uint64_t off, uint64_t len, bool keep_size) {
  if (len > UINT64_MAX - off) return make_error(EFBIG, "allocate past the maximum blob size");
  const uint64_t end = off + len, size = core_->objset().size(*obj_);
  ZVFS_TRY(core_->check_room(end > size ? end - std::max(off, size) : 0));
  if (keep_size || end <= size) return ok_status();
  return truncate(end);
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
