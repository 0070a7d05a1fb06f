#!/usr/bin/env bash
# run.sh — the side-by-side benchmark suite: every workload on ext4 and on ZVFS in one run,
# with the raw device (a plain file driven by io_uring at the same queue depth) as the limit.
#
# For each workload it runs ext4 and ZVFS alternately, --reps times (default 3), and reports
# the medians, the ratios and whether each target is met (bench/report.py holds the workloads,
# their ext4 counterparts and their targets). All files live in one scratch directory on the
# same disk (default under /var/tmp), including the ZVFS pool, which the suite creates, serves
# with its own zvfsd and deletes at the end. Results go to var/bench/<date>/: records.jsonl,
# results.json, table.md and chart.png. Takes about 10 minutes on 2 cores with the defaults.
#
# Options:
#   --reps N         repetitions per workload (default 3)
#   --seconds S      run time of each fio and raw job (default 4)
#   --quick          1 repetition, 2 s jobs, small db_bench and pgbench runs (a smoke run)
#   --only REGEX     run only the workloads whose id matches (e.g. 'seed|append')
#   --no-zvfs        ext4 and raw rows only (also automatic when ZVFS is not built)
#   --publish        also copy table.md and chart.png to bench/results/latest.{md,png}
#   --no-install     never call apt-get
#   --preallocate    make the ZVFS pool with `zvfs create --preallocate` (a dense file) instead
#                    of letting zvfsd create it sparse
# Environment: ZVFS_BENCH_DIR (scratch parent, default /var/tmp); ZVFS_BENCH_BUILD (build tree,
# default build/bench); ZVFS_BENCH_PRODUCT (an install prefix or build tree holding zvfsd, zvfs
# and libzvfs.so; default: the build tree); ZVFS_BENCH_CACHE (zvfsd --cache, default 1G).
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top" || exit 2
. "$top/scripts/lib/deps.sh"
. "$top/scripts/lib/zvfs.sh"
. "$top/scripts/lib/pg.sh"

args_given="$*"
reps=3 secs=4 quick=0 only="" use_zvfs=1 publish=0 install=1 prealloc=0
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=$2; shift ;;
    --seconds) secs=$2; shift ;;
    --quick) quick=1 reps=1 secs=2 ;;
    --only) only=$2; shift ;;
    --no-zvfs) use_zvfs=0 ;;
    --publish) publish=1 ;;
    --no-install) install=0 ;;
    --preallocate) prealloc=1 ;;
    -h | --help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
db_num=20000 pg_secs=10 pg_scale=10
[ "$quick" -eq 1 ] && db_num=3000 pg_secs=3

started=$(date +%s)
load_start=$(cut -d' ' -f1 /proc/loadavg)
say() { printf '[%4ds] %s\n' "$(($(date +%s) - started))" "$*"; }
wanted() { [ -z "$only" ] || [[ $1 =~ $only ]]; }

if [ "$install" -eq 1 ]; then
  zvfs_install_missing "${ZVFS_DEPS_BUILD[@]}" fio rocksdb-tools postgresql python3 \
    "${ZVFS_DEPS_BENCH[@]}" || say "some packages are missing; their rows will be absent"
fi
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3  # Debian's, where python3-matplotlib lives

# Build: everything if it builds (Release, no tests), else at least the raw baseline.
build=${ZVFS_BENCH_BUILD:-$top/build/bench}
say "building ($build)"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DZVFS_TESTS=OFF >/dev/null 2>&1 || true
if ! cmake --build "$build" -j"${ZVFS_JOBS:-2}" >/dev/null 2>&1; then
  say "full build failed; building the raw baseline only"
  cmake --build "$build" --target zvfs_bench_raw -j"${ZVFS_JOBS:-2}" >/dev/null || exit 1
fi
raw_tool=$build/bench/raw/zvfs_bench_raw
if [ "$use_zvfs" -eq 1 ] && ! zvfs_find_product ${ZVFS_BENCH_PRODUCT:+"$ZVFS_BENCH_PRODUCT"} "$build" 2>/dev/null; then
  say "ZVFS is not built (zvfsd, zvfs, libzvfs.so): ext4 and raw rows only"
  use_zvfs=0
fi

out=$top/var/bench/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out/logs"
records=$out/records.jsonl
: >"$records"
work=$(mktemp -d "${ZVFS_BENCH_DIR:-/var/tmp}/zvfs-bench.XXXXXX") || exit 1
chmod 755 "$work"
mkdir -p "$work/ext4"
failures=0

# The PostgreSQL clusters of the pgbench rows, by system (stopped by their PIDs).
declare -A pg_pids=()
pg_stop_all() {
  local sys
  for sys in "${!pg_pids[@]}"; do
    PG_PID=${pg_pids[$sys]}
    pg_stop
    unset "pg_pids[$sys]"
  done
}

cleanup() {
  pg_stop_all
  pg_stop
  if [ -n "${ZVFSD_PID:-}" ]; then
    # The daemon's own view of the run (per-operation counts and latencies) for diagnosis.
    "$ZVFS_CLI" status >"$out/logs/zvfs-status.txt" 2>&1 || true
    zvfs_daemon_stop 30
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$use_zvfs" -eq 1 ]; then
  # The postgres user must be able to load the library and reach the socket: both live in the
  # scratch directory (mode 755), not in a home directory it may not enter.
  install -m 755 "$ZVFS_LIB" "$work/libzvfs.so"
  ZVFS_LIB=$work/libzvfs.so
  mkdir -p "$work/zvfs"
  export ZVFS_ROOT=$work/zvfs
  # The daemon and clients as this script sets them up, not as /etc/zvfs/zvfs.conf would.
  export ZVFS_CONFIG=
  if [ "$prealloc" -eq 1 ]; then
    say "creating a preallocated 16G pool in $work"
    "$ZVFS_CLI" create "$work/bench.pool" --size 16G --preallocate >/dev/null || exit 1
  fi
  say "starting zvfsd on a fresh pool in $work"
  zvfs_daemon_start "$work/bench.pool" 16G "$work/zvfsd.sock" "$out/logs/zvfsd.log" \
    --cache "${ZVFS_BENCH_CACHE:-1G}" || exit 1
fi
systems=(ext4)
[ "$use_zvfs" -eq 1 ] && systems+=(zvfs)

# dir_of SYSTEM: where that system's files go.
dir_of() { if [ "$1" = zvfs ]; then echo "$work/zvfs"; else echo "$work/ext4"; fi; }

# on SYSTEM CMD...: runs CMD on that system (preloaded for ZVFS).
on() {
  local sys=$1
  shift
  if [ "$sys" = zvfs ]; then zvfs_preload "$@"; else "$@"; fi
}

# measure KIND WORKLOAD SYSTEM REP CMD...: runs CMD, keeps its output, appends its records.
measure() {
  local kind=$1 wl=$2 sys=$3 rep=$4
  shift 4
  local log=$out/logs/$wl-$sys-$rep.out
  if ! "$@" >"$log" 2>"$log.err"; then
    say "FAILED: $wl on $sys (rep $rep): see $log.err"
    tail -n 5 "$log.err" | sed 's/^/    /'
    failures=$((failures + 1))
    return 1
  fi
  if ! "$py" "$top/bench/report.py" parse "$kind" "$log" --workload "$wl" --system "$sys" \
    --rep "$rep" >>"$records"; then
    failures=$((failures + 1))
    return 1
  fi
}

# fio_job WORKLOAD SYSTEM REP FIO-ARGS...: one fio job on a fresh file, removed afterwards.
fio_job() {
  local wl=$1 sys=$2 rep=$3
  shift 3
  local f
  f=$(dir_of "$sys")/$wl.dat
  on "$sys" rm -f "$f"
  measure fio "$wl" "$sys" "$rep" on "$sys" fio --output-format=json --name="$wl" \
    --filename="$f" --thread --group_reporting "$@"
  on "$sys" rm -f "$f"
}

seed=(--rw=randwrite --bs=16k --ioengine=psync --iodepth=64 --size=256M --runtime="$secs" --time_based)
declare -A fio_args=(
  [seed-direct]="${seed[*]} --direct=1"
  [seed-osync]="${seed[*]} --sync=1"
  [seed-buffered]="${seed[*]}"
  [randread-cached]="--rw=randread --bs=4k --ioengine=psync --size=128M --invalidate=0 --pre_read=1 --runtime=$secs --time_based"
  [randread-direct]="--rw=randread --bs=4k --ioengine=psync --size=256M --direct=1 --runtime=$secs --time_based"
  [seqwrite-direct]="--rw=write --bs=1m --ioengine=psync --size=1G --direct=1 --runtime=$secs --time_based"
  [overwrite-fdatasync]="--rw=randwrite --bs=4k --ioengine=psync --size=64M --fdatasync=1 --runtime=$secs --time_based"
  [append-fdatasync]="--rw=write --bs=4k --ioengine=psync --size=2G --fdatasync=1 --file_append=1 --fallocate=none --runtime=$secs"
)
fio_order=(seed-direct seed-osync seed-buffered randread-cached randread-direct seqwrite-direct
  overwrite-fdatasync append-fdatasync)

declare -A raw_args=(
  [raw-randwrite-16k]="--mode randwrite --bs 16k"
  [raw-randwrite-16k-sync]="--mode randwrite --bs 16k --fdatasync"
  [raw-randread-4k]="--mode randread --bs 4k"
  [raw-seqwrite-1m]="--mode seqwrite --bs 1m --size 1g"
  [raw-randwrite-4k-sync]="--mode randwrite --bs 4k --size 64m --fdatasync"
  [raw-append-4k-sync]="--mode append --bs 4k --fdatasync"
)

# The raw baselines run just before the fio rows compared with them (report.py's WORKLOADS):
# the ratios (report.py) divide figures measured minutes apart no more, on a disk whose speed
# drifts over minutes.
declare -A raw_before=(
  [seed-direct]="raw-randwrite-16k"
  [seed-osync]="raw-randwrite-16k-sync"
  [randread-direct]="raw-randread-4k"
  [seqwrite-direct]="raw-seqwrite-1m"
  [overwrite-fdatasync]="raw-randwrite-4k-sync"
  [append-fdatasync]="raw-append-4k-sync"
)

for ((rep = 1; rep <= reps; rep++)); do
  for wl in "${fio_order[@]}"; do
    for rw in ${raw_before[$wl]:-}; do
      wanted "$rw" || continue
      say "raw $rw (rep $rep)"
      # shellcheck disable=SC2086
      measure raw "$rw" raw "$rep" "$raw_tool" --file "$work/raw.dat" --seconds "$secs" ${raw_args[$rw]}
    done
    wanted "$wl" || continue
    for sys in "${systems[@]}"; do
      say "fio $wl on $sys (rep $rep)"
      # shellcheck disable=SC2086
      fio_job "$wl" "$sys" "$rep" ${fio_args[$wl]}
    done
  done
  if wanted sqlite-journal && "$py" -c 'import sqlite3' 2>/dev/null; then
    for sys in "${systems[@]}"; do
      say "sqlite-journal on $sys (rep $rep)"
      measure sqlite sqlite-journal "$sys" "$rep" on "$sys" "$py" "$top/bench/sqlite_txn.py" \
        "$(dir_of "$sys")/sqlite.db" "$secs"
      on "$sys" rm -f "$(dir_of "$sys")/sqlite.db" "$(dir_of "$sys")/sqlite.db-journal"
    done
  fi
  if wanted dbbench; then
    for sys in "${systems[@]}"; do
      say "db_bench on $sys (rep $rep)"
      d=$(dir_of "$sys")/rocksdb
      measure dbbench dbbench "$sys" "$rep" on "$sys" db_bench \
        --benchmarks=fillseq,fillrandom,readrandom,overwrite --sync=1 --num="$db_num" \
        --reads="$db_num" --db="$d" --wal_dir="$d-wal" --compression_type=none --threads=1 \
        --value_size=400 --statistics=0
      on "$sys" rm -rf "$d" "$d-wal"
    done
  fi
done

# pgbench: one cluster per system, both initialised first and running side by side, then the
# repetitions alternate between them (as the fio rows do), so that a slow spell of the machine
# falls on both systems rather than on whichever ran second.
if wanted pgbench && pg_find_bin && [ "$(id -u)" -eq 0 ]; then
  declare -A pg_port=()
  pg_ready=()
  port=5491
  for sys in "${systems[@]}"; do
    PG_ENV=()
    if [ "$sys" = zvfs ]; then
      PG_ENV=(LD_PRELOAD="$ZVFS_LIB" ZVFS_ROOT="$ZVFS_ROOT" ZVFS_SOCKET="$ZVFS_SOCKET")
    fi
    data=$(dir_of "$sys")/pg
    say "pgbench: initdb and pgbench -i -s $pg_scale on $sys"
    pg_prepare_dir "$data"
    if ! pg_init "$data" || ! pg_start "$data" "$work/pgsock-$sys" "$port"; then
      failures=$((failures + 1))
      pg_stop
      continue
    fi
    pg_pids[$sys]=$PG_PID
    pg_port[$sys]=$port
    if ! "$PG_BIN/pgbench" -i -s "$pg_scale" -q -h "$work/pgsock-$sys" -p "$port" -U postgres \
      postgres >"$out/logs/pgbench-init-$sys.log" 2>&1; then
      say "FAILED: pgbench -i on $sys (see $out/logs/pgbench-init-$sys.log)"
      failures=$((failures + 1))
    else
      pg_ready+=("$sys")
    fi
    port=$((port + 1))
  done
  for ((rep = 1; rep <= reps; rep++)); do
    for c in 1 4; do
      for sys in "${pg_ready[@]}"; do
        say "pgbench -c $c on $sys (rep $rep)"
        measure pgbench "pgbench-$c" "$sys" "$rep" "$PG_BIN/pgbench" -c "$c" -j "$(((c + 1) / 2))" \
          -T "$pg_secs" -h "$work/pgsock-$sys" -p "${pg_port[$sys]}" -U postgres postgres
      done
    done
  done
  pg_stop_all
  for sys in "${systems[@]}"; do on "$sys" rm -rf "$(dir_of "$sys")/pg"; done
elif wanted pgbench; then
  say "pgbench skipped: needs root (to run PostgreSQL as postgres) and PostgreSQL installed"
fi

host_cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
mem_gib=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)
fs_dev=$(df --output=source,fstype "$work" | tail -n 1 | tr -s ' ')
rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
note="ZVFS rows: $([ "$use_zvfs" -eq 1 ] && echo "zvfsd + libzvfs.so at commit $rev" || echo "not measured (ZVFS not built)")."
note="$note Load average $load_start at the start, $(cut -d' ' -f1 /proc/loadavg) at the end (other work on the machine skews the fdatasync rows)."
"$py" - "$out/meta.json" <<EOF
import json, sys
json.dump({
    "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
    "machine": "$(nproc) vCPU $host_cpu, $mem_gib GiB RAM, kernel $(uname -r), ${fs_dev}",
    "reps": $reps, "seconds_per_job": $secs, "command": "bench/run.sh${args_given:+ $args_given}",
    "zvfs": $([ "$use_zvfs" -eq 1 ] && echo True || echo False), "commit": "$rev",
    "note": """$note""",
}, open(sys.argv[1], "w"), indent=1)
EOF
say "report"
"$py" "$top/bench/report.py" report "$records" "$out/meta.json" "$out" | tee "$out/summary.txt"
ln -sfn "$(basename "$out")" "$top/var/bench/latest"
if [ "$publish" -eq 1 ]; then
  mkdir -p "$top/bench/results"
  cp "$out/table.md" "$top/bench/results/latest.md"
  [ -f "$out/chart.png" ] && cp "$out/chart.png" "$top/bench/results/latest.png"
fi
say "done: $out ($failures failed measurements)"
[ "$failures" -eq 0 ]
