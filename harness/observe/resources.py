"""CPU and memory of each process of a deployment, sampled with psutil once a second.

Each row of the resources table covers the interval since the previous reading of that
process: `cpu_s` is the CPU time (user + system) it used in the interval, `cpu_cores` that
divided by the interval's wall time (1.0 = one core busy), `rss_mb` its resident memory
at the end of the interval. A process that dies is looked up again by name (`resolve`,
usually the runtime's current process table), so a restarted sidecar keeps its row series
under a new pid; the CPU of a new process counts from its start.

The kernel counts CPU time in clock ticks (10 ms at the usual USER_HZ of 100), so a
reading taken a moment after the previous one (the last one `stop` takes, say) would turn
one tick into cores by the dozen. A reading less than `SHORTEST_ROW_S` after the one before
makes no row: that interval's CPU counts into the next row instead, or, at the end, is
left out.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from harness.errors import RunError
from mesh_runtime.errors import MeshproofError
from mesh_runtime.runtimes.sampling import MB, PeriodicSampler

Resolve = Callable[[str], int | None]
"""A process's current pid by name, or None when it is not running."""

SHORTEST_ROW_S = 10 / os.sysconf("SC_CLK_TCK")
"""The shortest interval (s) a row covers: ten ticks of the kernel's CPU clock, so one
tick more or less is at most a tenth of a core."""


@dataclass(frozen=True)
class Reading:
    pid: int
    create_time: float
    cpu_total: float
    """user + system CPU seconds since the process started."""
    rss: int
    at: float


def used_since(previous: Reading | None, current: Reading) -> tuple[float, float]:
    """CPU seconds used since `previous` and the wall time they were used in.

    A new process (another pid or create_time than before) counts its CPU from its own
    start; with no previous reading the interval is the process's whole life so far.
    """
    same = (
        previous is not None
        and previous.pid == current.pid
        and abs(previous.create_time - current.create_time) < 0.01
    )
    if same:
        assert previous is not None
        cpu = max(0.0, current.cpu_total - previous.cpu_total)
        since = previous.at
    else:
        cpu = current.cpu_total
        since = current.create_time if previous is None else max(previous.at, current.create_time)
    return cpu, current.at - since


def usage(previous: Reading | None, current: Reading) -> tuple[float, float]:
    """CPU seconds used since `previous` and the cores that makes over the elapsed time."""
    cpu, elapsed = used_since(previous, current)
    return cpu, (cpu / elapsed if elapsed > 0 else 0.0)


def row(
    role: str, name: str, previous: Reading | None, current: Reading, t0: float
) -> dict[str, Any]:
    cpu_s, cores = usage(previous, current)
    return {
        "t_s": round(current.at - t0, 3),
        "role": role,
        "name": name,
        "pid": current.pid,
        "cpu_s": cpu_s,
        "cpu_cores": cores,
        "rss_mb": current.rss / MB,
    }


class _Tracked:
    """One watched process: its name and role, its psutil handle, its last reading."""

    def __init__(self, role: str, name: str, pid: int) -> None:
        self.role = role
        self.name = name
        self.pid = pid
        self.handle: psutil.Process | None = None
        self.last: Reading | None = None

    def read(self, clock: Callable[[], float]) -> Reading:
        """A reading of the process; psutil.Error when it is gone."""
        if self.handle is None or self.handle.pid != self.pid:
            self.handle = psutil.Process(self.pid)
        with self.handle.oneshot():
            if self.handle.status() == psutil.STATUS_ZOMBIE:
                raise psutil.ZombieProcess(self.pid)
            times = self.handle.cpu_times()
            rss = self.handle.memory_info().rss
            created = self.handle.create_time()
        return Reading(self.pid, created, times.user + times.system, rss, clock())


class ResourceSampler(PeriodicSampler):
    """Samples `processes` ((role, name, pid) triples) every `interval` s in a thread."""

    thread_name = "resource-sampler"
    open_error = RunError

    def __init__(
        self,
        processes: Iterable[tuple[str, str, int]],
        *,
        t0: float,
        interval: float = 1.0,
        resolve: Resolve | None = None,
        out: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(interval=interval, out=out)
        self._tracked = [_Tracked(role, name, pid) for role, name, pid in processes]
        self._t0 = t0
        self._resolve = resolve
        self._clock = clock

    def track(self, processes: Iterable[tuple[str, str, int]]) -> None:
        """Also sample these (role, name, pid) processes from the next reading on (the
        harness's own, known once the load has started); ones already tracked are kept."""
        known = {tracked.pid for tracked in self._tracked}
        fresh = [_Tracked(r, n, pid) for r, n, pid in processes if pid not in known]
        self._tracked = [*self._tracked, *fresh]  # one assignment: the sampling thread reads it

    def sample(self, *, emit: bool = True) -> list[dict[str, Any]]:
        """Read every process once; the new rows (none when `emit` is False: a priming read)."""
        new = []
        for tracked in self._tracked:
            current = self._read(tracked)
            if current is None:
                continue
            if emit and used_since(tracked.last, current)[1] < SHORTEST_ROW_S:
                continue  # too soon to tell cores: the next row covers this interval too
            if emit:
                new.append(row(tracked.role, tracked.name, tracked.last, current, self._t0))
            tracked.last = current
        self._record(new)
        return new

    def _prime(self) -> None:
        self.sample(emit=False)

    def _read(self, tracked: _Tracked) -> Reading | None:
        try:
            return tracked.read(self._clock)
        except psutil.Error:
            pass
        try:
            pid = self._resolve(tracked.name) if self._resolve is not None else None
        except MeshproofError:
            pid = None
        if pid is None or pid == tracked.pid:
            return None  # down for now; looked up again next time
        tracked.pid = pid
        try:
            return tracked.read(self._clock)
        except psutil.Error:
            return None
