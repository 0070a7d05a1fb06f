#!/usr/bin/env bash
# sqlite.sh MODE — SQLite on ZVFS, compared with the same work on ext4.
#
# MODE: shell (the sqlite3 command line), python (Python's sqlite3 module), wal (WAL mode: a
# writer and a reader process share the WAL index, whose "-shm" file stays a plain Linux file
# (ZVFS_PLAIN_SUFFIXES) because SQLite maps it MAP_SHARED; the WAL itself is in the pool; the
# writer exits without closing and the next open recovers every commit), crash-app (the
# writer is killed with SIGKILL inside a large transaction: the hot journal rolls it back),
# crash-daemon (the daemon is killed inside that transaction; after a restart every committed
# row is there and the database is intact), wal-crash-app and wal-crash-daemon (the same in WAL
# mode: the committed rows live only in the WAL, the large transaction's pages spill into it
# uncommitted; recovery keeps exactly the committed rows), mmap (two processes with PRAGMA
# mmap_size take turns changing rows in place: each sees the other's commits at once and none
# is lost; on ZVFS SQLite's shared mapping is refused and it reads with read()).
set -uo pipefail
TEST_VARIANT=${1:?usage: sqlite.sh shell|python|wal|crash-app|crash-daemon|wal-crash-app|wal-crash-daemon|mmap}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
need getfattr
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
# The long tests (ZVFS_TEST_LONG=1) do 20 times the work: rows, batches and transactions.
scale=1
[ "$TEST_LONG" = 1 ] && scale=20
export ZVFS_SQLITE_SCALE=$scale
rows=$((1000 * scale))

shell_work() {
  sqlite3 -batch -bail "$1" <<SQL
PRAGMA journal_mode=DELETE;
PRAGMA synchronous=FULL;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $((5000 * scale - 1)))
INSERT INTO t(k, v) SELECT (i * 7919) % 1000, printf('%0200d', i) FROM n;
COMMIT;
CREATE INDEX tk ON t(k);
UPDATE t SET v = v || '-u' WHERE k % 3 = 0;
DELETE FROM t WHERE k % 10 = 1;
BEGIN;
DELETE FROM t;
ROLLBACK;
VACUUM;
PRAGMA integrity_check;
SELECT count(*), sum(k), sum(length(v)) FROM t;
SELECT count(*) FROM t WHERE k BETWEEN 100 AND 200;
SQL
}

case "$TEST_VARIANT" in
  shell)
    need sqlite3
    apps_setup
    shell_work "$TEST_PLAIN/t.db" >"$TEST_DIR/plain.out" 2>&1 || fail "sqlite3 on ext4 failed"
    on_zvfs shell_work "$TEST_ROOT/t.db" >"$TEST_DIR/zvfs.out" 2>&1 || {
      cat "$TEST_DIR/zvfs.out"
      fail "sqlite3 on ZVFS failed"
    }
    diff -u "$TEST_DIR/plain.out" "$TEST_DIR/zvfs.out" || fail "results differ from ext4"
    grep -qx ok "$TEST_DIR/zvfs.out" || fail "integrity_check did not say ok"
    expect_in_pool "$TEST_ROOT/t.db"
    [ ! -e "$TEST_ROOT/t.db-journal" ] || fail "a journal was left behind"
    cmp "$TEST_PLAIN/t.db" <(on_zvfs cat "$TEST_ROOT/t.db") || fail "database files differ"
    ;;
  python)
    apps_setup
    "$py" "$here/sqlite_work.py" run "$TEST_PLAIN/t.db" >"$TEST_DIR/plain.out" 2>&1 ||
      fail "python sqlite3 on ext4 failed"
    on_zvfs "$py" "$here/sqlite_work.py" run "$TEST_ROOT/t.db" >"$TEST_DIR/zvfs.out" 2>&1 || {
      cat "$TEST_DIR/zvfs.out"
      fail "python sqlite3 on ZVFS failed"
    }
    diff -u "$TEST_DIR/plain.out" "$TEST_DIR/zvfs.out" || fail "results differ from ext4"
    grep -qx 'integrity ok' "$TEST_DIR/zvfs.out" || fail "integrity_check did not say ok"
    expect_in_pool "$TEST_ROOT/t.db"
    ;;
  mmap)
    apps_setup
    "$py" "$here/sqlite_work.py" mmap "$TEST_PLAIN/t.db" >"$TEST_DIR/plain.out" 2>&1 || {
      cat "$TEST_DIR/plain.out"
      fail "the mmap work on ext4 failed"
    }
    on_zvfs "$py" "$here/sqlite_work.py" mmap "$TEST_ROOT/t.db" >"$TEST_DIR/zvfs.out" 2>&1 || {
      cat "$TEST_DIR/zvfs.out"
      fail "the mmap work on ZVFS failed"
    }
    tail -n 3 "$TEST_DIR/zvfs.out" | sed 's/^/  /'
    diff -u "$TEST_DIR/plain.out" "$TEST_DIR/zvfs.out" || fail "results differ from ext4"
    grep -qx 'integrity ok' "$TEST_DIR/zvfs.out" || fail "integrity_check did not say ok"
    grep -qE '^sum ([0-9]+) expected \1$' "$TEST_DIR/zvfs.out" || fail "committed changes were lost"
    expect_in_pool "$TEST_ROOT/t.db"
    ;;
  wal)
    apps_setup
    for sys in plain zvfs; do
      if [ "$sys" = plain ]; then db=$TEST_PLAIN/t.db run=(); else db=$TEST_ROOT/t.db run=(on_zvfs); fi
      "${run[@]}" "$py" "$here/sqlite_work.py" wal "$db" >"$TEST_DIR/$sys.out" 2>&1 || {
        cat "$TEST_DIR/$sys.out"
        fail "WAL work on $sys failed"
      }
      if [ "$sys" = zvfs ]; then
        expect_in_pool "$db-wal"
        [ -f "$db-shm" ] || fail "no WAL index beside the database"
        ! binding_of "$db-shm" >/dev/null || fail "the WAL index $db-shm was bound to a blob"
      fi
      "${run[@]}" "$py" "$here/sqlite_work.py" wal-check "$db" >>"$TEST_DIR/$sys.out" 2>&1 || {
        cat "$TEST_DIR/$sys.out"
        fail "reopening the WAL database on $sys failed"
      }
    done
    cat "$TEST_DIR/zvfs.out" | sed 's/^/  /'
    diff -u "$TEST_DIR/plain.out" "$TEST_DIR/zvfs.out" || fail "results differ from ext4"
    grep -qx "reader saw $rows rows in whole transactions" "$TEST_DIR/zvfs.out" ||
      fail "the reader process did not see every commit"
    grep -qx 'wal holds the commits True' "$TEST_DIR/zvfs.out" || fail "the commits were not in the WAL"
    [ "$(grep -cx "count $rows" "$TEST_DIR/zvfs.out")" -eq 2 ] ||
      fail "every committed row must be there, before and after recovery"
    [ "$(grep -cx 'integrity ok' "$TEST_DIR/zvfs.out")" -eq 2 ] || fail "integrity_check failed"
    expect_in_pool "$TEST_ROOT/t.db"
    ;;
  crash-app | crash-daemon | wal-crash-app | wal-crash-daemon)
    apps_setup
    ready=$TEST_DIR/ready
    db=$TEST_ROOT/t.db
    work=crash check=check
    case "$TEST_VARIANT" in wal-*) work=wal-crash check=wal-check ;; esac
    # With the daemon gone, each call of the writer waits this long before EIO (default 10 s).
    export ZVFS_TIMEOUT_MS=1000
    spawn_on_zvfs "$TEST_DIR/crash.out" "$py" "$here/sqlite_work.py" "$work" "$db" "$ready"
    writer=$SPAWN_PID
    for ((i = 0; i < 600; i++)); do
      [ -e "$ready" ] && break
      kill -0 "$writer" 2>/dev/null || {
        cat "$TEST_DIR/crash.out"
        fail "the writer died before the crash point"
      }
      sleep 0.1
    done
    [ -e "$ready" ] || fail "the writer did not reach the crash point within 60 s"
    if [ "$work" = crash ]; then
      [ -e "$db-journal" ] || fail "no hot journal beside the database at the crash point"
    else
      # The uncommitted transaction's pages spill into the WAL after the committed ones.
      [ "$(on_zvfs stat -c %s "$db-wal")" -gt $((rows * 200)) ] ||
        fail "no WAL with the committed rows beside the database at the crash point"
    fi
    if [ "${TEST_VARIANT#wal-}" = crash-app ]; then
      kill -KILL "$writer"
      wait "$writer" 2>/dev/null
    else
      zvfs_daemon_kill9
      # The writer now gets errors; it must end on its own (bounded), then the daemon restarts.
      for ((i = 0; i < 300; i++)); do kill -0 "$writer" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$writer" 2>/dev/null
      wait "$writer" 2>/dev/null
      apps_start_daemon
    fi
    on_zvfs "$py" "$here/sqlite_work.py" "$check" "$db" >"$TEST_DIR/check.out" 2>&1 || {
      cat "$TEST_DIR/check.out"
      fail "the database cannot be read after the crash"
    }
    cat "$TEST_DIR/check.out" | sed 's/^/  /'
    grep -qx 'integrity ok' "$TEST_DIR/check.out" || fail "integrity_check failed after the crash"
    grep -qx "count $rows" "$TEST_DIR/check.out" ||
      fail "after the crash the table should hold exactly the $rows committed rows"
    [ ! -e "$db-journal" ] || [ "$(stat -c %s "$db-journal")" -eq 0 ] ||
      fail "the hot journal was not rolled back"
    expect_in_pool "$db"
    ;;
  *) fail "unknown mode $TEST_VARIANT" ;;
esac
say "PASS"
