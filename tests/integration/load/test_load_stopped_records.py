"""A load stopped before its schedule's end keeps the records of every answered request."""

from __future__ import annotations

from pathlib import Path

import pytest
from loadtest_support import Targets, target_stats

from harness.load import LoadDriver, iter_worker_records
from harness.spec.load import LoadSpec
from tests.conftest import poll

pytestmark = pytest.mark.integration


def recorded(driver: LoadDriver) -> int:
    return sum(1 for path in driver.records_files() for _ in iter_worker_records(path))


def test_a_load_stopped_mid_schedule_keeps_its_last_unshipped_records(
    targets: Targets, tmp_path: Path
) -> None:
    """Stopped (as a Ctrl-C'd run stops it) while its worker holds requests it has not
    shipped to the master yet: those reach the records too, all but the few in flight."""
    url = targets.start(seed=5, median_ms=2, sigma=0.2)
    spec = LoadSpec(rps=100, duration="60s", warmup="0s", connections=4, max_connections=4)
    driver = LoadDriver(spec, url, tmp_path / "run")
    try:
        driver.start()
        poll(lambda: recorded(driver) > 0, 30, 0.05, "the first batch of records")
        # served but not recorded yet: the worker holds them until its next batch
        poll(
            lambda: target_stats(url)["served"] > recorded(driver) + 20,
            30,
            0.01,
            "requests answered since the last batch",
        )
    finally:
        driver.stop()
    served = target_stats(url)["served"]
    assert recorded(driver) >= served - spec.max_connections, (recorded(driver), served)
