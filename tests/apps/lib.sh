# shellcheck shell=bash
# lib.sh — the harness every application test sources.
#
# A test gets: a scratch directory on a disk file system (TEST_DIR, under /var/tmp so that the
# postgres user can enter it), a fresh pool in it served by its own zvfsd (started in the
# foreground: ZVFSD_PID), the ZVFS prefix TEST_ROOT (= ZVFS_ROOT) inside it, a plain ext4
# directory TEST_PLAIN beside it for side-by-side runs, and the library's log in TEST_DIR/lib.log.
# Everything it started is stopped by PID and the scratch directory is removed on exit (kept
# when the test failed and ZVFS_KEEP_FAILED=1).
#
# Inputs: ZVFS_BUILD_DIR (the build tree holding zvfsd, zvfs, libzvfs.so; set by ctest), or
# ZVFS_PRODUCT (an install prefix). Exit codes: 0 pass, 1 fail, 77 skipped (a tool is missing).

apps_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$apps_top/scripts/lib/zvfs.sh"
. "$apps_top/scripts/lib/pg.sh"

TEST_NAME=$(basename "$0" .sh)${TEST_VARIANT:+-$TEST_VARIANT}
TEST_LONG=${ZVFS_TEST_LONG:-0}

say() { printf '[%s] %s\n' "$TEST_NAME" "$*"; }
fail() {
  say "FAIL: $*"
  exit 1
}
skip() {
  say "SKIP: $*"
  exit 77
}
need() {
  local t
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"; done
}

# apps_cleanup: stops what the test started, by PID, and removes the scratch directory.
apps_cleanup() {
  local rc=$?
  pg_stop
  zvfs_daemon_stop 30
  # The library never touches a placeholder's data through the kernel: an access the daemon's
  # guard refused in a test that did not provoke one (GUARD_REFUSALS_EXPECTED) is a bug.
  if [ $rc -eq 0 ] && [ "${GUARD_REFUSALS_EXPECTED:-0}" != 1 ] && [ -n "${TEST_DIR:-}" ] &&
    grep -q "guard: refused" "$TEST_DIR/zvfsd.log" 2>/dev/null; then
    say "FAIL: the daemon's guard refused an access by the test's programs:"
    grep "guard: refused" "$TEST_DIR/zvfsd.log" | head -n 5
    rc=1
  fi
  if [ $rc -ne 0 ] && [ -n "${TEST_DIR:-}" ]; then
    local f
    for f in "$TEST_DIR/zvfsd.log" "$TEST_DIR/lib.log"; do
      [ -s "$f" ] && say "$(basename "$f") (last lines):" && tail -n 15 "$f"
    done
  fi
  if [ $rc -ne 0 ] && [ "${ZVFS_KEEP_FAILED:-0}" = 1 ]; then
    say "kept $TEST_DIR"
  elif [ -n "${TEST_DIR:-}" ]; then
    rm -rf "$TEST_DIR"
  fi
  exit $rc
}

# apps_setup: scratch directory, product, pool and daemon. Call once at the top of a test.
apps_setup() {
  zvfs_find_product ${ZVFS_PRODUCT:+"$ZVFS_PRODUCT"} "${ZVFS_BUILD_DIR:-$apps_top/build}" ||
    fail "ZVFS is not built (set ZVFS_BUILD_DIR)"
  TEST_DIR=$(mktemp -d "${ZVFS_TEST_TMP:-/var/tmp}/zvfs-$TEST_NAME.XXXXXX") || fail "mktemp"
  chmod 755 "$TEST_DIR"
  trap apps_cleanup EXIT
  trap 'exit 130' INT TERM
  # Other users (postgres) load the library from here: a build tree may sit in a home directory.
  install -m 755 "$ZVFS_LIB" "$TEST_DIR/libzvfs.so"
  ZVFS_LIB=$TEST_DIR/libzvfs.so
  TEST_ROOT=$TEST_DIR/zvfs
  TEST_PLAIN=$TEST_DIR/plain
  mkdir -p "$TEST_ROOT" "$TEST_PLAIN"
  chmod 777 "$TEST_ROOT"
  export ZVFS_ROOT=$TEST_ROOT
  export ZVFS_LOG=$TEST_DIR/lib.log
  apps_start_daemon
}

# apps_start_daemon: (re)starts zvfsd on the test's pool; the pool is created on first start.
apps_start_daemon() {
  zvfs_daemon_start "$TEST_DIR/test.pool" "${TEST_POOL_SIZE:-4G}" "$TEST_DIR/zvfsd.sock" \
    "$TEST_DIR/zvfsd.log" || fail "zvfsd did not start"
}

# on_zvfs CMD...: runs CMD with the library preloaded on the test's prefix.
on_zvfs() { zvfs_preload "$@"; }

# spawn_on_zvfs OUT CMD...: starts CMD preloaded in the background, output to OUT; SPAWN_PID is
# the program's own PID (the subshell execs it), so a SIGKILL hits the program itself.
spawn_on_zvfs() {
  local out=$1
  shift
  (exec env LD_PRELOAD="$ZVFS_LIB${LD_PRELOAD:+:$LD_PRELOAD}" "$@" >"$out" 2>&1 </dev/null) &
  SPAWN_PID=$!
}

# binding_of FILE: prints the blob binding xattr of FILE (empty if none).
binding_of() {
  local n v
  for n in trusted.zvfs.blob user.zvfs.blob_id; do
    v=$(getfattr --only-values -n "$n" "$1" 2>/dev/null | tr -d '\0') && [ -n "$v" ] && {
      echo "$v"
      return 0
    }
  done
  return 1
}

# expect_in_pool FILE: FILE is a ZVFS file whose data is in the pool, not in the Linux file:
# it carries a binding, its st_size is its logical size (> 0) and Linux holds no block of it.
expect_in_pool() {
  local f=$1 blocks size
  [ -f "$f" ] || fail "$f does not exist"
  binding_of "$f" >/dev/null || fail "$f has no ZVFS binding xattr (written without ZVFS?)"
  blocks=$(stat -c %b "$f")
  size=$(stat -c %s "$f")
  [ "$size" -gt 0 ] || fail "$f has size 0"
  [ "$blocks" -eq 0 ] || fail "$f holds $blocks blocks on ext4: its data is not in the pool"
}

# expect_tree_in_pool DIR MIN: at least MIN regular files under DIR are ZVFS files with data in
# the pool, and no non-empty regular file under DIR keeps data in Linux blocks or lacks a binding
# (the same checks as expect_in_pool, with one getfattr and one find for the whole tree).
expect_tree_in_pool() {
  local dir=$1 min=$2 res
  res=$({
    getfattr -R -P --absolute-names -m '^(trusted\.zvfs\.blob|user\.zvfs\.blob_id)$' "$dir" \
      2>/dev/null | sed -n 's/^# file: /B /p'
    find "$dir" -type f -size +0 -printf 'F %b %p\n'
  } | awk '
    $1 == "B" { bound[substr($0, 3)] = 1; next }
    {
      f = $0; sub(/^F [0-9]+ /, "", f); n++
      if (bad) next
      if (!(f in bound)) bad = "E " f " has no ZVFS binding xattr (written without ZVFS?)"
      else if ($2 != 0) bad = "E " f " holds " $2 " blocks on ext4: its data is not in the pool"
    }
    END { print bad ? bad : "N " n + 0 }')
  case $res in
    E*) fail "${res#E }" ;;
  esac
  res=${res#N }
  [ "$res" -ge "$min" ] || fail "only $res ZVFS files under $dir (expected >= $min)"
  say "$res files under $dir live in the pool"
}

# lib_log_has PATTERN: the library's log mentions PATTERN.
lib_log_has() { grep -q -- "$1" "$ZVFS_LOG" 2>/dev/null; }
