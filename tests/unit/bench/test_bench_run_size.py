"""The run-size benchmark's big runs: the fixture generator a slice at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.analysis import read_requests
from harness.bench.run_size import BigRun, run_size_lines, write_records
from harness.bench.synthetic_run import fault_timeline, fixture_experiment
from harness.bench.synthetic_traffic import requests_between, synthetic_requests


def test_the_whole_schedule_is_one_slice() -> None:
    """synthetic_requests is requests_between over every request (same draws)."""
    line, _ = fault_timeline(fixture_experiment(50, 40))
    whole = synthetic_requests(np.random.default_rng(3), 50, line)
    sliced = requests_between(np.random.default_rng(3), 50, line, (0, 2250))
    assert whole.equals(sliced)


def test_record_files_hold_the_schedule_in_slices(tmp_path: Path) -> None:
    """Files of `per_file` requests, read back as the engine reads them: every intended
    send time of the schedule once, in order."""
    run = BigRun(2500, rps=100.0)
    files = write_records(run, tmp_path, per_file=1000)
    assert [p.name for p in files] == [f"requests-w{i}.jsonl" for i in range(3)]
    requests = read_requests(files)
    assert len(requests) == 2500
    assert np.allclose(requests["intended_s"], np.arange(2500) / 100.0)
    assert set(requests["status"]) <= {0, 200, 503}


def test_lines_judge_the_biggest_run() -> None:
    """The table, then the biggest run's time and memory against the targets."""
    rows = [
        {"requests": 10, "total_s": 1.0, "peak_rss_mb": 100.0, "run_page_s": 1.0},
        {"requests": 1000, "total_s": 75.0, "peak_rss_mb": 900.0, "run_page_s": 12.5},
    ]
    lines = run_size_lines(rows)
    assert lines[-3] == "1,000 requests: analysis + report: 75.0 s (target <= 60 s): missed"
    assert lines[-2] == "1,000 requests: peak RSS: 900.0 MB (target <= 2048 MB): met"
    assert lines[-1] == "1,000 requests: dashboard Run page: 12.5 s (target <= 10 s): missed"
