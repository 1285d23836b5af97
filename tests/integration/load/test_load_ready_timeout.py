"""A load driver whose workers come up late: bounded wait, one clear line."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from loadtest_support import Targets

from harness.errors import RunError
from harness.load import LoadDriver
from harness.load.plan import SLOW_START_ENV
from harness.spec.load import LoadSpec

pytestmark = pytest.mark.integration


def test_a_driver_not_ready_in_time_fails_with_one_line_and_leaves_nothing(
    targets: Targets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that comes up 30s late, a driver that waits 3s: start() gives up after
    about 3s with one line naming what it waited for, and no Locust process is left."""
    url = targets.start(seed=1, median_ms=1, sigma=0.1)
    monkeypatch.setenv(SLOW_START_ENV, "30")
    driver = LoadDriver(
        LoadSpec(rps=10, duration="2s", warmup="0s"), url, tmp_path / "load", ready_timeout=3.0
    )
    with pytest.raises(RunError) as caught:
        driver.start()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the load driver was not ready within 3s, still waiting for")
    assert "the run did not start" in message
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in driver.pids()
    )
