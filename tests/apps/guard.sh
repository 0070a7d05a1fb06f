#!/usr/bin/env bash
# guard.sh — programs that reach a ZVFS file without the library fail loudly.
#
# Without libzvfs.so, a ZVFS file's Linux placeholder holds no data: the daemon's placeholder
# guard refuses every open of it by a program without the library, and reads, writes, truncates
# and fallocates that a program with it makes around it (EPERM, and a line in the daemon's log).
# Checked with cat, dd, tar, cp, shell redirections (one with O_TRUNC), truncate and fallocate
# run without the library, and with fio's io_uring engine, whose system calls bypass the
# library even when it is preloaded. The library's own truncates of the placeholder (its
# st_size) go through. A descriptor opened before the daemon saw the file is not guarded (Linux
# decides at open): the daemon reports the bytes written through it when the file is closed.
# The data stays intact and readable through the library throughout.
set -uo pipefail
TEST_VARIANT=${1:-run}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
GUARD_REFUSALS_EXPECTED=1
need fio sha256sum fallocate truncate
apps_setup
[ "$(id -u)" = 0 ] || fail "the placeholder guard needs root (fanotify)"

f=$TEST_ROOT/guarded.dat
size=$((64 << 16))
on_zvfs dd if=/dev/urandom of="$f" bs=64k count=64 status=none || fail "dd through ZVFS failed"
sum=$(on_zvfs sha256sum "$f" | cut -d' ' -f1)
expect_in_pool "$f"
intact() {
  [ "$(on_zvfs sha256sum "$f" | cut -d' ' -f1)" = "$sum" ] || fail "the data changed ($1)"
  [ "$(stat -c %s "$f")" -eq "$size" ] || fail "placeholder size $(stat -c %s "$f") ($1)"
  [ "$(stat -c %b "$f")" -eq 0 ] || fail "the placeholder holds data blocks ($1)"
}

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
grep "guard: refused" "$TEST_DIR/zvfsd.log" | grep -q "(cat) an open of $f" ||
  fail "the log line does not name the program and the file"
say "cat, dd and tar without the library: opens refused and logged"

# cp finds the placeholder all hole and would write an empty copy without reading a byte.
before=$(refusals)
if cp "$f" "$TEST_DIR/copy" 2>/dev/null; then fail "cp without the library copied the placeholder"; fi
[ ! -s "$TEST_DIR/copy" ] || fail "cp without the library wrote a copy"
sleep 0.2
[ "$(refusals)" -ge $((before + 1)) ] || fail "the daemon did not log cp's refused open"
say "cp without the library: refused, no empty copy"

if grep -q "no pre-content events" "$TEST_DIR/zvfsd.log"; then
  fail "this kernel or file system has no fanotify pre-content events (Linux >= 6.14 on ext4)"
fi
before=$(refusals)
if dd if=/dev/zero of="$f" bs=4k count=1 seek=3 conv=notrunc status=none 2>/dev/null; then
  fail "dd without the library wrote into the placeholder"
fi
if (echo appended >>"$f") 2>/dev/null; then fail "an appending redirection wrote into the placeholder"; fi
# O_TRUNC empties the placeholder at open, with no access event after it.
if (: >"$f") 2>/dev/null; then fail "a truncating redirection (O_TRUNC) opened the placeholder"; fi
if truncate -s 4096 "$f" 2>/dev/null; then fail "truncate without the library shrank the placeholder"; fi
if fallocate -l 8M "$f" 2>/dev/null; then fail "fallocate without the library allocated the placeholder"; fi
sleep 0.2
[ "$(refusals)" -ge $((before + 5)) ] ||
  fail "the daemon logged $(($(refusals) - before)) refusals, not 5"
grep "guard: refused" "$TEST_DIR/zvfsd.log" | grep -q "(truncate) an open of $f" ||
  fail "no log line names truncate and the file"
intact "after writes without the library"
say "dd, >>, > (O_TRUNC), truncate and fallocate without the library: refused and logged"

# The library's own truncates change the placeholder's st_size through the kernel.
on_zvfs truncate -s $((size + 100)) "$f" || fail "truncate (ftruncate) through ZVFS failed"
[ "$(stat -c %s "$f")" -eq $((size + 100)) ] || fail "ftruncate: placeholder size $(stat -c %s "$f")"
on_zvfs python3 -c 'import os, sys; os.truncate(sys.argv[1], int(sys.argv[2]))' "$f" "$size" ||
  fail "truncate(path) through ZVFS failed"
intact "after truncates through the library"
say "ftruncate and truncate(path) through the library: allowed"

# fio's io_uring engine submits with inline system calls that the library cannot see.
g=$TEST_ROOT/uring.dat
before=$(refusals)
on_zvfs fio --name=uring --filename="$g" --size=4M --bs=4k --rw=randwrite --ioengine=io_uring \
  --verify=crc32c --do_verify=1 >"$TEST_DIR/fio.out" 2>&1 &&
  fail "fio ioengine=io_uring on a ZVFS file succeeded (it cannot reach the pool)"
grep -q "Operation not permitted" "$TEST_DIR/fio.out" || {
  cat "$TEST_DIR/fio.out"
  fail "fio ioengine=io_uring failed, but not with the guard's EPERM"
}
sleep 0.2
grep "guard: refused" "$TEST_DIR/zvfsd.log" | grep -q "(fio) an access to $g" ||
  fail "the daemon did not log fio's refused access"
[ "$(stat -c %b "$g")" -eq 0 ] || fail "fio's io_uring writes reached the placeholder"
say "fio ioengine=io_uring: writes and reads refused"

# A descriptor opened before the daemon saw the file: after a restart, the new daemon has no
# mark on it until a client opens it.
zvfs_daemon_stop 30 || fail "zvfsd did not stop cleanly"
apps_start_daemon
exec 3<>"$f"
on_zvfs sha256sum "$f" >/dev/null || fail "reading through ZVFS after the restart failed"
head -c 65536 /dev/urandom >&3 || fail "the unguarded descriptor could not write"
exec 3>&-
on_zvfs cat "$f" >/dev/null || fail "reading through ZVFS failed"
sleep 0.2
grep -q "placeholder holds .* written without libzvfs.so" "$TEST_DIR/zvfsd.log" ||
  fail "the daemon did not report the bytes written into the placeholder"
[ "$(on_zvfs sha256sum "$f" | cut -d' ' -f1)" = "$sum" ] || fail "the stray write changed the data"
say "a descriptor opened before the daemon saw the file: its writes reported at close"
say "PASS"
