#!/usr/bin/env bash
# postgres.sh MODE — PostgreSQL on ZVFS: data directory and a tablespace under the prefix.
#
# The server runs as the postgres user (crossing users to the daemon) with libzvfs.so preloaded.
# MODE: run (initdb; a tablespace under the prefix, reached through pg_tblspc's symlink; a
# database in it; pgbench -i, then pgbench with 1 and 4 clients; a clean restart), crash-app
# (the postmaster is killed with SIGKILL in the middle of pgbench), crash-daemon (the daemon is
# killed instead; then both restart), maintenance (what rewrites, copies and moves relation files:
# VACUUM FULL, CLUSTER, REINDEX, CREATE DATABASE with both strategies, SET TABLESPACE for a table
# and a database, DROP DATABASE, pg_dump into a new database, then pg_basebackup into the prefix,
# pg_verifybackup, and the server started from that backup), full (another file fills the pool:
# new rows get an error and the server goes on, updates in place commit, since they rewrite pages
# and WAL that the server wrote before; then the filler goes, the server restarts and pgbench
# runs). Afterwards: every transaction
# pgbench logged as done is in pgbench_history, the TPC-B balances agree, and pg_amcheck finds no
# corruption (in maintenance: also every copy holds the same accounts as the original).
# Scale 2 and 4 s runs by default; ZVFS_TEST_LONG=1: scale 10 and 30 s runs.
set -uo pipefail
TEST_VARIANT=${1:?usage: postgres.sh run|crash-app|crash-daemon|maintenance|full}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need getfattr setpriv
[ "$(id -u)" -eq 0 ] || skip "needs root to run PostgreSQL as the postgres user"
id postgres >/dev/null 2>&1 || skip "no postgres user"
pg_find_bin || skip "PostgreSQL is not installed"
[ "$TEST_VARIANT" = full ] && TEST_POOL_SIZE=384M
apps_setup

scale=2 secs=4
[ "$TEST_LONG" = 1 ] && scale=10 secs=30
data=$TEST_ROOT/pg
ts=$TEST_ROOT/ts
sock=$TEST_DIR/sock
port=5433
pglog=$TEST_DIR/pg-lib.log
: >"$pglog"
chmod 666 "$pglog"
PG_ENV=(LD_PRELOAD="$ZVFS_LIB" ZVFS_ROOT="$TEST_ROOT" ZVFS_SOCKET="$ZVFS_SOCKET" ZVFS_LOG="$pglog")
# With the daemon killed, each server process's next ZVFS call fails (EIO) only after this wait;
# a shorter one than the default keeps the crash test bounded.
[ "$TEST_VARIANT" = crash-daemon ] && PG_ENV+=(ZVFS_TIMEOUT_MS=3000)
sql() { pg_sql "$sock" "$port" "$1" "$2"; }
pgb() { "$PG_BIN/pgbench" -h "$sock" -p "$port" -U postgres "$@"; }

pg_prepare_dir "$data"
pg_prepare_dir "$ts"
pg_init "$data" || fail "initdb on ZVFS failed"
pg_start "$data" "$sock" "$port" || fail "PostgreSQL did not start on ZVFS"
[ "$(pg_sql "$sock" "$port" postgres "SHOW listen_addresses")" = "" ] ||
  fail "the server did not read the settings written to its postgresql.conf"
expect_in_pool "$data/postgresql.conf"
sql postgres "CREATE TABLESPACE zts LOCATION '$ts'" || fail "CREATE TABLESPACE failed"
sql postgres "CREATE DATABASE bench TABLESPACE zts" || fail "CREATE DATABASE failed"
link=$(find "$data/pg_tblspc" -maxdepth 1 -type l | head -n 1)
[ "$(readlink "$link")" = "$ts" ] || fail "pg_tblspc has no symlink to $ts"
pgb -i -s "$scale" -q bench >"$TEST_DIR/init.out" 2>&1 || {
  cat "$TEST_DIR/init.out"
  fail "pgbench -i failed"
}
say "initdb, tablespace through $link, pgbench -i -s $scale: done"

# check_bench MIN_DONE: TPC-B invariants, history holds at least MIN_DONE rows, no corruption.
check_bench() {
  local min=$1 counts
  counts=$(sql bench "SELECT (SELECT count(*) FROM pgbench_history),
      (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches),
      (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT coalesce(sum(delta), 0) FROM pgbench_history)") ||
    fail "cannot query the pgbench tables"
  IFS='|' read -r hist a b t d <<<"$counts"
  say "history=$hist sum(abalance)=$a sum(bbalance)=$b sum(tbalance)=$t sum(delta)=$d"
  [ "$a" = "$b" ] && [ "$b" = "$t" ] && [ "$t" = "$d" ] || fail "TPC-B balances disagree"
  [ "$hist" -ge "$min" ] || fail "pgbench_history has $hist rows, but $min transactions were done"
  "$PG_BIN/pg_amcheck" -h "$sock" -p "$port" -U postgres --all --install-missing \
    --heapallindexed >"$TEST_DIR/amcheck.out" 2>&1 || {
    cat "$TEST_DIR/amcheck.out"
    fail "pg_amcheck found problems"
  }
  say "pg_amcheck: no corruption"
}

# accounts DB: a fingerprint of every account and its balance.
accounts() {
  sql "$1" "SELECT count(*) || ' ' || md5(string_agg(aid || ':' || abalance, ',' ORDER BY aid))
      FROM pgbench_accounts"
}
# same_accounts DB WANT WHAT: DB's accounts fingerprint is WANT.
same_accounts() {
  local got
  got=$(accounts "$1") || fail "cannot read the accounts of $1 ($3)"
  [ "$got" = "$2" ] || fail "$3: accounts of $1 differ: $got, expected $2"
}

# done_transactions: transactions pgbench logged as completed (-l writes one line each).
done_transactions() { cat "$TEST_DIR"/pgbench_log.* 2>/dev/null | wc -l; }

case "$TEST_VARIANT" in
  run)
    for c in 1 4; do
      # -n: no vacuum, which would also truncate pgbench_history between the runs.
      pgb -n -c "$c" -j "$(((c + 1) / 2))" -T "$secs" -l --log-prefix="$TEST_DIR/pgbench_log" bench \
        >"$TEST_DIR/run-$c.out" 2>&1 || {
        cat "$TEST_DIR/run-$c.out"
        fail "pgbench -c $c failed"
      }
      grep -E '^(tps|number of transactions actually processed)' "$TEST_DIR/run-$c.out" | sed 's/^/  /'
    done
    n=$(done_transactions)
    check_bench "$n"
    pg_stop
    pg_start "$data" "$sock" "$port" || fail "PostgreSQL did not restart"
    check_bench "$n"
    ;;
  crash-app | crash-daemon)
    pgb -n -c 4 -j 2 -T 60 -l --log-prefix="$TEST_DIR/pgbench_log" bench >"$TEST_DIR/run.out" 2>&1 &
    client=$!
    for ((i = 0; i < 600; i++)); do
      h=$(sql bench "SELECT count(*) FROM pgbench_history" 2>/dev/null)
      [ "${h:-0}" -ge 300 ] && break
      kill -0 "$client" 2>/dev/null || {
        cat "$TEST_DIR/run.out"
        fail "pgbench ended before the crash point"
      }
      sleep 0.1
    done
    [ "${h:-0}" -ge 300 ] || fail "pgbench did not reach 300 transactions within 60 s"
    if [ "$TEST_VARIANT" = crash-app ]; then
      pg_kill9
    else
      zvfs_daemon_kill9
    fi
    # pgbench ends on its own when its connections fail (bounded); its log is then complete.
    for ((i = 0; i < 600; i++)); do kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$client" 2>/dev/null && fail "pgbench did not end within 60 s of the crash"
    wait "$client"
    n=$(done_transactions)
    say "crash after $n transactions done by pgbench"
    if [ "$TEST_VARIANT" = crash-daemon ]; then
      pg_kill9 # the server may be panicking on I/O errors; treat it as crashed too
      apps_start_daemon
    fi
    pg_start "$data" "$sock" "$port" || fail "PostgreSQL did not recover"
    check_bench "$n"
    ;;
  maintenance)
    pgb -n -c 2 -j 1 -T 2 -l --log-prefix="$TEST_DIR/pgbench_log" bench >"$TEST_DIR/run.out" 2>&1 ||
      fail "pgbench failed"
    want=$(accounts bench) || fail "cannot read the accounts"
    for s in "VACUUM FULL pgbench_accounts" "CLUSTER pgbench_accounts USING pgbench_accounts_pkey" \
      "REINDEX DATABASE bench"; do
      sql bench "$s" || fail "$s failed"
    done
    same_accounts bench "$want" "VACUUM FULL, CLUSTER, REINDEX"
    for strategy in FILE_COPY WAL_LOG; do
      sql postgres "CREATE DATABASE copy_${strategy,,} TEMPLATE bench STRATEGY $strategy" ||
        fail "CREATE DATABASE STRATEGY $strategy failed"
      same_accounts "copy_${strategy,,}" "$want" "CREATE DATABASE STRATEGY $strategy"
    done
    ts2=$TEST_ROOT/ts2
    pg_prepare_dir "$ts2"
    sql postgres "CREATE TABLESPACE zts2 LOCATION '$ts2'" || fail "CREATE TABLESPACE zts2 failed"
    sql bench "ALTER TABLE pgbench_accounts SET TABLESPACE zts2" || fail "SET TABLESPACE (table) failed"
    sql postgres "ALTER DATABASE copy_file_copy SET TABLESPACE zts2" ||
      fail "SET TABLESPACE (database) failed"
    same_accounts bench "$want" "ALTER TABLE SET TABLESPACE"
    same_accounts copy_file_copy "$want" "ALTER DATABASE SET TABLESPACE"
    sql postgres "DROP DATABASE copy_wal_log" || fail "DROP DATABASE failed"
    sql postgres "CREATE DATABASE restored" || fail "CREATE DATABASE restored failed"
    "$PG_BIN/pg_dump" -h "$sock" -p "$port" -U postgres bench >"$TEST_DIR/dump.sql" ||
      fail "pg_dump failed"
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres -d restored \
      -f "$TEST_DIR/dump.sql" >"$TEST_DIR/restore.out" 2>&1 || fail "restoring the dump failed"
    same_accounts restored "$want" "pg_dump and restore"
    say "VACUUM FULL, CLUSTER, REINDEX, CREATE DATABASE (both strategies), SET TABLESPACE, DROP DATABASE, pg_dump: done"
    # A base backup into the prefix, its tablespaces mapped to new directories there too.
    bb=$TEST_ROOT/backup
    for d in "$bb" "$ts.b" "$ts2.b"; do pg_prepare_dir "$d"; done
    pg_as_postgres "$PG_BIN/pg_basebackup" -h "$sock" -p "$port" -U postgres -D "$bb" -X stream \
      -c fast -T "$ts=$ts.b" -T "$ts2=$ts2.b" >"$TEST_DIR/basebackup.out" 2>&1 || {
      cat "$TEST_DIR/basebackup.out"
      fail "pg_basebackup into the prefix failed"
    }
    pg_as_postgres "$PG_BIN/pg_verifybackup" "$bb" >"$TEST_DIR/verifybackup.out" 2>&1 || {
      cat "$TEST_DIR/verifybackup.out"
      fail "pg_verifybackup found problems in the backup"
    }
    n=$(done_transactions)
    check_bench "$n"
    pg_stop
    data=$bb
    pg_start "$data" "$sock" "$port" || fail "PostgreSQL did not start from the base backup"
    same_accounts bench "$want" "the base backup"
    check_bench "$n"
    expect_tree_in_pool "$ts2.b" 1
    say "pg_basebackup into the prefix, verified, started from: done"
    ;;
  full)
    # A file of another program fills the pool: 1 MiB writes until ENOSPC, then 8 KiB ones,
    # so not even a page of new data fits.
    filler=$TEST_ROOT/filler
    on_zvfs dd if=/dev/urandom of="$filler" bs=1M >"$TEST_DIR/dd.out" 2>&1 &&
      fail "filling the pool: dd never stopped"
    grep -q "No space left on device" "$TEST_DIR/dd.out" || {
      cat "$TEST_DIR/dd.out"
      fail "filling the pool: dd did not stop at ENOSPC"
    }
    on_zvfs dd if=/dev/urandom of="$filler" bs=8k oflag=append conv=notrunc \
      >"$TEST_DIR/dd.out" 2>&1 && fail "filling the pool: dd never stopped"
    say "the pool is full ($(stat -c %s "$filler") bytes of filler)"
    # New rows need a new page of the (empty) history table: refused with an error, as on a
    # full ext4, and the server goes on.
    out=$(sql bench "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime)
      SELECT 1, 1, 1, 0, now() FROM generate_series(1, 1000)" 2>&1) &&
      fail "1000 new rows fitted in a full pool"
    grep -q "No space left on device" <<<"$out" || fail "new rows on the full pool: $out"
    # Updates in pages that have room, whose WAL goes into a segment the server filled with
    # zeros when it made it: rewrites, which a full pool still takes (ext4 takes them in
    # place). (A checkpoint would not work: each one writes a new small file, which a full ext4
    # refuses too.)
    for ((i = 0; i < 50; i++)); do
      sql bench "UPDATE pgbench_branches SET bbalance = bbalance + 1 WHERE bid = 1;
        UPDATE pgbench_tellers SET tbalance = tbalance + 1 WHERE tid = 1" ||
        fail "update $i on the full pool failed"
    done
    "$PG_BIN/pg_isready" -q -h "$sock" -p "$port" -U postgres || fail "the server went down"
    say "new rows refused, 50 updates committed on the full pool"
    on_zvfs rm "$filler" || fail "cannot remove the filler"
    sql bench "CHECKPOINT" || fail "CHECKPOINT once the filler went failed"
    pg_stop
    pg_start "$data" "$sock" "$port" || fail "PostgreSQL did not restart"
    [ "$(sql bench "SELECT bbalance FROM pgbench_branches WHERE bid = 1")" = 50 ] ||
      fail "the updates made on the full pool are not all there"
    # The account and history side of those 50 (the TPC-B balances must agree again).
    sql bench "UPDATE pgbench_accounts SET abalance = abalance + 50 WHERE aid = 1;
      INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 50, now())" ||
      fail "writing new rows once the filler went failed"
    pgb -n -c 2 -j 1 -T 2 -l --log-prefix="$TEST_DIR/pgbench_log" bench >"$TEST_DIR/run.out" 2>&1 || {
      cat "$TEST_DIR/run.out"
      fail "pgbench failed after the filler went"
    }
    check_bench "$(($(done_transactions) + 1))"
    ;;
  *) fail "unknown mode $TEST_VARIANT" ;;
esac
pg_stop
expect_tree_in_pool "$ts" 10
expect_tree_in_pool "$data/base" 10
say "PASS"
