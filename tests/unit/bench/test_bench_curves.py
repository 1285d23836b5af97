"""Cost curves as plain-text tables, and the line that says whether a target was met."""

from __future__ import annotations

from harness.bench.curves import CurveColumn, curve_lines, target_line

COLUMNS = (
    CurveColumn("n", "sidecars"),
    CurveColumn("up_s", "up s", "{:.1f}"),
    CurveColumn("p99_s", "push p99 s", "{:.3f}"),
)


def test_a_row_per_size_numbers_right_aligned() -> None:
    """Title, header, one line per row; numbers formatted and right-aligned; '-' for none."""
    rows = [{"n": 10, "up_s": 3.04, "p99_s": 0.0123}, {"n": 100, "up_s": 41.26, "p99_s": None}]
    assert curve_lines("mesh size", COLUMNS, rows) == [
        "mesh size",
        "sidecars  up s  push p99 s",
        "10         3.0       0.012",
        "100       41.3           -",
    ]


def test_target_line_says_met_missed_or_no_value() -> None:
    """The value beside its target, and the verdict."""
    assert target_line("10 M requests", 43.21, 60, "s") == (
        "10 M requests: 43.2 s (target <= 60 s): met"
    )
    assert target_line("peak RSS", 2500, 2048, "MB").endswith("(target <= 2048 MB): missed")
    assert target_line("push p99", None, 1, "s") == "push p99: no value (target <= 1 s)"
