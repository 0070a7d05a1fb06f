"""sqlite_work.py — a deterministic SQLite workload with a rollback journal, for the app tests.

  sqlite_work.py run DB          build, change and query a database; print a digest of it
  sqlite_work.py check DB        print integrity_check, the row count and a digest
  sqlite_work.py crash DB READY  commit 1000 rows, then write a large transaction that spills
                                 pages into the database file (hot journal); create READY and
                                 keep writing until killed (or until writes fail)
"""
import hashlib
import os
import sqlite3
import sys
import time


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
    for batch in range(10):
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


def crash(path, ready):
    con = connect(path)
    con.execute("PRAGMA cache_size=8")  # spill dirty pages to the file inside the transaction
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT)")
    con.execute("BEGIN")
    con.executemany("INSERT INTO t(k, v) VALUES(?, ?)", [(i, "c" * 200) for i in range(1000)])
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
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
