"""CPU accounting of the resource sampler, from readings (no processes needed)."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest

from harness.observe.resources import SHORTEST_ROW_S, Reading, ResourceSampler, row, usage


def test_cpu_used_in_the_interval() -> None:
    """cpu_s is the CPU time since the last reading; cpu_cores divides by the wall time."""
    before = Reading(pid=10, create_time=100.0, cpu_total=2.0, rss=0, at=200.0)
    after = Reading(pid=10, create_time=100.0, cpu_total=2.5, rss=0, at=202.0)
    assert usage(before, after) == (0.5, 0.25)


def test_restarted_process_counts_from_its_start() -> None:
    """A new pid's CPU counts from the later of its start and the last reading."""
    before = Reading(pid=10, create_time=100.0, cpu_total=50.0, rss=0, at=200.0)
    after = Reading(pid=11, create_time=200.5, cpu_total=0.25, rss=0, at=201.0)
    assert usage(before, after) == (0.25, 0.5)


def test_cpu_never_negative() -> None:
    """A counter that went backwards (same pid) counts as no CPU used."""
    before = Reading(pid=10, create_time=100.0, cpu_total=3.0, rss=0, at=200.0)
    after = Reading(pid=10, create_time=100.0, cpu_total=2.0, rss=0, at=201.0)
    assert usage(before, after) == (0.0, 0.0)


def test_row_has_the_resources_columns() -> None:
    """A row holds t_s from t0, role, name, pid, cpu_s, cpu_cores and rss_mb."""
    before = Reading(pid=7, create_time=1.0, cpu_total=1.0, rss=0, at=10.0)
    after = Reading(pid=7, create_time=1.0, cpu_total=1.5, rss=50 * 1024 * 1024, at=11.0)
    assert row("sidecar", "catalog-0-sidecar", before, after, t0=9.0) == {
        "t_s": 2.0,
        "role": "sidecar",
        "name": "catalog-0-sidecar",
        "pid": 7,
        "cpu_s": 0.5,
        "cpu_cores": 0.5,
        "rss_mb": 50.0,
    }


def test_vanished_process_is_looked_up_again_by_name() -> None:
    """A pid that is gone is replaced by the one `resolve` gives for the process's name."""
    gone = 2**22 + 12345  # above the default pid_max: never a live pid
    times = iter([10.0, 11.0])
    sampler = ResourceSampler(
        [("sidecar", "me", gone)],
        t0=0.0,
        resolve=lambda name: os.getpid(),
        clock=lambda: next(times),
    )
    sampler.sample(emit=False)
    rows = sampler.sample()
    assert [(r["name"], r["pid"]) for r in rows] == [("me", os.getpid())]
    assert rows[0]["rss_mb"] > 1


def test_process_down_without_replacement_gives_no_row() -> None:
    """A process that is gone and not running again has no row (a gap, not a zero)."""
    gone = 2**22 + 12345
    sampler = ResourceSampler([("service", "x", gone)], t0=0.0, resolve=lambda name: None)
    assert sampler.sample() == []


def test_processes_tracked_later_are_sampled_once_each() -> None:
    """`track` adds processes (the harness's) from the next reading; a pid already
    sampled is not added twice."""
    sampler = ResourceSampler([("service", "x", os.getpid())], t0=0.0)
    sampler.track([("harness", "load-1", os.getpid()), ("harness", "load-2", os.getppid())])
    rows = sampler.sample()
    assert [(r["role"], r["name"]) for r in rows] == [("service", "x"), ("harness", "load-2")]


def test_a_reading_too_soon_after_the_last_makes_no_row_and_the_next_covers_it() -> None:
    """CPU time comes in clock ticks: a reading a moment after the previous one (as the
    last one `stop` takes can be) would make one tick look like many cores. It makes no
    row; the next row counts the CPU and the time since the last row."""
    times = iter([100.0, 100.0 + SHORTEST_ROW_S / 20, 101.0])
    sampler = ResourceSampler([("harness", "me", os.getpid())], t0=99.0, clock=lambda: next(times))
    sampler.sample(emit=False)
    cpu_before = sum(os.times()[:2])
    assert sampler.sample() == []
    for _ in itertools.repeat(None, 200_000):  # use some CPU between the readings
        pass
    rows = sampler.sample()
    cpu_used = sum(os.times()[:2]) - cpu_before
    assert [r["t_s"] for r in rows] == [2.0]
    assert rows[0]["cpu_cores"] == pytest.approx(rows[0]["cpu_s"])  # over the whole second
    assert rows[0]["cpu_s"] <= cpu_used + 0.02


@pytest.mark.parametrize("interval", [0.05])
def test_start_stop_streams_rows_to_a_file(tmp_path: Path, interval: float) -> None:
    """Rows sampled in the thread are in rows() and, as JSON lines, in the output file."""
    out = tmp_path / "resources.jsonl"
    sampler = ResourceSampler([("harness", "me", os.getpid())], t0=0.0, interval=interval, out=out)
    sampler.start()
    deadline = time.monotonic() + 30
    while not sampler.rows() and time.monotonic() < deadline:
        time.sleep(interval)
    sampler.stop()
    rows = sampler.rows()
    assert rows, "the thread samples every interval"
    assert len(out.read_text().splitlines()) == len(rows)
    assert list(sampler.frame().columns) == [
        "t_s",
        "role",
        "name",
        "pid",
        "cpu_s",
        "cpu_cores",
        "rss_mb",
    ]
