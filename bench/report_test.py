#!/usr/bin/env python3
"""report_test.py — checks report.py's verdicts on the targets (run by ctest as bench_report_test).

A ratio just under its target used to be printed rounded to the target ('missed (ZVFS/ext4
1.50 < 1.50)'); the reason must show the digits that make it a miss."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402


def row(ratio_ext4, target_ext4, ratio_raw=None, target_raw=None):
    return {"zvfs": 1.0, "ext4": 1.0, "ratio_ext4": ratio_ext4, "target_ext4": target_ext4,
            "ratio_raw": ratio_raw, "target_raw": target_raw}


class Judge(unittest.TestCase):
    def test_a_miss_by_less_than_the_rounding_shows_its_digits(self):
        r = row(1.4968, 1.5)
        report.judge(r)
        self.assertFalse(r["met"])
        self.assertEqual(r["why"], "ZVFS/ext4 1.497 < 1.50")

    def test_a_clear_miss_keeps_two_decimals(self):
        r = row(0.731, 0.8, 0.69, 0.9)
        report.judge(r)
        self.assertFalse(r["met"])
        self.assertEqual(r["why"], "ZVFS/ext4 0.73 < 0.80; ZVFS/raw 0.69 < 0.90")

    def test_meeting_the_target_exactly_is_met(self):
        r = row(1.5, 1.5, 0.9, 0.9)
        report.judge(r)
        self.assertTrue(r["met"])
        self.assertEqual(r["why"], "")

    def test_a_row_without_ext4_is_not_judged(self):
        r = row(1.0, 1.0)
        r["ext4"] = None
        report.judge(r)
        self.assertIsNone(r["met"])


def med(by_rep):
    """A medians() entry from {rep: value}."""
    recs = [{"workload": "w", "system": "s", "rep": k, "value": v, "unit": "IOPS"}
            for k, v in by_rep.items()]
    return report.medians(recs)[("w", "s")]


class Ratio(unittest.TestCase):
    def test_is_the_median_of_the_ratios_within_each_repetition(self):
        # Within the repetitions: 1.0, 0.5, 2.0. The ratio of the medians (200 / 150) would
        # divide the second repetition's ZVFS figure by the third's ext4 figure.
        zvfs = med({1: 100.0, 2: 200.0, 3: 300.0})
        ext4 = med({1: 100.0, 2: 400.0, 3: 150.0})
        self.assertEqual(report.ratio(zvfs, ext4), 1.0)

    def test_falls_back_to_the_ratio_of_medians_without_common_repetitions(self):
        self.assertEqual(report.ratio(med({1: 300.0}), med({2: 150.0})), 2.0)

    def test_uses_only_the_repetitions_both_sides_have(self):
        self.assertEqual(report.ratio(med({1: 90.0, 2: 50.0}), med({1: 100.0})), 0.9)

    def test_is_none_when_a_side_is_missing(self):
        self.assertIsNone(report.ratio(med({1: 1.0}), None))
        self.assertIsNone(report.ratio(None, med({1: 1.0})))

    def test_build_rows_judges_the_same_repetition_ratio(self):
        # ZVFS/ext4 per repetition 1.1, 1.1, 0.5 (median 1.1: met) while the medians give
        # 150 / 200 = 0.75 (missed).
        meds = {("pgbench-4", "zvfs"): med({1: 110.0, 2: 220.0, 3: 150.0}),
                ("pgbench-4", "ext4"): med({1: 100.0, 2: 200.0, 3: 300.0})}
        rows = [r for r in report.build_rows(meds) if r["workload"] == "pgbench-4"]
        self.assertEqual(len(rows), 1)
        self.assertAlmostEqual(rows[0]["ratio_ext4"], 1.1)
        self.assertTrue(rows[0]["met"])

    def test_the_chart_shows_the_tables_ratios(self):
        meds = {("overwrite-fdatasync", "zvfs"): med({1: 110.0, 2: 220.0, 3: 150.0}),
                ("overwrite-fdatasync", "ext4"): med({1: 100.0, 2: 200.0, 3: 300.0}),
                ("raw-randwrite-4k-sync", "raw"): med({1: 55.0, 2: 110.0, 3: 75.0})}
        rows = [r for r in report.build_rows(meds) if r["workload"] == "overwrite-fdatasync"]
        self.assertEqual(len(rows), 1)
        zv, rw = report.chart_values(rows[0])
        self.assertAlmostEqual(zv, 1.1)  # the table's, not 150 / 200
        self.assertAlmostEqual(rw, 1.1 / 2.0)  # ZVFS/raw is 2.0 in every repetition
        rows[0]["ratio_raw"] = None
        self.assertNotEqual(report.chart_values(rows[0])[1], report.chart_values(rows[0])[1])


class ParseSqlite(unittest.TestCase):
    class Args:
        workload, system, rep = "sqlite-journal", "zvfs", 2

    def test_takes_the_last_line(self):
        text = "a warning\n" + '{"tps": 812.5, "p50_us": 1100.0, "p99_us": 2500.0, "txns": 3250}\n'
        (r,) = report.parse_sqlite(text, self.Args)
        self.assertEqual((r["workload"], r["system"], r["rep"]), ("sqlite-journal", "zvfs", 2))
        self.assertEqual((r["value"], r["unit"], r["p50_us"], r["p99_us"]),
                         (812.5, "txn/s", 1100.0, 2500.0))

    def test_refuses_a_run_without_transactions(self):
        with self.assertRaises(ValueError):
            report.parse_sqlite('{"tps": 0, "p50_us": 0, "p99_us": 0, "txns": 0}', self.Args)

    def test_the_workload_is_judged_as_durable(self):
        (w,) = [w for w in report.WORKLOADS if w[0] == "sqlite-journal"]
        self.assertEqual(w[4], report.DURABLE)


if __name__ == "__main__":
    unittest.main()
