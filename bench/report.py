#!/usr/bin/env python3
"""report.py — turns the benchmark suite's raw outputs into records, a table, JSON and a chart.

bench/run.sh calls it in two ways:
  report.py parse KIND FILE --workload W --system S --rep N   (KIND: fio, raw, dbbench, pgbench)
      reads one tool's output and prints one JSON record per measured figure (JSON lines);
  report.py report RECORDS.jsonl META.json OUTDIR
      takes the median of the repetitions of every (workload, system), computes the ratios
      (each the median of the ratios within one repetition), judges the targets, and writes OUTDIR/results.json, OUTDIR/table.md and OUTDIR/chart.png
      (the chart needs matplotlib; without it the rest is still written).

The workloads, what each is compared with, and its targets live in WORKLOADS below: one place.
Targets are ratios from the same run: ZVFS / ext4, and for durable workloads also ZVFS / raw
(the plain file driven by io_uring at the same queue depth, bench/raw). run.sh measures the
three of a workload one right after the other in each repetition, and a ratio is the median of
the ratios of those neighbours: a disk whose speed drifts over minutes (seen: the same job at
1761 and 3631 IOPS a few minutes apart) moves both sides of such a ratio alike, whereas the ratio
of two medians may divide a fast spell by a slow one.
"""

import argparse
import json
import re
import statistics
import sys

# Target classes: the minimum ZVFS/ext4 ratio, and the minimum ZVFS/raw ratio where it applies.
SEED_DIRECT = (2.0, None)  # the seed's job with direct=1: at least twice ext4 O_DIRECT
APPEND_SYNC = (1.5, 0.9)  # a write-ahead log's pattern: one write and one flush per append
DURABLE = (1.0, 0.9)  # per-write durability: O_SYNC, fdatasync, pgbench
CACHED = (0.5, None)  # buffered and cached: at least half of ext4's page cache
OTHER = (0.8, None)  # nothing else below 0.8x

# id, label, unit, ext4 variant it is compared with, target, raw baseline id (or None).
WORKLOADS = [
    ("seed-direct", "fio seed job: 16 KiB randwrite psync, direct=1", "IOPS", "O_DIRECT",
     SEED_DIRECT, "raw-randwrite-16k"),
    ("seed-osync", "fio seed job, O_SYNC", "IOPS", "O_SYNC", DURABLE, "raw-randwrite-16k-sync"),
    ("seed-buffered", "fio seed job, buffered", "IOPS", "buffered", CACHED, None),
    ("randread-cached", "4 KiB random reads, cached", "IOPS", "page cache", CACHED, None),
    ("randread-direct", "4 KiB random reads, O_DIRECT", "IOPS", "O_DIRECT", OTHER,
     "raw-randread-4k"),
    ("seqwrite-direct", "1 MiB sequential writes, O_DIRECT", "MB/s", "O_DIRECT", OTHER,
     "raw-seqwrite-1m"),
    ("overwrite-fdatasync", "4 KiB overwrite + fdatasync", "IOPS", "buffered+fdatasync",
     DURABLE, "raw-randwrite-4k-sync"),
    ("append-fdatasync", "4 KiB append + fdatasync", "IOPS", "buffered+fdatasync",
     APPEND_SYNC, "raw-randwrite-4k-sync"),
    ("dbbench-fillseq", "db_bench fillseq --sync=1", "ops/s", "buffered", DURABLE, None),
    ("dbbench-fillrandom", "db_bench fillrandom --sync=1", "ops/s", "buffered", DURABLE, None),
    ("dbbench-readrandom", "db_bench readrandom", "ops/s", "buffered", CACHED, None),
    ("dbbench-overwrite", "db_bench overwrite --sync=1", "ops/s", "buffered", DURABLE, None),
    ("pgbench-1", "pgbench TPC-B scale 10, 1 client", "TPS", "fsync on", DURABLE, None),
    ("pgbench-4", "pgbench TPC-B scale 10, 4 clients", "TPS", "fsync on", DURABLE, None),
    ("sqlite-journal", "SQLite insert per transaction, rollback journal", "txn/s",
     "synchronous=FULL", DURABLE, None),
]

# Raw baselines measured by bench/raw (id -> label). Some are shown only in results.json.
RAW_BASELINES = {
    "raw-randwrite-16k": "16 KiB random writes, QD1",
    "raw-randwrite-16k-sync": "16 KiB random writes + fdatasync, QD1",
    "raw-randread-4k": "4 KiB random reads, QD1",
    "raw-seqwrite-1m": "1 MiB sequential writes, QD1",
    "raw-randwrite-4k-sync": "4 KiB write + fdatasync (no size change), QD1",
    "raw-append-4k-sync": "4 KiB append + fdatasync (size changes), QD1",
}


def record(args, value, unit, p50_us=None, p99_us=None, workload=None):
    return {
        "workload": workload or args.workload,
        "system": args.system,
        "rep": args.rep,
        "value": value,
        "unit": unit,
        "p50_us": p50_us,
        "p99_us": p99_us,
    }


def parse_fio(text, args):
    # fio may print warnings before its JSON document.
    doc = json.loads(text[text.index("{"):])
    job = doc["jobs"][0]
    if job.get("error", 0) != 0:
        raise ValueError("fio job failed with error %d" % job["error"])
    side = job["read"] if job["read"]["io_bytes"] > 0 else job["write"]
    pct = side["clat_ns"].get("percentile", {})
    p50 = pct.get("50.000000")
    p99 = pct.get("99.000000")
    sync = job.get("sync", {}).get("lat_ns", {}).get("percentile", {})
    if sync.get("50.000000"):
        # A write followed by fdatasync: its latency is the write's plus the sync's.
        p50 = (p50 or 0) + sync["50.000000"]
        p99 = (p99 or 0) + sync.get("99.000000", 0)
    if args.workload.startswith("seqwrite"):
        value, unit = side["bw_bytes"] / 1e6, "MB/s"
    else:
        value, unit = side["iops"], "IOPS"
    if side["io_bytes"] == 0 or value <= 0:
        raise ValueError("fio moved no data")
    us = lambda ns: None if ns is None else ns / 1000.0
    return [record(args, value, unit, us(p50), us(p99))]


def parse_raw(text, args):
    doc = json.loads(text.strip().splitlines()[-1])
    lat = doc["lat_us"]
    if doc["mode"] == "seqwrite":
        return [record(args, doc["mb_per_s"], "MB/s", lat["p50"], lat["p99"])]
    return [record(args, doc["iops"], "IOPS", lat["p50"], lat["p99"])]


DBBENCH_LINE = re.compile(r"^(\w+)\s*:\s*([\d.]+) micros/op\s+(\d+) ops/sec")


def parse_dbbench(text, args):
    out = []
    for line in text.splitlines():
        m = DBBENCH_LINE.match(line.strip())
        if m and m.group(1) in ("fillseq", "fillrandom", "readrandom", "overwrite"):
            out.append(record(args, float(m.group(3)), "ops/s", float(m.group(2)),
                              workload="dbbench-" + m.group(1)))
    if not out:
        raise ValueError("no db_bench result lines found")
    return out


def parse_pgbench(text, args):
    m = re.search(r"^tps = ([\d.]+) \(without initial connection time\)", text, re.M)
    if not m:
        raise ValueError("no tps line in pgbench output")
    lat = re.search(r"^latency average = ([\d.]+) ms", text, re.M)
    failed = re.search(r"^number of failed transactions: (\d+)", text, re.M)
    if failed and int(failed.group(1)) != 0:
        raise ValueError("pgbench reports failed transactions")
    mean_us = float(lat.group(1)) * 1000 if lat else None
    return [record(args, float(m.group(1)), "TPS", mean_us)]


def parse_sqlite(text, args):
    doc = json.loads(text.strip().splitlines()[-1])
    if doc["txns"] <= 0 or doc["tps"] <= 0:
        raise ValueError("no transactions")
    return [record(args, doc["tps"], "txn/s", doc["p50_us"], doc["p99_us"])]


def cmd_parse(argv):
    ap = argparse.ArgumentParser(prog="report.py parse")
    ap.add_argument("kind", choices=["fio", "raw", "dbbench", "pgbench", "sqlite"])
    ap.add_argument("file")
    ap.add_argument("--workload", required=True)
    ap.add_argument("--system", required=True)
    ap.add_argument("--rep", type=int, required=True)
    args = ap.parse_args(argv)
    with open(args.file, encoding="utf-8", errors="replace") as f:
        text = f.read()
    parser = {"fio": parse_fio, "raw": parse_raw, "dbbench": parse_dbbench,
              "pgbench": parse_pgbench, "sqlite": parse_sqlite}[args.kind]
    try:
        recs = parser(text, args)
    except (ValueError, KeyError, IndexError, json.JSONDecodeError) as e:
        print("report.py: cannot parse %s output %s: %s" % (args.kind, args.file, e),
              file=sys.stderr)
        return 1
    for r in recs:
        print(json.dumps(r))
    return 0


def medians(records):
    """(workload, system) -> {value, p50_us, p99_us, reps, values, by_rep, unit}."""
    groups = {}
    for r in records:
        groups.setdefault((r["workload"], r["system"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        vals = [r["value"] for r in rs]
        p50s = [r["p50_us"] for r in rs if r.get("p50_us") is not None]
        p99s = [r["p99_us"] for r in rs if r.get("p99_us") is not None]
        out[key] = {
            "value": statistics.median(vals),
            "values": vals,
            "by_rep": {r["rep"]: r["value"] for r in rs},
            "reps": len(vals),
            "unit": rs[0]["unit"],
            "p50_us": statistics.median(p50s) if p50s else None,
            "p99_us": statistics.median(p99s) if p99s else None,
        }
    return out


def ratio(num, den):
    """num / den for two medians() entries: the median of the ratios of the repetitions both
    have, or (none in common) the ratio of their medians; None if either is missing or zero."""
    if not num or not den or not num["value"] or not den["value"]:
        return None
    a, b = num.get("by_rep", {}), den.get("by_rep", {})
    same = [a[k] / b[k] for k in a if k in b and b[k]]
    return statistics.median(same) if same else num["value"] / den["value"]


def below(value, bound):
    """'VALUE < BOUND' with as many decimals as it takes to show that value is below bound
    (1.497 against 1.5 reads '1.497 < 1.50', not '1.50 < 1.50')."""
    for digits in (2, 3, 4, 5, 6):
        if round(value, digits) < bound:
            break
    return "%.*f < %.2f" % (digits, value, bound)


def judge(row):
    """Fills row['met'] (True/False/None) and row['why'] from the ratios and the targets."""
    ext4_min, raw_min = row["target_ext4"], row["target_raw"]
    if row["zvfs"] is None or row["ext4"] is None:
        row["met"], row["why"] = None, "not measured"
        return
    misses = []
    if row["ratio_ext4"] < ext4_min:
        misses.append("ZVFS/ext4 " + below(row["ratio_ext4"], ext4_min))
    if raw_min is not None and row["ratio_raw"] is not None and row["ratio_raw"] < raw_min:
        misses.append("ZVFS/raw " + below(row["ratio_raw"], raw_min))
    row["met"] = not misses
    row["why"] = "; ".join(misses)


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "MB/s":
        return "%.0f MB/s" % v
    if v >= 100:
        return "%.0f" % v
    return "%.1f" % v


def build_rows(meds):
    rows = []
    for wid, label, unit, ext4_mode, (t_ext4, t_raw), raw_id in WORKLOADS:
        ext4 = meds.get((wid, "ext4"))
        zvfs = meds.get((wid, "zvfs"))
        raw = meds.get((raw_id, "raw")) if raw_id else None
        row = {
            "workload": wid,
            "label": label,
            "unit": unit,
            "ext4_mode": ext4_mode,
            "ext4": ext4["value"] if ext4 else None,
            "zvfs": zvfs["value"] if zvfs else None,
            "raw": raw["value"] if raw else None,
            "raw_id": raw_id,
            "ext4_detail": ext4,
            "zvfs_detail": zvfs,
            "raw_detail": raw,
            "target_ext4": t_ext4,
            "target_raw": t_raw,
        }
        row["ratio_ext4"] = ratio(zvfs, ext4)
        row["ratio_raw"] = ratio(zvfs, raw)
        judge(row)
        if ext4 or zvfs:
            rows.append(row)
    return rows


def table_md(rows, meta):
    lines = [
        "| workload | ext4 (mode) | ZVFS | ZVFS/ext4 | raw io_uring QD1 | ZVFS/raw | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        target = ">= %.1fx ext4" % r["target_ext4"]
        if r["target_raw"] is not None:
            target += ", >= %d%% raw" % round(r["target_raw"] * 100)
        met = {True: "met", False: "missed", None: "n/a"}[r["met"]]
        if r["met"] is False:
            met += " (" + r["why"] + ")"
        lines.append("| %s | %s (%s) | %s | %s | %s | %s | %s | %s |" % (
            r["label"], fmt(r["ext4"], r["unit"]), r["ext4_mode"], fmt(r["zvfs"], r["unit"]),
            "%.2fx" % r["ratio_ext4"] if r["ratio_ext4"] else "-", fmt(r["raw"], r["unit"]),
            "%d%%" % round(r["ratio_raw"] * 100) if r["ratio_raw"] else "-", target, met))
    lines.append("")
    lines.append("Figures are medians of %s repetitions (IOPS, MB/s, ops/s or TPS: higher is "
                 "better); a ratio is the median of the ratios within each repetition, whose "
                 "figures were measured one right after the other. %s" % (
                     meta.get("reps", "?"), meta.get("note", "")))
    lines.append("Machine: %s. Date: %s. Command: `%s`." % (
        meta.get("machine", "?"), meta.get("date", "?"), meta.get("command", "bench/run.sh")))
    return "\n".join(lines) + "\n"


def chart_values(row):
    """The chart's two bars for a row, relative to ext4: ZVFS's is the table's ZVFS/ext4 ratio
    (the median of the same-repetition ratios), the raw device's that ratio divided by ZVFS/raw;
    NaN where a figure is missing."""
    nan = float("nan")
    zv = row["ratio_ext4"] if row.get("ratio_ext4") else nan
    rw = zv / row["ratio_raw"] if row.get("ratio_raw") and zv == zv else nan
    return zv, rw


def draw_chart(rows, meta, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (Debian: python3-matplotlib); no chart drawn"
    shown = [r for r in rows if r["ext4"]]
    if not shown:
        return "nothing to draw"
    labels = [r["label"] for r in shown]
    ys = list(range(len(shown)))
    h = 0.38
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(shown) + 1.8))
    # Ratios span two orders of magnitude (a cached read vs a journal commit): log scale.
    zv = [chart_values(r)[0] for r in shown]
    rw = [chart_values(r)[1] for r in shown]
    ax.barh([y - h / 2 for y in ys], zv, height=h, label="ZVFS", color="#2b7bba")
    ax.barh([y + h / 2 for y in ys], rw, height=h, label="raw io_uring (QD1)", color="#aaaaaa")
    ax.axvline(1.0, color="#c0392b", linestyle="--", linewidth=1, label="ext4 = 1.0")
    for y, r, v in zip(ys, shown, zv):
        if r["target_ext4"]:
            ax.plot([r["target_ext4"]], [y - h / 2], marker="|", color="black", markersize=12)
        if v == v:  # not NaN
            ax.text(v, y - h / 2, " %.2fx" % v, va="center", fontsize=7)
    ax.set_xscale("log")
    finite = [v for v in zv + rw + [r["target_ext4"] for r in shown] if v == v and v > 0]
    ax.set_xlim(min(finite + [1.0]) / 1.5, max(finite + [1.0]) * 2)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("throughput relative to ext4 (same workload, same durability); "
                  "| marks the target")
    ax.set_title("ZVFS vs ext4 vs the raw device, %s\n%s" % (meta.get("date", ""),
                                                            meta.get("machine", "")), fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def cmd_report(argv):
    ap = argparse.ArgumentParser(prog="report.py report")
    ap.add_argument("records")
    ap.add_argument("meta")
    ap.add_argument("outdir")
    args = ap.parse_args(argv)
    records = []
    with open(args.records, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))
    with open(args.meta, encoding="utf-8") as f:
        meta = json.load(f)
    meds = medians(records)
    rows = build_rows(meds)
    raw = {rid: dict(meds[(rid, "raw")], label=RAW_BASELINES.get(rid, rid))
           for (rid, sysname) in meds if sysname == "raw"}
    table = table_md(rows, meta)
    with open(args.outdir + "/table.md", "w", encoding="utf-8") as f:
        f.write(table)
    with open(args.outdir + "/results.json", "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "rows": rows, "raw": raw, "records": records}, f, indent=1)
    print(table)
    for rid, r in sorted(raw.items()):
        print("raw %-24s %s: %s (p50 %s us)" % (rid, r["label"], fmt(r["value"], r["unit"]),
                                                "%.1f" % r["p50_us"] if r["p50_us"] else "-"))
    problem = draw_chart(rows, meta, args.outdir + "/chart.png")
    print("chart: " + (problem or args.outdir + "/chart.png"))
    return 0


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("parse", "report"):
        print(__doc__, file=sys.stderr)
        return 2
    return (cmd_parse if sys.argv[1] == "parse" else cmd_report)(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
