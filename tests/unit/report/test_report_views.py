"""The Run page's views of a run's requests, kept in the run directory when it is written."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from harness.report import mesh, requests, trace_pick
from harness.report.source import VIEWS
from harness.report.views import keep_request_views
from harness.store import load_run
from harness.store.model import PhaseRecord
from tests.fixtures.make_run import make_run


def page_views(run: Path) -> tuple[list[pd.DataFrame], dict[str, list[trace_pick.Pick]]]:
    """What the Run page asks of the requests: timeline, phase table, ladder, load edge, lists."""
    record = load_run(run)
    whole = record.whole_phase()
    frames = [
        requests.timeline(run),
        requests.phase_percentiles(run, tuple(record.phases)),
        requests.percentile_ladder(run, whole),
        mesh.load_edge(run, "frontend", whole),
    ]
    return frames, trace_pick.ready_lists(record, run)


def assert_same(
    left: tuple[list[pd.DataFrame], dict[str, list[trace_pick.Pick]]],
    right: tuple[list[pd.DataFrame], dict[str, list[trace_pick.Pick]]],
) -> None:
    for ours, theirs in zip(left[0], right[0], strict=True):
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert left[1] == right[1]


def test_kept_views_are_the_queries_answers(tmp_path: Path) -> None:
    """Kept, the views are read from the run directory and equal the queries over the
    table to the last bit (same p50 / p99 / error rate, same dtypes, same trace lists)."""
    run = make_run(tmp_path, rps=200.0)
    live = page_views(run)
    keep_request_views(run, load_run(run))
    assert len(list((run / VIEWS).iterdir())) >= 5
    table = run / "requests.parquet"
    stat = table.stat()
    table.write_bytes(b"x" * stat.st_size)  # no table left to ask, same size and time
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert_same(page_views(run), live)
    assert live[0][1]["p99_ms"].notna().all()
    assert live[1]


def test_a_rewritten_table_is_asked_again(tmp_path: Path) -> None:
    """A kept view no longer matches once requests.parquet is rewritten: the page's
    numbers are the new table's, not the kept ones."""
    run = make_run(tmp_path, rps=200.0)
    before = page_views(run)
    keep_request_views(run, load_run(run))
    table = run / "requests.parquet"
    frame = pd.read_parquet(table)
    frame["latency_ms"] = frame["latency_ms"] * 2
    frame.to_parquet(table, index=False)
    os.utime(table, ns=(1, 1))  # a different time, whatever the clock's resolution
    after = page_views(run)
    assert not after[0][0]["p99_ms"].equals(before[0][0]["p99_ms"])
    (run / VIEWS).rename(run / "old-views")
    assert_same(page_views(run), after)


def test_a_phase_without_requests_has_no_percentiles(tmp_path: Path) -> None:
    """A run stopped early (SIGTERM in its warm-up) can have a phase no request fell in: its
    row has 0 requests and NaN percentiles (duckdb's NULL list), not a TypeError that left
    the run 'running' on disk and exited 1 instead of 2."""
    run = make_run(tmp_path, rps=50.0)
    empty = PhaseRecord(name="during:never", start_s=10_000.0, end_s=10_001.0)
    phases = (*load_run(run).phases, empty)
    for keep in (False, True):
        table = requests.phase_percentiles(run, phases, keep=keep).set_index("phase")
        assert table.loc["during:never", "requests"] == 0
        assert table.loc["during:never", ["p50_ms", "p99_ms", "corrected_p99_ms"]].isna().all()
