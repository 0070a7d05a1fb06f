// pool_cmds.cc — zvfs create / fsck / upgrade: offline operations on a pool (no daemon may
// serve it).
//
// upgrade: imports the pool, rewrites its labels with this build's format version, exports it;
// files written from then on use the newer form, the blocks already there stay as they are.
//
// fsck: imports the pool, runs the engine's full check(), and, given --root directories, walks
// them (without following symlinks or crossing into other file systems' mounts) collecting every
// Linux file's binding. A blob is in use only if a file under the roots names it AND the blob's
// owner tag names that file's inode. Every other blob is an orphan (its file was deleted by a
// tool run without the library, or a crash hit between creating the blob and binding it);
// --repair deletes orphans. Without --root nothing is considered orphaned (we cannot know).
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cinttypes>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/status_print.h"
#include "common/size_text.h"
#include "daemon/binding.h"
#include "ipc/protocol.h"
#include "zvfs/blob.h"

namespace zvfs::cli {
namespace {

// (dev, ino) of every file naming a blob, collected by the tree walk.
std::map<engine::BlobId, std::vector<std::pair<uint64_t, uint64_t>>>* g_refs;
uint64_t g_files = 0;
uint64_t g_guid = 0;  // bindings of other pools are not references into this one

int visit(const char* path, const struct stat* st, int type, struct FTW*) {
  if (type != FTW_F || !S_ISREG(st->st_mode)) return 0;
  ++g_files;
  for (const char* name : {daemon::kTrustedBinding, daemon::kUserBinding}) {
    char v[64];
    ssize_t n = lgetxattr(path, name, v, sizeof v);
    daemon::Binding b;
    if (n > 0 && daemon::parse_binding(v, static_cast<size_t>(n), &b) && b.pool_guid == g_guid)
      (*g_refs)[b.id].emplace_back(st->st_dev, st->st_ino);
  }
  return 0;
}

}  // namespace

// Reads `POOL [--size SIZE]` (in any order) for `zvfs CMD`, and `--block-size SIZE` and
// `--preallocate` where `block_size` and `preallocate` are given. False, after saying why, on
// anything else; `example` is the size the message suggests.
static bool parse_pool_and_size(const char* cmd, const char* example, int argc, char** argv,
                                std::string* pool, uint64_t* size, uint64_t* block_size = nullptr,
                                bool* preallocate = nullptr) {
  for (int i = 1; i < argc; ++i) {
    if (preallocate && !strcmp(argv[i], "--preallocate")) {
      *preallocate = true;
      continue;
    }
    if (!strcmp(argv[i], "--size") && i + 1 < argc) {
      if (!parse_size(argv[++i], size)) {
        fprintf(stderr, "zvfs %s: '%s' is not a size (try %s)\n", cmd, argv[i], example);
        return false;
      }
    } else if (block_size && !strcmp(argv[i], "--block-size") && i + 1 < argc) {
      uint64_t b = 0;
      if (!parse_size(argv[++i], &b) || !engine::valid_block_size(b)) {
        fprintf(stderr, "zvfs %s: block size '%s' is not a power of two from 4K to 1M\n", cmd,
                argv[i]);
        return false;
      }
      *block_size = b;
    } else if (argv[i][0] != '-' && pool->empty()) {
      *pool = argv[i];
    } else {
      fprintf(stderr, "zvfs %s: unknown argument '%s'\n", cmd, argv[i]);
      return false;
    }
  }
  return true;
}

static const char kCreateUsage[] =
    "usage: zvfs create POOL --size SIZE [--block-size SIZE] [--preallocate]\n"
    "\n"
    "Creates a new pool on POOL (a sparse file of SIZE, e.g. 8G, or a block device).\n"
    "Refuses a device that already holds a ZVFS pool.\n"
    "\n"
    "  --block-size SIZE  data block size, a power of two from 4K to 1M (default 16K).\n"
    "                     Writes smaller than a block copy the rest of it; match the\n"
    "                     application's page (8K for PostgreSQL, 4K for SQLite).\n"
    "  --preallocate      write the whole pool file once now (a dense file, not a sparse\n"
    "                     one): commits then never allocate file system blocks, which\n"
    "                     keeps fsync tails steadier while data is being committed.\n";

int cmd_create(int argc, char** argv) {
  int rc;
  if (help_or_usage(argc, argv, kCreateUsage, 2, &rc)) return rc;
  std::string pool;
  uint64_t size = 0, block_size = 0;
  bool preallocate = false;
  if (!parse_pool_and_size("create", "8G", argc, argv, &pool, &size, &block_size, &preallocate))
    return kExitUsage;
  struct stat st;
  bool blk = stat(pool.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
  if (pool.empty() || (size == 0 && !blk)) {
    fprintf(stderr, "zvfs create: need POOL and --size SIZE (see zvfs create --help)\n");
    return kExitUsage;
  }
  engine::PoolConfig cfg;
  cfg.create_size = size;
  if (block_size) cfg.block_size = static_cast<uint32_t>(block_size);
  cfg.preallocate = preallocate;
  auto p = engine::Pool::create(pool, cfg);
  if (!p.ok()) {
    fprintf(stderr, "zvfs create: cannot create %s: %s (%s)\n", pool.c_str(), p.error().msg,
            strerror(p.code()));
    return kExitFail;
  }
  Status s = (*p)->export_pool();
  if (!s.ok()) {
    fprintf(stderr, "zvfs create: %s: %s\n", pool.c_str(), s.error().msg);
    return kExitFail;
  }
  printf("zvfs: created pool %s\n", pool.c_str());
  return kExitOk;
}

static const char kUpgradeUsage[] =
    "usage: zvfs upgrade POOL\n"
    "\n"
    "Upgrades a pool offline (stop its daemon first: zvfs down) to this build's on-disk\n"
    "format, so that files written from then on take less space (format 2: a block is\n"
    "stored up to its last non-zero 4 KiB, a file's tag lives in its dnode). Blocks already\n"
    "written stay as they are. Builds that know only the older format cannot import the\n"
    "pool afterwards. Exit: 0 upgraded or already current, 1 failure.\n";

// Imports the pool at `pool` for an offline command; nullptr (after a message) if it cannot.
static std::unique_ptr<engine::Pool> import_offline(const char* cmd, const std::string& pool) {
  auto p = engine::Pool::import(pool, engine::PoolConfig{});
  if (p.ok()) return std::move(*p);
  if (p.code() == EBUSY)
    fprintf(stderr,
            "zvfs %s: %s is in use by another process: %s works on a pool no daemon serves; "
            "stop it first (zvfs down)\n",
            cmd, pool.c_str(), cmd);
  else
    fprintf(stderr, "zvfs %s: cannot import %s: %s (%s)\n", cmd, pool.c_str(), p.error().msg,
            strerror(p.code()));
  return nullptr;
}

int cmd_upgrade(int argc, char** argv) {
  int rc;
  if (help_or_usage(argc, argv, kUpgradeUsage, 2, &rc)) return rc;
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(stderr, "zvfs upgrade: need exactly one POOL (see zvfs upgrade --help)\n");
    return kExitUsage;
  }
  const std::string pool = argv[1];
  auto p = import_offline("upgrade", pool);
  if (!p) return kExitFail;
  auto had = p->upgrade_format();
  Status e = p->export_pool();
  if (!had.ok() || !e.ok()) {
    fprintf(stderr, "zvfs upgrade: %s: %s\n", pool.c_str(),
            !had.ok() ? had.error().msg : e.error().msg);
    return kExitFail;
  }
  const uint32_t now = engine::kPoolFormatVersion;
  if (*had == now)
    printf("zvfs upgrade: %s is already at format %u\n", pool.c_str(), now);
  else
    printf("zvfs upgrade: %s: format %u -> %u\n", pool.c_str(), *had, now);
  return kExitOk;
}

static const char kGrowUsage[] =
    "usage: zvfs grow POOL [--size SIZE]\n"
    "\n"
    "Grows a pool offline (stop its daemon first: zvfs down). For a pool file, --size sets\n"
    "its new size (e.g. 64G; the file is extended sparse); for a block device that was\n"
    "made larger, the pool takes the whole device. Data stays where it is; the new space\n"
    "is free at the next start. A pool never shrinks.\n"
    "Exit: 0 grown or already that size, 1 failure, 2 usage.\n";

int cmd_grow(int argc, char** argv) {
  int rc;
  if (help_or_usage(argc, argv, kGrowUsage, 2, &rc)) return rc;
  std::string pool;
  uint64_t size = 0;
  if (!parse_pool_and_size("grow", "64G", argc, argv, &pool, &size)) return kExitUsage;
  struct stat st;
  if (pool.empty() || stat(pool.c_str(), &st) != 0) {
    fprintf(stderr, "zvfs grow: need an existing POOL (see zvfs grow --help)\n");
    return kExitUsage;
  }
  if (S_ISREG(st.st_mode) && size == 0) {
    fprintf(stderr, "zvfs grow: %s is a file: give its new size with --size\n", pool.c_str());
    return kExitUsage;
  }
  // Nothing is extended while a daemon serves the pool: an import first checks it is free.
  auto p = import_offline("grow", pool);
  if (!p) return kExitFail;
  const uint64_t before = p->stats().size_bytes;
  if (S_ISREG(st.st_mode)) {
    if (size < static_cast<uint64_t>(st.st_size)) {
      fprintf(stderr, "zvfs grow: %s is %lld bytes; a pool never shrinks\n", pool.c_str(),
              static_cast<long long>(st.st_size));
      (void)p->export_pool();
      return kExitUsage;
    }
    // Extended sparse between two imports (a daemon started in that moment holds the pool and
    // the second import fails: the file is larger, its labels unchanged, which is harmless;
    // grow again later). The label at the new end comes with grow().
    (void)p->export_pool();
    p.reset();
    if (truncate(pool.c_str(), static_cast<off_t>(size)) != 0) {
      fprintf(stderr, "zvfs grow: cannot extend %s: %s\n", pool.c_str(), strerror(errno));
      return kExitFail;
    }
    p = import_offline("grow", pool);
    if (!p) return kExitFail;
  }
  auto after = p->grow();
  Status e = p->export_pool();
  if (!after.ok() || !e.ok()) {
    fprintf(stderr, "zvfs grow: %s: %s\n", pool.c_str(),
            !after.ok() ? after.error().msg : e.error().msg);
    return kExitFail;
  }
  if (*after == before)
    printf("zvfs grow: %s is already %s (data region)\n", pool.c_str(), human(before).c_str());
  else
    printf("zvfs grow: %s: data region %s -> %s\n", pool.c_str(), human(before).c_str(),
           human(*after).c_str());
  return kExitOk;
}

static const char kFsckUsage[] =
    "usage: zvfs fsck POOL [--repair] [--root DIR]...\n"
    "\n"
    "Checks a pool offline (stop its daemon first: zvfs down): every reachable block\n"
    "verifies, no block is referenced twice, the space maps agree with the references.\n"
    "With --root, also finds blobs that no file under those directories refers to any\n"
    "more (orphans); --repair deletes them.\n"
    "Exit: 0 clean (or everything found was repaired), 4 problems left, 1 failure.\n";

int cmd_fsck(int argc, char** argv) {
  int rc;
  if (help_or_usage(argc, argv, kFsckUsage, 2, &rc)) return rc;
  std::string pool;
  bool repair = false;
  std::vector<std::string> roots;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--repair")) {
      repair = true;
    } else if (!strcmp(argv[i], "--root") && i + 1 < argc) {
      roots.push_back(argv[++i]);
    } else if (argv[i][0] != '-' && pool.empty()) {
      pool = argv[i];
    } else {
      fprintf(stderr, "zvfs fsck: unknown argument '%s'\n", argv[i]);
      return kExitUsage;
    }
  }
  auto p = import_offline("fsck", pool);
  if (!p) return kExitFail;
  engine::Pool& pl = *p;
  int problems = 0;
  auto rep = pl.check();
  if (!rep.ok()) {
    fprintf(stderr, "zvfs fsck: check failed: %s (%s)\n", rep.error().msg, strerror(rep.code()));
    return kExitFail;
  }
  printf("pool %s: %" PRIu64 " blobs, %" PRIu64 " blocks, %" PRIu64 " bytes leaked\n", pool.c_str(),
         rep->blobs, rep->blocks, rep->leaked_bytes);
  for (auto& pr : rep->problems) printf("  problem: %s\n", pr.c_str());
  if (!rep->consistent) problems += static_cast<int>(rep->problems.size()) + 1;

  if (!roots.empty()) {
    std::map<engine::BlobId, std::vector<std::pair<uint64_t, uint64_t>>> refs;
    g_refs = &refs;
    g_guid = pl.stats().pool_guid;
    for (auto& r : roots) {
      if (nftw(r.c_str(), visit, 64, FTW_PHYS | FTW_MOUNT) != 0) {
        fprintf(stderr, "zvfs fsck: cannot walk %s: %s\n", r.c_str(), strerror(errno));
        return kExitFail;
      }
    }
    std::vector<engine::BlobId> orphans;
    Status s = pl.for_each_blob([&](const engine::BlobStat& bs) {
      bool used = false;
      auto it = refs.find(bs.id);
      if (it != refs.end()) {
        auto b = pl.open_blob(bs.id);
        if (b.ok()) {
          for (auto& [dev, ino] : it->second) {
            daemon::OwnerTag t;
            t.dev = dev;
            t.ino = ino;
            if (daemon::blob_owned_by(**b, t)) used = true;
          }
        }
      }
      if (!used) orphans.push_back(bs.id);
      return true;
    });
    if (!s.ok()) {
      fprintf(stderr, "zvfs fsck: listing blobs failed: %s\n", s.error().msg);
      return kExitFail;
    }
    printf("%" PRIu64 " files under the roots, %zu orphaned blobs\n", g_files, orphans.size());
    for (auto id : orphans) {
      if (repair) {
        Status d = pl.delete_blob(id);
        printf("  orphan blob %" PRIu64 ": %s\n", id, d.ok() ? "deleted" : d.error().msg);
        if (!d.ok()) ++problems;
      } else {
        printf("  orphan blob %" PRIu64 " (run with --repair to delete)\n", id);
        ++problems;
      }
    }
  } else {
    printf("(no --root given: orphaned blobs not looked for)\n");
  }
  Status e = pl.export_pool();
  if (!e.ok()) {
    fprintf(stderr, "zvfs fsck: exporting the pool failed: %s\n", e.error().msg);
    return kExitFail;
  }
  if (problems && (!repair || !rep->consistent)) return kExitProblems;
  printf("zvfs fsck: %s\n", problems ? "problems remain" : "clean");
  return problems ? kExitProblems : kExitOk;
}

}  // namespace zvfs::cli
