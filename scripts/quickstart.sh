#!/usr/bin/env bash
# quickstart.sh — from a fresh Debian 12 machine to a running ZVFS with a real workload on it.
#
#   1. installs what is missing from Debian's registry (as root; nothing if all is there),
#   2. builds a release tree (build/release) and installs it into var/install,
#   3. creates the embedded default pool, a sparse file var/default.pool, unless it exists,
#   4. starts zvfsd on it (socket var/run/zvfsd.sock, log var/log/zvfsd.log) unless one runs,
#   5. runs the seed's fio job (16 KiB random writes, psync) and RocksDB's db_bench through
#      libzvfs.so on a fresh prefix under var/demo, then shows `zvfs status`,
#   6. leaves the daemon running and says how to use and stop it.
#
# Options: --no-install, --pool-size SIZE (default 8G), --keep-demo (keep the demo files).
# Environment: ZVFS_JOBS (build parallelism, default 2).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
# shellcheck source=lib/deps.sh
. "$top/scripts/lib/deps.sh"
# shellcheck source=lib/zvfs.sh
. "$top/scripts/lib/zvfs.sh"

install=1 pool_size=8G keep_demo=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-install) install=0 ;;
    --pool-size)
      pool_size=$2
      shift
      ;;
    --keep-demo) keep_demo=1 ;;
    -h | --help)
      sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "quickstart: unknown option $1 (try --help)" >&2
      exit 2
      ;;
  esac
  shift
done

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

var=$top/var
prefix=$var/install
pool=$var/default.pool
sock=$var/run/zvfsd.sock
log=$var/log/zvfsd.log
mkdir -p "$var/run" "$var/log"

if [ "$install" -eq 1 ]; then
  step "Installing missing packages"
  zvfs_install_missing "${ZVFS_DEPS_BUILD[@]}" fio rocksdb-tools attr || true
fi

step "Building (build/release) and installing into var/install"
cmake -S "$top" -B "$top/build/release" -DCMAKE_BUILD_TYPE=Release -DZVFS_TESTS=OFF >/dev/null
cmake --build "$top/build/release" -j"${ZVFS_JOBS:-2}"
cmake --install "$top/build/release" --prefix "$prefix" >/dev/null
zvfs_find_product "$prefix"
echo "zvfsd: $ZVFSD"
echo "zvfs:  $ZVFS_CLI"
echo "lib:   $ZVFS_LIB"

export ZVFS_SOCKET=$sock
step "Starting the daemon on the default pool ($pool, $pool_size sparse)"
if "$ZVFS_CLI" status >/dev/null 2>&1; then
  echo "a daemon already answers on $sock; using it"
else
  # Daemonizes and returns once the socket accepts connections.
  # Its placeholder guard watches every demo directory (--root), also the ones made later.
  mkdir -p "$var/demo"
  "$ZVFSD" --pool "$pool" --size "$pool_size" --socket "$sock" --log "$log" --root "$var/demo"
  zvfs_daemon_ready 60
fi
ls -ls "$pool"

demo=$var/demo/$(date +%Y%m%d-%H%M%S)
mkdir -p "$demo"
export ZVFS_ROOT=$demo
step "fio: the seed's job (16 KiB random writes, psync, 10 s) on $demo"
"$ZVFS_CLI" run --root "$demo" -- fio --name=seed --filename="$demo/fio.dat" --rw=randwrite \
  --bs=16k --ioengine=psync --iodepth=64 --size=256M --runtime=10 --time_based \
  --group_reporting

step "db_bench: RocksDB fillrandom (sync=1) then readrandom, database and WAL on $demo"
"$ZVFS_CLI" run --root "$demo" -- db_bench --benchmarks=fillrandom,readrandom,stats \
  --db="$demo/rocksdb" --wal_dir="$demo/rocksdb-wal" --num=10000 --reads=10000 --sync=1 \
  --value_size=400 --threads=1 --compression_type=none

step "What the files look like to Linux (placeholders: sizes right, no blocks of their own)"
ls -ls "$demo" "$demo/rocksdb" | head -n 20

step "zvfs status"
"$ZVFS_CLI" status

if [ "$keep_demo" -eq 0 ]; then
  "$ZVFS_CLI" run --root "$demo" -- rm -rf "$demo"
fi

cat <<EOF

ZVFS is running. The daemon stays up on the pool $pool.
  Use it:   export ZVFS_SOCKET=$sock
            $ZVFS_CLI run --root /path/to/dir -- your-program args...
  Status:   ZVFS_SOCKET=$sock $ZVFS_CLI status
  Stop it:  ZVFS_SOCKET=$sock $ZVFS_CLI down
  Log:      $log
EOF
