"""The probe's CPU of the harness processes: no cores told from a moment's worth of ticks."""

from __future__ import annotations

import os
import time

from harness.observe.probe import HarnessCpu
from harness.observe.resources import SHORTEST_ROW_S


def test_a_call_a_moment_after_the_last_tells_no_cores_and_the_next_covers_it() -> None:
    """The part of a second a stopping probe writes can be a millisecond long: one CPU
    tick over it would read as many cores. That call gives None and no pids; the next,
    a full interval later, counts from the call before it."""
    cpu = HarnessCpu([os.getpid()])
    cpu.cores()
    primed_at, primed_cpu = time.monotonic(), _cpu_s()
    assert cpu.cores() == (None, {})
    while _cpu_s() - primed_cpu < SHORTEST_ROW_S * 3:  # busy for a few rows' worth
        pass
    used, elapsed = _cpu_s() - primed_cpu, time.monotonic() - primed_at
    total, each = cpu.cores()
    assert set(each) == {os.getpid()}
    assert total is not None
    assert abs(total - used / elapsed) < 0.1  # since the first call, not the second


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system
