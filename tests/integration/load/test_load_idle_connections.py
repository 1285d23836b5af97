"""Connections grown for a backlog close once the load no longer needs them (idle_timeout)."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from loadtest_support import Targets, run_load

from harness.load import LoadDriver
from harness.spec.load import LATE_BOUND_MS, LoadSpec

pytestmark = pytest.mark.integration

POLL_S = 0.05


def _stall(url: str, ms: int) -> float:
    """The target holds every request for `ms` from now; when (wall clock) it began."""
    began = time.time()
    request = urllib.request.Request(f"{url}/_stall?ms={ms}", method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    return began


def _first(condition: Callable[[], bool], until: float) -> float | None:
    """The wall-clock time `condition` first held, polled until `until`; None if it never did."""
    while time.time() < until:
        if condition():
            return time.time()
        time.sleep(POLL_S)
    return None


def test_connections_grown_for_a_stall_close_once_it_is_over_and_grow_again_at_the_next(
    targets: Targets, tmp_path: Path
) -> None:
    """At 200 RPS from 16 connections a 600 ms stall of the target grows the pool (~120
    connections: requests keep leaving on time). Once the target has been fast again for
    `idle_timeout` (1 s) the grown connections close, each after its answer, back to the 16
    the load started with, and the target holds no more than those. A second stall grows
    the pool again. No request fails, and between the stalls, where connections closed,
    requests leave on time (a few late by the host's jitter)."""
    url = targets.start(median_ms=2, sigma=0)
    spec = LoadSpec(
        rps=200, duration="12s", warmup="0s", connections=16, idle_timeout="1s", timeout="5s"
    )
    seen: dict[str, float | None] = {}
    stalls: list[float] = []
    held: list[int] = []

    def during(driver: LoadDriver) -> None:
        t0 = driver.t0
        time.sleep(max(0.0, t0 + 1.0 - time.time()))  # a point in the schedule
        stalls.append(_stall(url, 600))
        seen["grown"] = _first(lambda: driver.live().connections >= 60, t0 + 4)
        seen["closed"] = _first(
            lambda: driver.live().connections <= 16 and targets.established(url) <= 16, t0 + 9
        )
        held.extend((driver.live().connections, targets.established(url)))
        if seen["closed"] is not None:
            stalls.append(_stall(url, 600))
            seen["regrown"] = _first(lambda: driver.live().connections >= 40, t0 + 12)

    driver, rows = run_load(spec, url, tmp_path / "run", during=during)
    t0 = driver.t0
    assert seen["grown"] is not None, "the pool did not grow for the stall"
    assert seen["closed"] is not None, (
        f"{held[0]} connections 9 s in (the target held {held[1]}),"
        f" {driver.live().closed_idle} closed for idleness"
    )
    assert seen.get("regrown") is not None, "the pool did not grow again for the second stall"
    assert all(r["status"] == 200 and not r["error"] for r in rows)
    # Between the stalls, where connections closed: late by the host's jitter at most.
    between = [r for r in rows if stalls[0] - t0 + 1.0 <= r["intended_s"] < stalls[1] - t0 - 0.05]
    assert len(between) >= 200
    lags_ms = [(r["sent_s"] - r["intended_s"]) * 1000 for r in between]
    late = sum(1 for lag in lags_ms if lag > LATE_BOUND_MS)
    assert late <= len(between) * 0.05, f"{late} of {len(between)} late"
    live = driver.live()
    assert live.closed_idle >= 60 - 16  # the first grown pool back to the base, at least
    assert live.unsent == 0
