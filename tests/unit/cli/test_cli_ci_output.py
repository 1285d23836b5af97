"""What the CLI prints into a CI log: no terminal, 80 columns (real `meshproof` processes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.report.text import plain_table
from tests.fixtures.make_run import make_run

ROOT = Path(__file__).resolve().parents[3]


def meshproof(*args: str) -> subprocess.CompletedProcess[str]:
    """`meshproof ARGS` with its output captured (no terminal) and COLUMNS=80, as in CI."""
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "harness.cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two fixture runs of catalog-503, a day apart."""
    root = tmp_path_factory.mktemp("reports")
    for day in (1, 2):
        make_run(root, seed=day, started_at=datetime(2026, 1, day, tzinfo=UTC))
    return root


def test_plain_table_keeps_every_cell_whole_on_one_line() -> None:
    """Aligned columns, right-aligned numbers, nothing cut, a line break inside a cell flattened."""
    lines = plain_table(
        "title",
        ["metric", "value"],
        [["recovery_s{fault=a-very-long-fault-name}", "1.5"], ["p99", "12\n.5"]],
        right=["value"],
    )
    assert lines == [
        "title",
        "metric                                    value",
        "recovery_s{fault=a-very-long-fault-name}    1.5",
        "p99                                       12 .5",
    ]


def test_list_shows_the_whole_status_at_80_columns(reports: Path) -> None:
    """`list` in a CI log: one line per run with its id and its status spelled out."""
    result = meshproof("list", "--reports", str(reports))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [line for line in lines if line.startswith("2026")]
    assert len(rows) == 2
    assert all(" failed " in f"{row} " for row in rows), lines
    assert not any("…" in line for line in lines)


def test_compare_keeps_the_metric_names_at_80_columns(reports: Path, tmp_path: Path) -> None:
    """`compare` in a CI log: every metric's whole name starts its own one-line row."""
    first, second = sorted(p.name for p in reports.iterdir() if p.name.startswith("2026"))
    out = tmp_path / "cmp"
    result = meshproof("compare", first, second, "--reports", str(reports), "--out", str(out))
    assert result.returncode in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    assert not any("…" in line for line in lines)
    names = [line.split()[0] for line in lines if line.split()]
    assert {"latency_ms", "latency_ms{route=catalog}", "recovery_s{fault=catalog-503}"} <= set(
        names
    )
    assert any(line.startswith("recovery_s{fault=catalog-503}") for line in lines)


def test_gate_rows_are_one_line_each_at_80_columns(reports: Path) -> None:
    """`gate` in a CI log: the history table has one whole line per headline metric."""
    result = meshproof("gate", "latest", "--reports", str(reports), "--min-history", "1")
    lines = result.stdout.splitlines()
    rows = [line for line in lines if line.split() and line.split()[0].endswith(("_ms", "_rate"))]
    assert [row.split()[0] for row in rows] == [
        "p50_ms",
        "p99_ms",
        "corrected_p99_ms",
        "error_rate",
    ], lines
    assert all(len(row.split()) >= 5 for row in rows)
    assert not any("…" in line for line in lines)


def test_gate_with_too_little_history_says_so_in_one_line(reports: Path) -> None:
    """One earlier run of three needed: one line saying regression was not judged, no table
    (on the console and in gate.md)."""
    result = meshproof("gate", "latest", "--reports", str(reports))
    out = result.stdout
    assert "1 of 3 earlier runs: regression not judged" in out
    assert out.count("regression not judged") == 1
    assert "nodata" not in out and "p50_ms" not in out
    latest = max(p for p in reports.iterdir() if p.name.startswith("2026"))
    gate_md = (latest / "gate" / "gate.md").read_text(encoding="utf-8")
    assert "1 of 3 earlier runs: regression not judged." in gate_md
    assert "| metric |" not in gate_md


def test_list_shows_the_achieved_rate_and_a_load_that_fell_behind(tmp_path: Path) -> None:
    """`list`: the RPS achieved beside the intended one, and BEHIND with share and lag."""
    make_run(tmp_path, seed=1, behind_s=30.0, started_at=datetime(2026, 1, 3, tzinfo=UTC))
    result = meshproof("list", "--reports", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("2026")]
    assert re.search(r"  4\d\.\d \(intended 50\)  ", row), row
    assert "BEHIND: 24.9 % late, lag up to 29.9 s" in row
