// objset_log.cc — what the intent log records for an object, and how replay applies it.
//
// A sync() logs every op of the object's syncing and open deltas not yet logged, in order. A
// write record carries the bytes its range holds *now* (not when it was written): replaying the
// ops in order then rebuilds exactly the current contents, because for every byte the last op
// that touched it is replayed last, and size changes depend only on the ops' ranges. Ops are
// sealed when gathered so a later write never merges into an op being logged.
//
// A write record refers to those bytes where they are (the deltas' block buffers, DataRef)
// rather than copying them: the log block encoder copies them once. A referenced buffer of the
// open delta is never changed: writable_block() gives a writer a copy while a record holds it.
#include <cstring>

#include "common/copy.h"
#include "common/log.h"
#include "engine/dmu/objset.h"

namespace zvfs::dmu {

Result<LogBatch> ObjectSet::gather_unlogged(Object& o, uint64_t max_bytes) {
  std::lock_guard lk(o.mu);
  if (o.deleted) return make_error(ENOENT, "blob deleted");
  LogBatch b;
  b.change_seq = o.change_seq;
  TxgDelta* deltas[2] = {o.syncing.get(), o.open.get()};
  uint64_t newest = 0, bytes = 0;
  bool overflow = false;
  for (TxgDelta* d : deltas) {
    if (!d) continue;
    newest = std::max(newest, d->txg);
    overflow |= d->ops_overflow;
    for (size_t i = d->logged; i < d->ops.size(); i++) {
      const LogOp& op = d->ops[i];
      bytes += op.kind == OpKind::kWrite ? op.len : op.name.size() + op.value.size();
    }
  }
  if (overflow || bytes > max_bytes) {
    b.wait_txg = newest;  // too much to log: commit the open txg instead
    return b;
  }
  for (TxgDelta* d : deltas) {
    if (!d || d->logged == d->ops.size()) continue;
    for (size_t i = d->logged; i < d->ops.size(); i++) {
      const LogOp& op = d->ops[i];
      ChangeRecord r;
      r.txg = d->txg;
      r.blob = o.id;
      r.kind = op.kind;
      r.off = op.off;
      r.len = op.len;
      r.size_after = o.size;
      r.name = op.name;
      if (op.kind == OpKind::kWrite) {
        // Usually every byte is in a delta buffer or zero: reference it (copied once, into
        // the log block). Bytes only in the tree are read into the record.
        if (!ref_from_memory(o, op.off, op.len, &r.refs)) {
          r.data.resize(op.len);
          ZVFS_TRY(read_locked(o, op.off, r.data.data(), op.len));
        }
      } else if (op.kind == OpKind::kXattrSet) {
        r.data = op.value;
      }
      b.bytes += r.payload_bytes();
      b.records.push_back(std::move(r));
    }
    d->sealed = d->ops.size();
    b.marks.emplace_back(o.syncing.get() == d ? o.syncing : o.open, d->ops.size());
  }
  return b;
}

void ChangeRecord::copy_payload(uint8_t* dst) const {
  if (refs.empty()) {
    if (!data.empty()) copy_bytes(dst, data.data(), data.size());
    return;
  }
  for (const DataRef& r : refs) {
    if (r.buf) {
      copy_bytes(dst, r.buf->data() + r.off, r.len);
    } else {
      std::memset(dst, 0, r.len);
    }
    dst += r.len;
  }
}

std::vector<ChangeRecord> ObjectSet::take_pending_deletes() {
  std::lock_guard lk(table_mu_);
  return std::exchange(pending_deletes_, {});
}

bool ObjectSet::has_pending_deletes() const {
  std::lock_guard lk(table_mu_);
  return !pending_deletes_.empty();
}

void ObjectSet::restore_pending_deletes(std::vector<ChangeRecord> recs) {
  std::lock_guard lk(table_mu_);
  recs.insert(recs.end(), pending_deletes_.begin(), pending_deletes_.end());
  pending_deletes_ = std::move(recs);
}

bool ObjectSet::begin_log(Object& o) {
  std::unique_lock lk(o.mu);
  const uint64_t seq = o.change_seq;  // the changes this sync must make durable
  for (;;) {
    if (o.logged_seq >= seq && !has_pending_deletes()) return false;  // table_mu_ is a leaf
    if (!o.log_busy) {
      o.log_busy = true;
      return true;
    }
    o.log_cv.wait(lk);
  }
}

void ObjectSet::end_log(Object& o) {
  {
    std::lock_guard lk(o.mu);
    o.log_busy = false;
  }
  o.log_cv.notify_all();
}

void ObjectSet::mark_logged(Object& o, const LogBatch& b) {
  std::lock_guard lk(o.mu);
  if (o.logged_seq < b.change_seq) o.logged_seq = b.change_seq;
  for (const auto& [d, n] : b.marks) {
    if (d->logged < n) d->logged = n;
    // Logged ops live in the intent log now; a commit needs only the delta's blocks and
    // ranges. Dropping them keeps kMaxOpsPerDelta a bound on the ops between two syncs: a blob
    // synced after every write (a log file) used to overflow after 8192 syncs in one txg, and
    // then every sync of it waited for that txg's commit and the next.
    d->ops.erase(d->ops.begin(), d->ops.begin() + static_cast<std::ptrdiff_t>(d->logged));
    d->sealed = d->sealed > d->logged ? d->sealed - d->logged : 0;
    d->logged = 0;
  }
}

Status ObjectSet::apply(const ChangeRecord& r) {
  if (r.kind == OpKind::kCreate) return create_with_id(r.blob);
  if (r.kind == OpKind::kDelete) {
    auto d = hold(r.blob);
    return d.ok() ? remove(**d) : ok_status();
  }
  auto h = hold(r.blob);
  if (!h.ok()) {
    if (h.code() != ENOENT) return h.error();
    LOG_WARN("dmu", "replay: record for blob %llu, which does not exist; skipped",
             static_cast<unsigned long long>(r.blob));
    return ok_status();
  }
  Object& o = **h;
  switch (r.kind) {
    case OpKind::kWrite: {
      if (r.data.size() != r.len) return make_error(EIO, "log record length mismatch");
      auto w = write(o, r.off, r.data.data(), r.data.size());
      return w.ok() ? ok_status() : Status(w.error());
    }
    case OpKind::kTruncate:
      return truncate(o, r.off);
    case OpKind::kPunch:
      return punch(o, r.off, r.len);
    case OpKind::kXattrSet:
      return set_xattr(o, r.name, r.data.data(), r.data.size());
    case OpKind::kXattrRemove: {
      Status s = remove_xattr(o, r.name);
      return s.code() == ENODATA ? ok_status() : s;
    }
    default:
      return make_error(EIO, "unknown log record kind");
  }
}

}  // namespace zvfs::dmu
