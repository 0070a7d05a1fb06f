#!/usr/bin/env bash
# guard.sh — programs that reach a ZVFS file without the library fail loudly.
#
# Without libzvfs.so, a ZVFS file's Linux placeholder holds no data: the daemon's placeholder
# guard refuses every open of it by a program without the library, and reads, writes, truncates
# and fallocates that a program with it makes around it (EPERM, and a line in the daemon's log).
# Checked with cat, dd, tar, cp, shell redirections (one with O_TRUNC), truncate and fallocate
# run without the library, and with fio's io_uring engine, whose system calls bypass the
# library even when it is preloaded. The library's own truncates of the placeholder (its
# st_size) go through, and so do posix_fadvise and readahead (hints). The daemon marks the
# prefix's directories at start and the directory of each file a client opens, so after a
# restart a file that no client has opened since is refused too: one made in an earlier daemon
# lifetime, one in a directory made after the previous daemon started, and one moved into a
# directory made after this daemon started.
# Ordinary files in those directories stay readable and writable without the library. A
# descriptor opened while no daemon ran is not guarded (Linux decides at open): the daemon
# reports the bytes written through it when the file is closed. The data stays intact and
# readable through the library throughout.
set -uo pipefail
TEST_VARIANT=${1:-run}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
GUARD_REFUSALS_EXPECTED=1
need fio sha256sum fallocate truncate
apps_setup
[ "$(id -u)" = 0 ] || fail "the placeholder guard needs root (fanotify)"

# The daemon logs one line per prefix when it has marked the directories there.
walks() { grep -c "guard: directories under $TEST_ROOT marked:" "$TEST_DIR/zvfsd.log"; }
wait_walks() {
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(walks)" -ge "$1" ] && return 0
    sleep 0.1
  done
  fail "the daemon did not log its walk of $TEST_ROOT (walk $1)"
}
# refused_since LINE PROGRAM FILE: a refusal of PROGRAM's open of FILE logged after line LINE.
refused_since() {
  tail -n +"$(($1 + 1))" "$TEST_DIR/zvfsd.log" | grep "guard: refused" |
    grep -q "($2) an open of $3 "
}
# refused_cat FILE WHY: cat without the library fails on FILE with EPERM, and the daemon logs it.
refused_cat() {
  local lines out
  lines=$(wc -l <"$TEST_DIR/zvfsd.log")
  if out=$(cat "$1" 2>&1 >/dev/null); then fail "cat without the library read $2"; fi
  echo "$out" | grep -q "Operation not permitted" || fail "cat without the library ($2): '$out'"
  sleep 0.2
  refused_since "$lines" cat "$1" || fail "the daemon did not log the refused open of $2"
}
# has_mark PATH REGEX: the daemon's fanotify mark on PATH's inode, as /proc shows it
# ("... mflags:M mask:M ignored_mask:M ...", in hexadecimal), matches REGEX; MARK is that line.
has_mark() {
  local ino
  ino=$(printf '%x' "$(stat -c %i "$1")")
  MARK=$(cat /proc/"$ZVFSD_PID"/fdinfo/* 2>/dev/null | grep "^fanotify ino:$ino ")
  [[ $MARK =~ $2 ]]
}
# Files made from here on are created in a marked directory: their first open finds them
# unbound and leaves an ignore mark, which the attach that binds them takes off again.
wait_walks 1

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

# posix_fadvise and readahead are hints the library passes to the placeholder: harmless, never
# refused.
before=$(refusals)
on_zvfs python3 -c '
import ctypes, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
libc = ctypes.CDLL(None, use_errno=True)
if libc.readahead(fd, ctypes.c_longlong(0), ctypes.c_size_t(1 << 20)) != 0:
    sys.exit("readahead: " + os.strerror(ctypes.get_errno()))
assert len(os.pread(fd, 4096, 0)) == 4096
' "$f" || fail "posix_fadvise or readahead through ZVFS failed"
sleep 0.2
[ "$(refusals)" -eq "$before" ] || fail "the guard refused a posix_fadvise or readahead"
intact "after posix_fadvise and readahead"
say "posix_fadvise and readahead through the library: harmless"

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


# Files made now, to be opened without the library in the next daemon lifetime: one in the
# prefix, one in a directory made after this daemon's walk (mkdir through the library), and an
# ordinary file beside it written by a program without the library (no binding: not a ZVFS file).
old=$TEST_ROOT/old.dat
on_zvfs dd if=/dev/urandom of="$old" bs=64k count=2 status=none || fail "dd through ZVFS failed"
later=$TEST_ROOT/later/deeper
on_zvfs mkdir -p "$later" || fail "mkdir through ZVFS failed"
h=$later/new.dat
on_zvfs dd if=/dev/urandom of="$h" bs=64k count=4 status=none || fail "dd through ZVFS failed"
hsum=$(on_zvfs sha256sum "$h" | cut -d' ' -f1)
expect_in_pool "$h"
plain=$later/plain.txt
echo "an ordinary file" >"$plain" || fail "a shell without the library could not write $plain"
binding_of "$plain" >/dev/null && fail "$plain, written without the library, has a binding"
[ "$(cat "$plain")" = "an ordinary file" ] || fail "cat without the library could not read $plain"
refused_cat "$h" "a file in a directory made after the daemon started"
say "a directory made after the walk: its ZVFS file refused, an ordinary file readable"

# A new daemon lifetime: none of these files has been opened through it.
zvfs_daemon_stop 30 || fail "zvfsd did not stop cleanly"
apps_start_daemon
wait_walks 2
refused_cat "$f" "a file of an earlier daemon lifetime that no client opened since"
refused_cat "$h" "a file in a directory made during an earlier daemon lifetime"
[ "$(cat "$plain")" = "an ordinary file" ] ||
  fail "cat without the library could not read the ordinary file $plain after the restart"
# Its first open left an ignore mark: later ones do not wait for the daemon.
has_mark "$plain" " mask:0 ignored_mask:[1-9a-f]" ||
  fail "no ignore mark on the ordinary file $plain: '$MARK'"
[ "$(cat "$plain")" = "an ordinary file" ] || fail "a second read of $plain failed"
has_mark "$later" " mask:8[0-9a-f]{6} ignored_mask:0 " ||
  fail "no mark with FAN_EVENT_ON_CHILD on $later: '$MARK'"
# A refused open through the directory's mark gave the placeholder a mark of its own.
has_mark "$f" " mask:[1-9a-f][0-9a-f]* ignored_mask:0 " ||
  fail "no mark of its own on $f after its refused open: '$MARK'"
echo "appended without the library" >>"$plain" || fail "the shell could not append to $plain"
[ "$(wc -l <"$plain")" -eq 2 ] || fail "the append to $plain did not land"
[ "$(on_zvfs sha256sum "$h" | cut -d' ' -f1)" = "$hsum" ] || fail "$h changed"
say "after a restart: files no client opened since are refused; ordinary files are not"

# A directory made after this daemon's walk is marked when a client opens a file in it: a
# placeholder that no one has opened in this lifetime, moved there, is refused through that mark.
made=$TEST_ROOT/made-after-walk
mkdir "$made" || fail "mkdir $made failed"
on_zvfs dd if=/dev/urandom of="$made/anchor.dat" bs=4k count=1 status=none ||
  fail "dd through ZVFS failed"
mv "$old" "$made/old.dat" || fail "mv (a rename) of $old failed"
refused_cat "$made/old.dat" "a placeholder moved into a directory a client opened a file in"
on_zvfs cmp -s "$made/old.dat" "$made/old.dat" || fail "reading the moved file through ZVFS failed"
say "a directory made after the walk: marked at a client's open, guards the files moved in"

# A program with the library under another file name (a copy, a versioned package name): the
# guard finds no "libzvfs.so" in its maps, but the library connects before the program's first
# open of a name under the prefix (src/client/preconnect.h), so the guard knows it by its
# session. An absolute name; names relative to a working directory in the prefix, above it, and
# beside it through ".."; and a shell that opens a file outside, changes into the prefix and
# opens there (chdir makes the library look at the working directory again).
cp "$ZVFS_LIB" "$TEST_DIR/zvfs-copy.so" || fail "cp of the library failed"
with_copy() { LD_PRELOAD="$TEST_DIR/zvfs-copy.so" "$@"; }
mkdir -p "$TEST_DIR/side" && echo plain >"$TEST_DIR/side/plain.txt"
before=$(refusals)
copy_sum() { with_copy sha256sum "$1" 2>&1 | cut -d' ' -f1; }
[ "$(copy_sum "$f")" = "$sum" ] || fail "the library under another name: absolute name refused"
[ "$(cd "$TEST_ROOT" && copy_sum guarded.dat)" = "$sum" ] ||
  fail "the library under another name: a name relative to a directory in the prefix refused"
[ "$(cd "$TEST_DIR" && copy_sum zvfs/guarded.dat)" = "$sum" ] ||
  fail "the library under another name: a name relative to a directory above the prefix refused"
[ "$(cd "$TEST_DIR/side" && copy_sum ../zvfs/guarded.dat)" = "$sum" ] ||
  fail "the library under another name: a name with .. refused"
# shellcheck disable=SC2016
out=$(with_copy sh -c 'cd "$1" && exec 3<plain.txt && cd "$2" && exec 4<guarded.dat &&
  sha256sum <&4' sh "$TEST_DIR/side" "$TEST_ROOT" 2>&1 | cut -d' ' -f1)
[ "$out" = "$sum" ] || fail "the library under another name: an open after a cd refused ($out)"
[ "$(refusals)" = "$before" ] || fail "the guard refused a program with the library: $(tail -n 1 "$TEST_DIR/zvfsd.log")"
say "the library under another file name: its first opens are allowed (it connects first)"

# A descriptor opened while no daemon runs: Linux decided at open() that it raises no events,
# so its writes land in the placeholder; the daemon reports them at the file's last close.
zvfs_daemon_stop 30 || fail "zvfsd did not stop cleanly"
exec 3<>"$f"
apps_start_daemon
wait_walks 3
head -c 65536 /dev/urandom >&3 || fail "the descriptor opened before the daemon could not write"
exec 3>&-
on_zvfs cat "$f" >/dev/null || fail "reading through ZVFS failed"
sleep 0.2
grep -q "placeholder holds .* written without libzvfs.so" "$TEST_DIR/zvfsd.log" ||
  fail "the daemon did not report the bytes written into the placeholder"
[ "$(on_zvfs sha256sum "$f" | cut -d' ' -f1)" = "$sum" ] || fail "the stray write changed the data"
say "a descriptor opened before the daemon started: its writes reported at close"
say "PASS"
