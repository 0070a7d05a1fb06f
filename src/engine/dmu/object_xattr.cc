// object_xattr.cc — extended attributes of an object (see xattr.h for the encoding).
//
// The attribute map is loaded from the committed xattr block on first use and replaced
// copy-on-write on every change (the closed txg keeps a snapshot of the map it must write).
#include <cstring>

#include "common/log.h"
#include "engine/dmu/objset.h"

namespace zvfs::dmu {
namespace {

Status check_name(std::string_view name) {
  if (name.empty() || name.size() > kXattrNameMax) return make_error(ERANGE, "bad xattr name");
  if (name.find('\0') != std::string_view::npos) return make_error(EINVAL, "bad xattr name");
  return ok_status();
}

}  // namespace

Status ObjectSet::load_xattrs(Object& o) {
  if (o.xattrs) return ok_status();
  const bool in_dnode = xattr_inline(o.committed);
  const zio::BlockPtr bp = xattr_tree(o.committed);
  if (!in_dnode && bp.is_hole()) {
    o.xattrs = std::make_shared<const XattrMap>();
    return ok_status();
  }
  const uint64_t len = o.committed.xattr_bytes;
  if (len > kXattrTotalMax) return make_error(EIO, "bad xattr size");
  std::vector<uint8_t> enc(len);
  if (in_dnode) {
    std::memcpy(enc.data(), inline_xattr(o.committed), len);  // load_object checked len
  } else {
    std::shared_lock reuse(reuse_mu_);
    for (uint64_t i = 0; i * meta_bytes_ < len; i++) {
      ZVFS_ASSIGN_OR_RETURN(leaf, TreeReader::lookup(arc_, bp, i));
      // Every leaf is whole but the last, which may end at the 4 KiB sector holding the
      // stream's last byte (format 2).
      const uint64_t n = std::min<uint64_t>(meta_bytes_, len - i * meta_bytes_);
      if (leaf.type != zio::BlockType::kXattr || leaf.lsize > meta_bytes_ || leaf.lsize < n) {
        LOG_ERROR("dmu", "blob %llu: xattr block %llu is missing or malformed",
                  static_cast<unsigned long long>(o.id), static_cast<unsigned long long>(i));
        return make_error(EIO, "bad xattr block pointer");
      }
      ZVFS_ASSIGN_OR_RETURN(buf, arc_.read(leaf));
      std::memcpy(enc.data() + i * meta_bytes_, buf->data(), n);
    }
  }
  auto m = decode_xattrs(enc.data(), enc.size());
  if (!m.ok()) {
    LOG_ERROR("dmu", "blob %llu: xattrs (%s) do not decode", static_cast<unsigned long long>(o.id),
              in_dnode ? "in the dnode" : "in their block");
    return m.error();
  }
  o.xattrs = std::make_shared<const XattrMap>(std::move(*m));
  return ok_status();
}

Result<std::vector<uint8_t>> ObjectSet::get_xattr(Object& o, std::string_view name) {
  ZVFS_TRY(check_name(name));
  std::lock_guard lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  ZVFS_TRY(load_xattrs(o));
  auto it = o.xattrs->find(name);
  if (it == o.xattrs->end()) return make_error(ENODATA, "no such xattr");
  return it->second;
}

Status ObjectSet::set_xattr(Object& o, std::string_view name, const void* value, size_t len) {
  ZVFS_TRY(check_name(name));
  if (len > kXattrValueMax) return make_error(E2BIG, "xattr value too large");
  std::shared_lock txg(txg_mu_);
  std::lock_guard lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  ZVFS_TRY(load_xattrs(o));
  auto m = std::make_shared<XattrMap>(*o.xattrs);
  const auto* v = static_cast<const uint8_t*>(value);
  (*m)[std::string(name)] = std::vector<uint8_t>(v, v + len);
  if (encoded_size(*m) > kXattrTotalMax) return make_error(ENOSPC, "xattr space full");
  TxgDelta& d = open_delta(o, open_txg_);
  d.xattrs_dirty = true;
  o.xattrs = std::move(m);
  o.modify_txg = open_txg_;
  LogOp op{OpKind::kXattrSet};
  op.name = std::string(name);
  op.value.assign(v, v + len);
  add_op(o, d, std::move(op));
  return ok_status();
}

Status ObjectSet::remove_xattr(Object& o, std::string_view name) {
  ZVFS_TRY(check_name(name));
  std::shared_lock txg(txg_mu_);
  std::lock_guard lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  ZVFS_TRY(load_xattrs(o));
  if (o.xattrs->find(name) == o.xattrs->end()) return make_error(ENODATA, "no such xattr");
  auto m = std::make_shared<XattrMap>(*o.xattrs);
  m->erase(m->find(name));
  TxgDelta& d = open_delta(o, open_txg_);
  d.xattrs_dirty = true;
  o.xattrs = std::move(m);
  o.modify_txg = open_txg_;
  LogOp op{OpKind::kXattrRemove};
  op.name = std::string(name);
  add_op(o, d, std::move(op));
  return ok_status();
}

Result<std::vector<std::string>> ObjectSet::list_xattrs(Object& o) {
  std::lock_guard lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  ZVFS_TRY(load_xattrs(o));
  std::vector<std::string> out;
  for (const auto& kv : *o.xattrs) out.push_back(kv.first);
  return out;
}

}  // namespace zvfs::dmu
