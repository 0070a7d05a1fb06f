#!/usr/bin/env bash
# apps_test.sh LIBZVFS ZVFSD — real programs under libzvfs.so: cp, cat, dd (also
# oflag=direct), tar, sha256sum, python3 file I/O (including shutil's sendfile copy) and sqlite3
# with a rollback journal give the same results as in a plain directory, and the data is really
# in the pool: the Linux files under the prefix keep st_blocks 0 while st_size is the real size.
# Starts its own daemon on a temporary pool and socket and stops it by PID.
set -u
lib=$1 zvfsd=$2
t=$(mktemp -d "${TMPDIR:-/tmp}/zvfs-apps-XXXXXX")
root=$t/zroot plain=$t/plain
mkdir -p "$root" "$plain"
fails=0
dpid=""
cleanup() {
  if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
    kill -TERM "$dpid"
    for _ in $(seq 1 300); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$dpid" 2>/dev/null
  fi
  rm -rf "$t"
}
trap cleanup EXIT

"$zvfsd" --pool "$t/pool.img" --size 2G --socket "$t/sock" --log "$t/zvfsd.log" --root "$root" --foreground \
  </dev/null >"$t/zvfsd.out" 2>&1 &
dpid=$!
export ZVFS_SOCKET=$t/sock ZVFS_ROOT=$root ZVFS_TIMEOUT_MS=20000
z() { LD_PRELOAD="$lib" "$@"; }

ready=0
for _ in $(seq 1 600); do
  if [ -S "$t/sock" ] && z sh -c "echo probe > '$root/.probe'" 2>/dev/null; then
    ready=1
    break
  fi
  kill -0 "$dpid" 2>/dev/null || break
  sleep 0.1
done
if [ $ready != 1 ]; then
  echo "FAIL: zvfsd did not come up"; cat "$t/zvfsd.out"; exit 1
fi

check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected '$2', got '$3'"
    fails=$((fails + 1))
  fi
}
sha() { sha256sum | cut -d' ' -f1; }
# The placeholder seen by Linux without the library: logical size, no data blocks.
placeholder() { stat -c '%s %b' "$1"; }

head -c 5000000 /dev/urandom >"$plain/in.bin"
seq 1 200000 >"$plain/text.txt"
want=$(sha <"$plain/in.bin")

z cp "$plain/in.bin" "$root/in.bin"
check "cp in, sha256sum" "$want" "$(z sha256sum "$root/in.bin" | cut -d' ' -f1)"
check "cp in, placeholder" "5000000 0" "$(placeholder "$root/in.bin")"
check "cat" "$want" "$(z cat "$root/in.bin" | sha)"
check "stat size through the library" "5000000" "$(z stat -c %s "$root/in.bin")"
z cp "$root/in.bin" "$plain/out.bin"
check "cp out" "$want" "$(sha <"$plain/out.bin")"
z cp "$root/in.bin" "$root/copy.bin"
check "cp inside" "$want" "$(z cat "$root/copy.bin" | sha)"

z dd if="$plain/in.bin" of="$root/dd.bin" bs=64k status=none
check "dd" "$want" "$(z sha256sum "$root/dd.bin" | cut -d' ' -f1)"
head -c 4194304 "$plain/in.bin" >"$plain/in4m.bin"
z dd if="$plain/in4m.bin" of="$root/direct.bin" bs=1M oflag=direct status=none
check "dd oflag=direct" "$(sha <"$plain/in4m.bin")" "$(z dd if="$root/direct.bin" bs=1M iflag=direct status=none | sha)"
check "dd placeholder" "4194304 0" "$(placeholder "$root/direct.bin")"

z tar cf "$root/a.tar" -C "$plain" in.bin text.txt
tar cf "$plain/a.tar" -C "$plain" in.bin text.txt
check "tar list" "$(tar tf "$plain/a.tar")" "$(z tar tf "$root/a.tar")"
mkdir -p "$root/x"
z tar xf "$root/a.tar" -C "$root/x"
check "tar extract" "$want $(sha <"$plain/text.txt")" \
  "$(z cat "$root/x/in.bin" | sha) $(z cat "$root/x/text.txt" | sha)"

# Copies with xattrs (cp -a): the binding xattr is the daemon's, so the library hides it and a
# copy gets its own blob instead of naming its source's (which the daemon refuses to serve).
bname=trusted.zvfs.blob
[ "$(id -u)" = 0 ] || bname=user.zvfs.blob_id
binding() { getfattr --absolute-names --only-values -n "$bname" "$1" 2>/dev/null; }  # without the library
user_xattrs=0
touch "$plain/xattr.probe"
setfattr -n user.zvfs_test -v 1 "$plain/xattr.probe" 2>/dev/null && user_xattrs=1
[ $user_xattrs = 1 ] && z setfattr -n user.colour -v blue "$root/x/in.bin"
z cp -a "$root/x" "$root/xa"
check "cp -a inside" "$want $(sha <"$plain/text.txt")" \
  "$(z cat "$root/xa/in.bin" | sha) $(z cat "$root/xa/text.txt" | sha)"
check "cp -a inside: diff -r" "0" "$(z diff -r "$root/x" "$root/xa" >/dev/null 2>&1; echo $?)"
src_b=$(binding "$root/x/in.bin") copy_b=$(binding "$root/xa/in.bin")
check "cp -a inside: the copy has a binding of its own" "yes yes" \
  "$([ -n "$copy_b" ] && echo yes || echo no) $([ "$src_b" != "$copy_b" ] && echo yes || echo no)"
check "cp -a inside: placeholder" "5000000 0" "$(placeholder "$root/xa/in.bin")"
z cp -a "$root/x" "$plain/xa"
check "cp -a out" "$want" "$(sha <"$plain/xa/in.bin")"
check "cp -a out: no binding on the copy" "" "$(binding "$plain/xa/in.bin")"
if [ $user_xattrs = 1 ]; then
  check "cp -a keeps the program's xattrs" "blue blue" \
    "$(z getfattr --absolute-names --only-values -n user.colour "$root/xa/in.bin") $(getfattr --absolute-names --only-values -n user.colour "$plain/xa/in.bin")"
fi
check "getfattr -d -m - lists no binding" "" \
  "$(z getfattr --absolute-names -d -m - "$root/x/in.bin" 2>/dev/null | grep -F zvfs.blob)"
check "getfattr of the binding: absent" "1" \
  "$(z getfattr -n "$bname" "$root/x/in.bin" >/dev/null 2>&1; echo $?)"
check "setfattr of the binding: refused" "1 1" \
  "$(z setfattr -n "$bname" -v "$copy_b" "$root/x/in.bin" 2>/dev/null; echo $?) $(z setfattr -x "$bname" "$root/x/in.bin" 2>/dev/null; echo $?)"
check "setfattr of the binding: file unchanged" "$src_b $want" \
  "$(binding "$root/x/in.bin") $(z cat "$root/x/in.bin" | sha)"
err_py='
import os, sys
def err(f, *a):
    try:
        f(*a)
        return 0
    except OSError as e:
        return e.errno
p, name = sys.argv[1], sys.argv[2]
print(err(os.getxattr, p + ".absent", name), err(os.setxattr, p + ".absent", name, b"x"),
      err(os.removexattr, p + ".absent", name), err(os.setxattr, p, name, b"x"))
'
check "binding xattr calls on a missing file: ENOENT first" "2 2 2 1" \
  "$(z python3 -c "$err_py" "$root/x/in.bin" "$bname")"
if [ "$(uname -m)" = x86_64 ]; then  # the same rules through syscall() (x86_64 numbers)
  sys_py='
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
p, name = sys.argv[1].encode(), sys.argv[2].encode()
buf = ctypes.create_string_buffer(4096)
n = libc.syscall(194, p, buf, 4096)  # listxattr
names = [x for x in buf.raw[:n].split(b"\0") if x]
g = libc.syscall(191, p, name, buf, 4096)  # getxattr
ge = ctypes.get_errno()
s = libc.syscall(188, p, name, b"x", 1, 0)  # setxattr
se = ctypes.get_errno()
print(name in names, g, ge == 61, s, se == 1)
'
  check "syscall(): binding hidden and refused" "False -1 True -1 True" \
    "$(z python3 -c "$sys_py" "$root/x/in.bin" "$bname")"
fi

# stat needs no read permission: another user sees a ZVFS file's real size and allocation.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  install -m 755 "$lib" "$t/libzvfs.so"
  chmod 755 "$t" "$root"
  z sh -c "head -c 300000 /dev/urandom > '$root/private.bin'"
  chmod 600 "$root/private.bin"
  as_nobody() {
    su nobody -s /bin/sh -c "LD_PRELOAD='$t/libzvfs.so' ZVFS_SOCKET='$ZVFS_SOCKET' ZVFS_ROOT='$root' $1"
  }
  check "stat by another user, no read permission" "300000 yes" \
    "$(as_nobody "stat -c '%s %b' '$root/private.bin'" | awk '{print $1, ($2 > 500 ? "yes" : "no")}')"
  check "read by another user refused" "1" "$(as_nobody "cat '$root/private.bin'" >/dev/null 2>&1; echo $?)"
  # An empty unbound file: its owner's opens bind it, even read-only; another user who may only
  # read it leaves it as it is.
  : >"$root/empty-theirs" && : >"$root/empty-mine" && chmod 644 "$root/empty-theirs"
  as_nobody "cat '$root/empty-theirs'" >/dev/null 2>&1
  check "another user's read-only open of an empty file: unbound" "" "$(binding "$root/empty-theirs")"
  z cat "$root/empty-mine" >/dev/null
  check "the owner's read-only open of an empty file: bound" "yes" \
    "$([ -n "$(binding "$root/empty-mine")" ] && echo yes || echo no)"
fi

# An overwrite in place (no size change) moves the mtime, as rsync's and make's checks need.
z sh -c "printf aaaa > '$root/mt.txt'"
touch -d 2001-01-01 "$root/mt.txt"
z sh -c "printf b | dd of='$root/mt.txt' bs=1 seek=1 conv=notrunc status=none"
check "overwrite in place: data" "abaa" "$(z cat "$root/mt.txt")"
check "overwrite in place: mtime moves" "yes" \
  "$([ "$(stat -c %Y "$root/mt.txt")" -ge $(($(date +%s) - 60)) ] && echo yes || echo no)"

# Times a program sets after writing (cp -p, tar x) stay, also for files written in pieces.
touch -d 2001-01-01 "$plain/in.bin"
z cp -p "$plain/in.bin" "$root/in_p.bin"
check "cp -p keeps the mtime" "$(stat -c %Y "$plain/in.bin")" "$(stat -c %Y "$root/in_p.bin")"
tar cf "$plain/p.tar" -C "$plain" in.bin
mkdir -p "$root/px"
z tar xf "$plain/p.tar" -C "$root/px"
check "tar x keeps the mtime" "$(stat -c %Y "$plain/in.bin")" "$(stat -c %Y "$root/px/in.bin")"
check "tar x data" "$want" "$(z sha256sum "$root/px/in.bin" | cut -d' ' -f1)"

py='
import hashlib, os, shutil, sys
d = sys.argv[1]
p = os.path.join(d, "py.bin")
with open(p, "wb") as f:
    for i in range(300):
        f.write(bytes([i % 256]) * 4099)
with open(p, "r+b") as f:
    f.seek(1000); f.write(b"middle"); f.seek(0, 2); f.write(b"end")
shutil.copyfile(p, p + ".copy")
h = hashlib.sha256(open(p + ".copy", "rb").read()).hexdigest()
fd = os.open(p, os.O_RDONLY)
mid = os.pread(fd, 6, 1000)
os.close(fd)
with open(os.path.join(d, "t.txt"), "w") as f:
    print("\n".join(str(i) for i in range(5000)), file=f)
lines = sum(1 for _ in open(os.path.join(d, "t.txt")))
print(h, mid.decode(), os.path.getsize(p), lines)
'
check "python3" "$(python3 -c "$py" "$plain")" "$(z python3 -c "$py" "$root")"
printf 'print("script stored in zvfs")\n' | z tee "$root/s.py" >/dev/null
check "python3 runs a script from the prefix" "script stored in zvfs" "$(z python3 "$root/s.py")"

# Redirections: the shell opens the file, the program writes through stdout (glibc's stdio, which
# the library re-points at the ZVFS file), builtins of bash, and awk's own output files.
z sh -c "seq 1 100000 > '$root/seq.txt'"
check "seq > file" "$(seq 1 100000 | sha)" "$(z cat "$root/seq.txt" | sha)"
check "seq > file placeholder" "588895 0" "$(placeholder "$root/seq.txt")"
z bash -c "echo hello > '$root/b.txt'; printf '%s\n' more >> '$root/b.txt'; cat '$root/b.txt' | wc -l >> '$root/b.txt'"
check "bash builtins redirected" "hello more 2" "$(z cat "$root/b.txt" | tr '\n' ' ' | sed 's/ $//')"
z awk 'BEGIN { for (i = 0; i < 20000; i++) print i, i * i > "'"$root/awk.txt"'" }'
check "awk output file" "$(awk 'BEGIN { for (i = 0; i < 20000; i++) print i, i * i }' | sha)" \
  "$(z cat "$root/awk.txt" | sha)"
z sort -r "$root/seq.txt" -o "$root/sorted.txt"
check "sort -o" "$(seq 1 100000 | sort -r | sha)" "$(z cat "$root/sorted.txt" | sha)"
z sh -c "grep -c 7 < '$root/seq.txt' > '$root/count.txt'"
check "stdin and stdout redirected" "$(seq 1 100000 | grep -c 7)" "$(z cat "$root/count.txt")"

sql='
PRAGMA journal_mode=DELETE;
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);
BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<20000)
  INSERT INTO t SELECT x, hex(randomblob(20)) FROM c; COMMIT;
BEGIN; UPDATE t SET b = "u" || a WHERE a % 3 = 0; COMMIT;
BEGIN; DELETE FROM t WHERE a % 7 = 0; ROLLBACK;
SELECT count(*), sum(a), sum(length(b)) FROM t;
PRAGMA integrity_check;
'
check "sqlite3 rollback journal" "$(sqlite3 "$plain/db.sqlite" "$sql")" "$(z sqlite3 "$root/db.sqlite" "$sql")"
check "sqlite3 reopen" "$(sqlite3 "$plain/db.sqlite" 'SELECT count(*) FROM t;')" \
  "$(z sqlite3 "$root/db.sqlite" 'SELECT count(*) FROM t;')"
check "sqlite3 placeholder has no blocks" "0" "$(stat -c %b "$root/db.sqlite")"

if [ $fails -ne 0 ]; then
  echo "$fails check(s) failed; daemon log:"; tail -20 "$t/zvfsd.log" "$t/zvfsd.out" 2>/dev/null
  exit 1
fi
echo "all application checks passed"
