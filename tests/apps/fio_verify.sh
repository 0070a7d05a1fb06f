#!/usr/bin/env bash
# fio_verify.sh MODE — fio through libzvfs.so, every block checked with crc32c.
#
# MODE: psync (16 KiB random writes, buffered), direct (4 KiB, O_DIRECT), libaio (4 KiB, O_DIRECT,
# iodepth 4), libaio-buffered (4 KiB, buffered, iodepth 4) and posixaio (4 KiB, glibc's POSIX AIO,
# iodepth 4): libaio's and POSIX AIO's calls on the ZVFS file are served by the library; seed (the seed's job: 16 KiB random writes, psync, iodepth 64, one
# thread).
# Each verifying mode writes, reads back and verifies in the same run, verifies again from a
# new process, and again after a clean daemon restart. ZVFS_TEST_LONG=1: 512 MiB instead of 32.
set -uo pipefail
TEST_VARIANT=${1:?usage: fio_verify.sh psync|direct|libaio|libaio-buffered|posixaio|seed}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need fio getfattr
apps_setup

size=32M
[ "$TEST_LONG" = 1 ] && size=512M
f=$TEST_ROOT/fio-$TEST_VARIANT.dat
out=$TEST_DIR/fio.out
case "$TEST_VARIANT" in
  psync) job=(--rw=randwrite --bs=16k --ioengine=psync) ;;
  direct) job=(--rw=randwrite --bs=4k --ioengine=psync --direct=1) ;;
  libaio) job=(--rw=randwrite --bs=4k --ioengine=libaio --iodepth=4 --direct=1) ;;
  libaio-buffered) job=(--rw=randwrite --bs=4k --ioengine=libaio --iodepth=4 --direct=0) ;;
  posixaio) job=(--rw=randwrite --bs=4k --ioengine=posixaio --iodepth=4) ;;
  seed) job=(--rw=randwrite --bs=16k --ioengine=psync --iodepth=64 --thread) ;;
  *) fail "unknown mode $TEST_VARIANT" ;;
esac

if [ "$TEST_VARIANT" = seed ]; then
  on_zvfs fio --name=seed --filename="$f" --size=64M --runtime=3 --time_based "${job[@]}" \
    >"$out" 2>&1 || {
    cat "$out"
    fail "the seed's fio job failed"
  }
  grep -E 'write: IOPS=' "$out" | sed 's/^ */  /'
  expect_in_pool "$f"
  [ "$(stat -c %s "$f")" -eq $((64 << 20)) ] || fail "file size $(stat -c %s "$f") != 64 MiB"
  say "PASS"
  exit 0
fi

verify=(--name=verify --filename="$f" --size="$size" --verify=crc32c --verify_fatal=1
  --do_verify=1 "${job[@]}")
if ! on_zvfs fio "${verify[@]}" >"$out" 2>&1; then
  if grep -qiE 'verify: bad|bad magic|bad checksum|crc32c.*(wanted|mismatch)' "$out"; then
    cat "$out"
    fail "fio read back wrong data (verify failed)"
  fi
  cat "$out"
  fail "fio failed"
fi
expect_in_pool "$f"
say "written and verified in one run ($size)"

# A new process reads what the first one wrote.
on_zvfs fio "${verify[@]}" --verify_only >"$out" 2>&1 || {
  cat "$out"
  fail "verification from a second process failed"
}
say "verified from a second process"

# The data survives a clean restart of the daemon.
zvfs_daemon_stop 30 || fail "zvfsd did not stop cleanly"
apps_start_daemon
on_zvfs fio "${verify[@]}" --verify_only >"$out" 2>&1 || {
  cat "$out"
  fail "verification after a daemon restart failed"
}
say "verified after a daemon restart"
say "PASS"
