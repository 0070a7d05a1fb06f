#!/usr/bin/env bash
# guard.sh — programs that read a ZVFS file without the library fail loudly.
#
# Without libzvfs.so, a ZVFS file's Linux placeholder holds no data: the daemon's placeholder
# guard refuses reads of it by any other process (EPERM, and a line in the daemon's log).
# Checked with cat, dd and tar run without the library, and with fio's io_uring engine, whose
# system calls bypass the library even when it is preloaded: its writes land in the
# placeholder (writes are not refused), its verifying reads are refused, and the daemon logs
# the stray bytes when the file is closed. The data stays intact and readable through the
# library throughout.
set -uo pipefail
TEST_VARIANT=${1:-run}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need fio sha256sum
apps_setup
[ "$(id -u)" = 0 ] || fail "the placeholder guard needs root (fanotify)"

f=$TEST_ROOT/guarded.dat
on_zvfs dd if=/dev/urandom of="$f" bs=64k count=64 status=none || fail "dd through ZVFS failed"
sum=$(on_zvfs sha256sum "$f" | cut -d' ' -f1)
expect_in_pool "$f"

refusals() { grep -c "guard: refused" "$TEST_DIR/zvfsd.log"; }
before=$(refusals)
if out=$(cat "$f" 2>&1 >/dev/null); then fail "cat without the library read the placeholder"; fi
echo "$out" | grep -q "Operation not permitted" || fail "cat without the library: '$out'"
if dd if="$f" of=/dev/null bs=4k count=1 status=none 2>/dev/null; then
  fail "dd without the library read the placeholder"
fi
if tar cf "$TEST_DIR/t.tar" "$f" 2>/dev/null; then fail "tar without the library read the placeholder"; fi
sleep 0.2
[ "$(refusals)" -ge $((before + 3)) ] || fail "the daemon logged $(($(refusals) - before)) refusals, not 3"
grep "guard: refused" "$TEST_DIR/zvfsd.log" | grep -q "(cat) a read of $f" ||
  fail "the log line does not name the program and the file"
say "cat, dd and tar without the library: refused and logged"

# fio's io_uring engine submits with inline system calls that the library cannot see.
g=$TEST_ROOT/uring.dat
on_zvfs fio --name=uring --filename="$g" --size=4M --bs=4k --rw=randwrite --ioengine=io_uring \
  --verify=crc32c --do_verify=1 >"$TEST_DIR/fio.out" 2>&1 &&
  fail "fio ioengine=io_uring on a ZVFS file succeeded (it cannot reach the pool)"
grep -q "Operation not permitted" "$TEST_DIR/fio.out" || {
  cat "$TEST_DIR/fio.out"
  fail "fio ioengine=io_uring failed, but not with the guard's EPERM"
}
sleep 0.2
grep -q "placeholder holds .* written without libzvfs.so" "$TEST_DIR/zvfsd.log" ||
  fail "the daemon did not report the bytes fio wrote into the placeholder"
say "fio ioengine=io_uring: reads refused, stray writes reported"

[ "$(on_zvfs sha256sum "$f" | cut -d' ' -f1)" = "$sum" ] || fail "the data changed"
[ "$(stat -c %s "$f")" -eq $((64 << 16)) ] || fail "placeholder size $(stat -c %s "$f")"
say "PASS"
