#!/usr/bin/env bash
# rocksdb.sh MODE — RocksDB (db_bench, ldb, sst_dump) with its database and WAL on ZVFS.
#
# MODE: run (fillseq, fillrandom, readrandom, overwrite with --sync=1; then the database is
# checked with ldb checkconsistency, compacted, every SST verified with sst_dump, and a fillseq
# database holds exactly its keys), crash-app (db_bench is killed with SIGKILL during a --sync=1
# fillseq), crash-daemon (the daemon is killed instead, then restarted). After a crash every key
# db_bench reported done is there, and the keys form one unbroken sequence from 0.
# ZVFS_TEST_LONG=1 uses 100000 keys instead of 2000.
set -uo pipefail
TEST_VARIANT=${1:?usage: rocksdb.sh run|crash-app|crash-daemon}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need db_bench ldb sst_dump getfattr
apps_setup

num=2000
[ "$TEST_LONG" = 1 ] && num=100000
db=$TEST_ROOT/rocksdb/db
wal=$TEST_ROOT/rocksdb/wal
mkdir -p "$TEST_ROOT/rocksdb"
common=(--db="$db" --wal_dir="$wal" --compression_type=none --value_size=400 --threads=1
  --statistics=0)

# keys: the keys of the database, as integers (db_bench keys start with an 8-byte big-endian int).
keys() {
  on_zvfs ldb --db="$db" scan --hex --no_value >"$TEST_DIR/keys.hex" 2>"$TEST_DIR/ldb.err" || {
    cat "$TEST_DIR/ldb.err"
    fail "ldb scan failed"
  }
  sed -nE 's/^0x([0-9A-Fa-f]{16}).*/\1/p' "$TEST_DIR/keys.hex" | while read -r h; do
    echo $((16#$h))
  done
}

# check_db: ldb's consistency check, a compaction, and sst_dump's verification of every table.
check_db() {
  on_zvfs ldb --db="$db" checkconsistency >"$TEST_DIR/ldb.out" 2>&1 || {
    cat "$TEST_DIR/ldb.out"
    fail "ldb checkconsistency failed"
  }
  on_zvfs ldb --db="$db" compact >"$TEST_DIR/ldb.out" 2>&1 || {
    cat "$TEST_DIR/ldb.out"
    fail "ldb compact failed"
  }
  on_zvfs sst_dump --file="$db" --command=verify >"$TEST_DIR/sst.out" 2>&1 || {
    cat "$TEST_DIR/sst.out"
    fail "sst_dump --command=verify failed"
  }
  grep -qiE 'corrupt|checksum mismatch' "$TEST_DIR/sst.out" && {
    cat "$TEST_DIR/sst.out"
    fail "sst_dump reports corruption"
  }
  ls "$db"/*.sst >/dev/null 2>&1 || fail "no SST file after compaction"
  expect_tree_in_pool "$TEST_ROOT/rocksdb" 3
}

case "$TEST_VARIANT" in
  run)
    on_zvfs db_bench --benchmarks=fillseq,fillrandom,readrandom,overwrite --sync=1 \
      --num="$num" --reads="$num" "${common[@]}" >"$TEST_DIR/db_bench.out" 2>&1 || {
      tail -n 30 "$TEST_DIR/db_bench.out"
      fail "db_bench failed"
    }
    grep -E '^(fillseq|fillrandom|readrandom|overwrite) ' "$TEST_DIR/db_bench.out" | sed 's/^/  /'
    # readrandom found keys (db_bench prints "(F of N found)"; fillrandom leaves gaps).
    found=$(sed -nE 's/^readrandom .*\(([0-9]+) of [0-9]+ found\).*/\1/p' "$TEST_DIR/db_bench.out")
    [ "${found:-0}" -gt 0 ] || fail "readrandom found no key"
    check_db
    on_zvfs db_bench --benchmarks=fillseq --sync=1 --num="$num" "${common[@]}" \
      >"$TEST_DIR/db_bench.out" 2>&1 || fail "db_bench fillseq failed"
    n=$(keys | wc -l)
    [ "$n" -eq "$num" ] || fail "fillseq of $num keys left $n keys"
    keys | awk -v n="$num" '$1 != NR - 1 { bad = 1 } END { exit bad || NR != n }' ||
      fail "the keys are not exactly 0..$((num - 1))"
    check_db
    ;;
  crash-app | crash-daemon)
    spawn_on_zvfs "$TEST_DIR/db_bench.out" db_bench --benchmarks=fillseq --sync=1 \
      --num=100000000 --duration=60 "${common[@]}"
    writer=$SPAWN_PID
    # Wait until db_bench reports at least 2000 synced puts (bounded).
    for ((i = 0; i < 600; i++)); do
      done_ops=$(tr '\r' '\n' <"$TEST_DIR/db_bench.out" | sed -nE 's/^\.\.\. finished ([0-9]+) ops.*/\1/p' | tail -n 1)
      [ "${done_ops:-0}" -ge 2000 ] && break
      kill -0 "$writer" 2>/dev/null || {
        tail -n 20 "$TEST_DIR/db_bench.out"
        fail "db_bench died before the crash point"
      }
      sleep 0.1
    done
    [ "${done_ops:-0}" -ge 2000 ] || fail "db_bench did not reach 2000 puts within 60 s"
    if [ "$TEST_VARIANT" = crash-app ]; then
      kill -KILL "$writer"
    else
      zvfs_daemon_kill9
    fi
    # What db_bench had reported done before the crash (it reports after the sync returned).
    done_ops=$(tr '\r' '\n' <"$TEST_DIR/db_bench.out" | sed -nE 's/^\.\.\. finished ([0-9]+) ops.*/\1/p' | tail -n 1)
    for ((i = 0; i < 300; i++)); do kill -0 "$writer" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$writer" 2>/dev/null
    wait "$writer" 2>/dev/null
    [ "$TEST_VARIANT" = crash-daemon ] && apps_start_daemon
    keys >"$TEST_DIR/keys.txt"
    n=$(wc -l <"$TEST_DIR/keys.txt")
    say "db_bench reported $done_ops puts done; the database holds $n keys"
    [ "$n" -ge "$done_ops" ] || fail "keys lost: $n < $done_ops acknowledged"
    awk '$1 != NR - 1 { bad = 1 } END { exit bad }' "$TEST_DIR/keys.txt" ||
      fail "the keys after the crash are not one unbroken sequence from 0"
    check_db
    ;;
  *) fail "unknown mode $TEST_VARIANT" ;;
esac
say "PASS"
