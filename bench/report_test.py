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


if __name__ == "__main__":
    unittest.main()
