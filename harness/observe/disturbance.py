"""The host's disturbance, second by second: the pure arithmetic of the disturbance probe.

The probe (`harness.observe.probe`, a process of its own) sleeps a fixed short interval in
a loop and records how late each wake-up is (scheduling lag); once a second it reads
`/proc/stat`, `/proc/loadavg` and the CPU times of the harness's own processes, and makes
one row of the probe table from them with the functions here. Everything here is fed
values, so it is tested without a busy machine.

A row (one JSON line of `host-probe.jsonl`, see DEVELOPING.md) has:
`second` (whole seconds since t0: the row covers [second, second + 1)), `wakeups`,
`sched_lag_p50_ms`, `sched_lag_p99_ms`, `sched_lag_max_ms` (how late the wake-ups of that
second were, ms), `steal_share`, `iowait_share` (of all CPU time of all cores, 0..1),
`busy_cores` (CPU cores busy on the whole host: user, nice, system, irq, softirq),
`steal_cores` (cores' worth of time the hypervisor gave to someone else),
`online_cores` (the `cpuN` lines of `/proc/stat`), `load1` (the 1-minute load average), `harness_cores` (the orchestrator, the Locust processes and
the probe), `probe_cpu_cores` (the probe alone).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ROW_COLUMNS = (
    "second",
    "wakeups",
    "sched_lag_p50_ms",
    "sched_lag_p99_ms",
    "sched_lag_max_ms",
    "steal_share",
    "iowait_share",
    "busy_cores",
    "steal_cores",
    "online_cores",
    "load1",
    "harness_cores",
    "probe_cpu_cores",
)


@dataclass(frozen=True)
class CpuTimes:
    """The host's CPU time counters (jiffies, all cores summed) from `/proc/stat`'s cpu line."""

    user: int
    nice: int
    system: int
    idle: int
    iowait: int
    irq: int
    softirq: int
    steal: int
    cores: int
    """Online cores (the `cpuN` lines)."""

    @property
    def busy(self) -> int:
        return self.user + self.nice + self.system + self.irq + self.softirq

    @property
    def total(self) -> int:
        # guest and guest_nice are already counted in user and nice: left out
        return self.busy + self.idle + self.iowait + self.steal


def parse_proc_stat(text: str) -> CpuTimes:
    """The aggregate `cpu` line of `/proc/stat` (missing trailing fields count as 0)."""
    cores = 0
    fields: list[int] | None = None
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if name == "cpu":
            fields = [int(v) for v in rest.split()]
        elif name.startswith("cpu") and name[3:].isdigit():
            cores += 1
    if fields is None:
        raise ValueError("/proc/stat has no aggregate 'cpu' line")
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return CpuTimes(user, nice, system, idle, iowait, irq, softirq, steal, cores=max(cores, 1))


@dataclass(frozen=True)
class CpuShares:
    """What the host's CPU did between two readings of `/proc/stat`."""

    steal_share: float
    iowait_share: float
    busy_cores: float
    steal_cores: float = 0.0
    online_cores: int | None = None


def cpu_shares(before: CpuTimes, after: CpuTimes) -> CpuShares | None:
    """Steal and iowait as shares of all CPU time, and busy cores, between two readings.

    Shares of the counters' own total (not of the wall time), so a reading a little early
    or late does not bend them; busy cores are the busy share times the online cores.
    None when no time passed (or the counters went backwards).
    """
    total = after.total - before.total
    if total <= 0:
        return None
    busy = max(0, after.busy - before.busy)
    steal = max(0, after.steal - before.steal)
    return CpuShares(
        steal_share=steal / total,
        iowait_share=max(0, after.iowait - before.iowait) / total,
        busy_cores=busy / total * after.cores,
        steal_cores=steal / total * after.cores,
        online_cores=after.cores,
    )


def parse_loadavg(text: str) -> float:
    """The 1-minute load average from `/proc/loadavg`."""
    return float(text.split()[0])


@dataclass(frozen=True)
class LagSummary:
    """How late the probe's wake-ups were in one second (ms)."""

    wakeups: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0-1) of sorted values by nearest rank (no interpolation)."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summarise_lags(lags_ms: Sequence[float]) -> LagSummary | None:
    """p50, p99 and max of one second's wake-up lateness; None when there was no wake-up.

    A wake-up a hair early (clock granularity) counts as on time (0), never negative.
    """
    if not lags_ms:
        return None
    ordered = sorted(max(0.0, lag) for lag in lags_ms)
    return LagSummary(
        wakeups=len(ordered),
        p50_ms=nearest_rank(ordered, 0.50),
        p99_ms=nearest_rank(ordered, 0.99),
        max_ms=ordered[-1],
    )


def probe_row(
    second: int,
    lags: LagSummary | None,
    cpu: CpuShares | None,
    load1: float | None,
    harness_cores: float | None,
    probe_cores: float | None,
) -> dict[str, Any]:
    """One row of the probe table; a measure that could not be read is None."""
    return {
        "second": second,
        "wakeups": lags.wakeups if lags else 0,
        "sched_lag_p50_ms": _round(lags.p50_ms) if lags else None,
        "sched_lag_p99_ms": _round(lags.p99_ms) if lags else None,
        "sched_lag_max_ms": _round(lags.max_ms) if lags else None,
        "steal_share": _round(cpu.steal_share, 5) if cpu else None,
        "iowait_share": _round(cpu.iowait_share, 5) if cpu else None,
        "busy_cores": _round(cpu.busy_cores, 4) if cpu else None,
        "steal_cores": _round(cpu.steal_cores, 4) if cpu else None,
        "online_cores": cpu.online_cores if cpu else None,
        "load1": load1,
        "harness_cores": _round(harness_cores, 4) if harness_cores is not None else None,
        "probe_cpu_cores": _round(probe_cores, 5) if probe_cores is not None else None,
    }


def _round(value: float, digits: int = 3) -> float:
    return round(value, digits)
