"""sqlite_work.py — deterministic SQLite workloads (rollback journal and WAL) for the app tests.

  sqlite_work.py run DB          build, change and query a database; print a digest of it
  sqlite_work.py check DB        print integrity_check, the row count and a digest
  sqlite_work.py crash DB READY  commit 1000 x SCALE rows, then write a large transaction that spills
                                 pages into the database file (hot journal); create READY and
                                 keep writing until killed (or until writes fail)
  sqlite_work.py wal DB          WAL mode: commit 200 x SCALE transactions of 5 rows while a reader
                                 process watches them appear (whole transactions, in order);
                                 then exit without closing, leaving the WAL un-checkpointed
  sqlite_work.py wal-check DB    after `wal`: recover from the WAL; integrity, count, digest
  sqlite_work.py wal-crash DB READY  `crash` in WAL mode: 1000 x SCALE rows committed to the
                                 WAL, then a large transaction whose pages spill into the WAL
                                 uncommitted
  sqlite_work.py mmap DB         two processes with PRAGMA mmap_size take turns changing rows in
                                 place (rollback journal): each must see the other's commits at
                                 once, and none may be lost
  sqlite_work.py mmap-commit DB ROW  one commit of the `mmap` work, in a process of its own

SCALE is $ZVFS_SQLITE_SCALE (default 1; the long tests run 20): `run` builds 5000 x SCALE rows.
"""
import hashlib
import os
import sqlite3
import subprocess
import sys
import time

SCALE = int(os.environ.get("ZVFS_SQLITE_SCALE", "1"))


def connect(path):
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("PRAGMA synchronous=FULL")
    return con


def digest(con):
    h = hashlib.sha256()
    for row in con.execute("SELECT id, k, v FROM t ORDER BY id"):
        h.update(repr(row).encode())
    return h.hexdigest()


def run(path):
    con = connect(path)
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT)")
    for batch in range(10 * SCALE):
        con.execute("BEGIN")
        con.executemany("INSERT INTO t(k, v) VALUES(?, ?)",
                        [((i * 7919) % 1000, "v%06d" % i * 20) for i in range(batch * 500,
                                                                          batch * 500 + 500)])
        con.execute("COMMIT")
    con.execute("CREATE INDEX tk ON t(k)")
    con.execute("BEGIN")
    con.execute("UPDATE t SET v = v || '-u' WHERE k % 3 = 0")
    con.execute("DELETE FROM t WHERE k % 10 = 1")
    con.execute("COMMIT")
    # A transaction rolled back leaves nothing behind.
    con.execute("BEGIN")
    con.execute("DELETE FROM t")
    con.execute("ROLLBACK")
    con.execute("VACUUM")
    print("integrity", con.execute("PRAGMA integrity_check").fetchone()[0])
    print("count", con.execute("SELECT count(*) FROM t").fetchone()[0])
    print("index", con.execute("SELECT count(*) FROM t WHERE k BETWEEN 100 AND 200").fetchone()[0])
    print("digest", digest(con))


def check(path):
    con = connect(path)
    print("integrity", con.execute("PRAGMA integrity_check").fetchone()[0])
    print("count", con.execute("SELECT count(*) FROM t").fetchone()[0])
    print("digest", digest(con))


def crash(path, ready, wal=False):
    if wal:
        con = sqlite3.connect(path, isolation_level=None)
        if con.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
            sys.exit("journal_mode=WAL refused")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA wal_autocheckpoint=0")  # the committed rows stay in the WAL
    else:
        con = connect(path)
    con.execute("PRAGMA cache_size=8")  # spill dirty pages to the file inside the transaction
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT)")
    con.execute("BEGIN")
    con.executemany("INSERT INTO t(k, v) VALUES(?, ?)",
                    [(i, "c" * 200) for i in range(1000 * SCALE)])
    con.execute("COMMIT")
    con.execute("BEGIN")
    deadline = time.time() + 60
    i = 0
    while time.time() < deadline:
        con.execute("INSERT INTO t(k, v) VALUES(?, ?)", (i, "x" * 3000))
        i += 1
        if i == 2000:
            open(ready, "w").close()
    sys.exit("the crash workload was not killed within 60 s")


def wal_rows(i):
    return [(i * 5 + j, "w%04d-%d" % (i, j) * 10) for j in range(5)]


def wal(path):
    con = sqlite3.connect(path, isolation_level=None)
    mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        sys.exit("journal_mode=WAL gave %r" % mode)
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA wal_autocheckpoint=0")  # every commit stays in the WAL
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT)")
    reader = subprocess.Popen([sys.executable, __file__, "wal-reader", path],
                              stdout=subprocess.PIPE, text=True)
    for i in range(200 * SCALE):
        con.execute("BEGIN")
        con.executemany("INSERT INTO t(k, v) VALUES(?, ?)", wal_rows(i))
        con.execute("COMMIT")
    out, _ = reader.communicate(timeout=120)
    print(out.strip())
    if reader.returncode != 0:
        sys.exit("the reader failed")
    print("integrity", con.execute("PRAGMA integrity_check").fetchone()[0])
    print("count", con.execute("SELECT count(*) FROM t").fetchone()[0])
    print("digest", digest(con))
    wal_size = os.stat(path + "-wal").st_size
    print("wal holds the commits", wal_size > 200 * SCALE * 4096)
    sys.stdout.flush()
    os._exit(0)  # no close: the WAL is left as a crash would leave it


def wal_check(path):
    con = sqlite3.connect(path, isolation_level=None)  # recovers from the WAL beside it
    print("journal", con.execute("PRAGMA journal_mode").fetchone()[0])
    print("integrity", con.execute("PRAGMA integrity_check").fetchone()[0])
    print("count", con.execute("SELECT count(*) FROM t").fetchone()[0])
    print("digest", digest(con))
    con.close()  # the last connection checkpoints the WAL into the database and removes it


def wal_reader(path):
    con = sqlite3.connect(path, isolation_level=None)
    seen, deadline = 0, time.time() + 100
    while seen < 1000 * SCALE and time.time() < deadline:
        n = con.execute("SELECT count(*) FROM t").fetchone()[0]
        if n < seen or n % 5 != 0:
            sys.exit("reader saw %d rows after %d: not whole transactions in order" % (n, seen))
        seen = n
    print("reader saw", seen, "rows in whole transactions")
    sys.exit(0 if seen == 1000 * SCALE else 1)


MMAP_BYTES = 256 << 20


def mmap_connect(path):
    con = connect(path)
    con.execute("PRAGMA mmap_size=%d" % MMAP_BYTES)
    return con


def mmap_commit(path, row):
    con = mmap_connect(path)
    con.execute("UPDATE t SET k = k + 1 WHERE id = ?", (row,))
    con.close()


def mmap_work(path):
    con = connect(path)
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT)")
    con.execute("BEGIN")
    for i in range(2000 * SCALE):
        con.execute("INSERT INTO t(id, k, v) VALUES (?, ?, ?)", (i, 0, "a%0300d" % i))
    con.execute("COMMIT")
    con.close()
    con = mmap_connect(path)
    total = con.execute("SELECT sum(k) FROM t").fetchone()[0]  # maps the file
    for r in range(20):
        # Another process changes a row in place (the file does not grow); this one, which
        # reads the file through its mapping, must see the change at once.
        subprocess.run([sys.executable, __file__, "mmap-commit", path, str(r * 37)], check=True)
        total += 1
        k = con.execute("SELECT k FROM t WHERE id = ?", (r * 37,)).fetchone()[0]
        print("round", r, "the other process's change seen:", k == 1)
        if k != 1:
            sys.exit("the other process's commit is not visible (k = %d, expected 1)" % k)
        con.execute("UPDATE t SET k = k + 1000 WHERE id = ?", (r * 37 + 1,))
        total += 1000
    print("integrity", con.execute("PRAGMA integrity_check").fetchone()[0])
    con.close()
    con = connect(path)
    got = con.execute("SELECT sum(k) FROM t").fetchone()[0]
    print("sum", got, "expected", total)
    print("digest", digest(con))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "run":
        run(path)
    elif cmd == "check":
        check(path)
    elif cmd == "crash":
        crash(path, sys.argv[3])
    elif cmd == "wal":
        wal(path)
    elif cmd == "wal-reader":
        wal_reader(path)
    elif cmd == "wal-check":
        wal_check(path)
    elif cmd == "wal-crash":
        crash(path, sys.argv[3], wal=True)
    elif cmd == "mmap":
        mmap_work(path)
    elif cmd == "mmap-commit":
        mmap_commit(path, int(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
