#!/usr/bin/env python3
"""sqlite_txn.py — SQLite's most common durable pattern, timed: one small INSERT per
transaction in rollback-journal mode (journal_mode=DELETE, synchronous=FULL, SQLite's
defaults), for a fixed time.

Each commit creates the -journal file, writes the pages it will change into it, fdatasyncs it
(and its directory, the first time), marks it, fdatasyncs it again, writes the database pages,
fdatasyncs the database and deletes the journal: three durable writes, a create and an unlink
per transaction, the file-system work of every SQLite application that keeps the default mode.

Usage: sqlite_txn.py DB SECONDS. Prints one JSON line: {"tps", "p50_us", "p99_us", "txns"}.
"""

import json
import os
import sqlite3
import sys
import time


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    path, seconds = sys.argv[1], float(sys.argv[2])
    for suffix in ("", "-journal"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    mode = db.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    db.execute("PRAGMA synchronous=FULL")
    if mode.lower() != "delete":
        raise SystemExit("sqlite_txn.py: journal_mode is %s, not delete" % mode)
    db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
    row = b"x" * 100
    lat = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter_ns()
        db.execute("BEGIN")
        db.execute("INSERT INTO t(v) VALUES (?)", (row,))
        db.execute("COMMIT")
        lat.append(time.perf_counter_ns() - t0)
    n = db.execute("SELECT count(*) FROM t").fetchone()[0]
    db.close()
    if n != len(lat) or n == 0:
        raise SystemExit("sqlite_txn.py: %d rows after %d transactions" % (n, len(lat)))
    total_s = sum(lat) / 1e9
    lat.sort()
    print(json.dumps({"tps": n / total_s, "p50_us": lat[n // 2] / 1000.0,
                      "p99_us": lat[min(n - 1, n * 99 // 100)] / 1000.0, "txns": n}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
