"""A series of load blocks on one Locust master and its workers (`LoadDriver.series`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from loadtest_support import Targets, target_stats

from harness.load import LoadDriver, iter_worker_records
from harness.spec.load import LoadSpec

pytestmark = pytest.mark.integration


def test_each_block_of_a_series_is_kept_apart_by_the_same_locust_processes(
    targets: Targets, tmp_path: Path
) -> None:
    """Three blocks (A, B, A) on two workers: one master for all (Locust's stop / start
    between blocks), each block's own t0 after the one before ended, its own files, every
    request of its schedule sent to its own target and recorded in its own directory."""
    a, b = (
        targets.start(seed=1, median_ms=2, sigma=0.1),
        targets.start(seed=2, median_ms=2, sigma=0.1),
    )
    spec = LoadSpec(rps=100, duration="1500ms", warmup="0s", connections=4, workers=2)
    blocks = [(a, tmp_path / "b0"), (b, tmp_path / "b1"), (a, tmp_path / "b2")]
    drivers = LoadDriver.series(spec, blocks)
    try:
        ends = [0.0]
        for driver in drivers:
            assert driver.start() > ends[-1], "a block began before the one before it ended"
            assert driver.wait(spec.total_duration + spec.timeout + 10), "block not done"
            ends.append(driver.t0 + spec.total_duration)
        pids = {driver.pids()[0] for driver in drivers}
    finally:
        for driver in drivers:
            driver.stop()
    assert len(pids) == 1
    masters = [json.loads((d / "locust-master.json").read_text()) for _, d in blocks]
    assert len({m["pid"] for m in masters}) == 1 and len({m["t0"] for m in masters}) == 3
    for driver, master in zip(drivers, masters, strict=True):
        assert [w["done"] for w in master["workers"]] == [True, True], master
        # Only this block's batches: one of the block before would be a gap here.
        assert all(w["gaps"] == 0 and w["batches"] == w["next_seq"] for w in master["workers"])
        rows = [r for path in driver.records_files() for r in iter_worker_records(path)]
        assert len(rows) == 150 and all(r["status"] == 200 for r in rows)
        assert all(0 <= r["intended_s"] < 1.5 for r in rows)
        assert [w.unsent for w in driver.workers()] == [0, 0]
    assert target_stats(a)["served"] == 300 and target_stats(b)["served"] == 150
