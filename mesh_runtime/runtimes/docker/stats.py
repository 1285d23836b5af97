"""CPU and memory of each container, from the Docker stats API, once a second.

The same rows as the psutil sampler of the local runtime (`t_s, role, name, pid, cpu_s,
cpu_cores, rss_mb`), so sidecar overhead is measured the same way on both runtimes:
`cpu_s` is the CPU time the container's cgroup used in the interval (the difference of
two readings of `cpu_stats.cpu_usage.total_usage`), `cpu_cores` that over the interval's
wall time, `rss_mb` the cgroup's resident anonymous memory (`rss` on cgroup v1, `anon` on
v2). Each reading is one-shot (no two-sample wait). A container whose counter went back
(restarted: a new cgroup) counts from zero again; one that is gone or paused is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh_runtime.errors import MeshproofError
from mesh_runtime.runtimes.sampling import MB, PeriodicSampler

_NS = 1e9

StatsFn = Callable[[str], Mapping[str, Any]]
"""One reading of the stats API for a container id."""


@dataclass(frozen=True)
class Watched:
    role: str
    name: str
    pid: int
    container: str


@dataclass(frozen=True)
class StatsReading:
    cpu_total: float
    """CPU seconds the container's cgroup used since it started."""
    rss: int
    at: float


def reading(payload: Mapping[str, Any], at: float) -> StatsReading | None:
    """The CPU total and resident memory in one stats answer; None if it has neither."""
    cpu = payload.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage")
    memory = payload.get("memory_stats", {})
    if cpu is None or not memory:
        return None
    stats = memory.get("stats", {})
    rss = stats.get("rss", stats.get("anon"))
    if rss is None:
        rss = max(0, int(memory.get("usage", 0)) - int(stats.get("inactive_file", 0)))
    return StatsReading(cpu_total=cpu / _NS, rss=int(rss), at=at)


def stats_row(
    watched: Watched, previous: StatsReading | None, current: StatsReading, t0: float
) -> dict[str, Any] | None:
    """The row for the interval since `previous`; None for a first reading."""
    if previous is None:
        return None
    cpu = current.cpu_total - previous.cpu_total
    if cpu < 0:  # restarted: a new cgroup counts from zero
        cpu = current.cpu_total
    elapsed = current.at - previous.at
    return {
        "t_s": round(current.at - t0, 3),
        "role": watched.role,
        "name": watched.name,
        "pid": watched.pid,
        "cpu_s": cpu,
        "cpu_cores": cpu / elapsed if elapsed > 0 else 0.0,
        "rss_mb": current.rss / MB,
    }


class DockerStatsSampler(PeriodicSampler):
    """Samples `containers` every `interval` s in a thread; `stats` reads one container."""

    thread_name = "docker-stats"

    def __init__(
        self,
        containers: Iterable[Watched],
        *,
        stats: StatsFn,
        t0: float,
        interval: float = 1.0,
        out: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(interval=interval, out=out)
        self._watched = list(containers)
        self._stats = stats
        self._t0 = t0
        self._clock = clock
        self._last: dict[str, StatsReading] = {}
        self._pool: ThreadPoolExecutor | None = None

    def sample(self) -> list[dict[str, Any]]:
        """Read every container once (all at once: the engine answers each in up to a
        second, when its collector next publishes); the new rows."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max(1, len(self._watched)), "docker-stats-read")
        new = []
        for watched, current in zip(
            self._watched, self._pool.map(self._read, self._watched), strict=True
        ):
            if current is None:
                continue
            made = stats_row(watched, self._last.get(watched.container), current, self._t0)
            self._last[watched.container] = current
            if made is not None:
                new.append(made)
        self._record(new)
        return new

    def _close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _read(self, watched: Watched) -> StatsReading | None:
        try:
            payload = self._stats(watched.container)
        except MeshproofError:
            return None  # gone for now; read again next time
        return reading(payload, self._clock())


def container_sampler(
    deployment: Any, client: Any, *, t0: float, out: Path | None = None, interval: float = 1.0
) -> DockerStatsSampler:
    """A sampler over every container of a docker `Deployment` (not the host Prometheus)."""
    from mesh_runtime.runtimes.docker.engine import Engine

    watched = [
        Watched(r.role, r.name, r.pid, r.container_id)
        for r in deployment.processes
        if r.container_id is not None
    ]
    return DockerStatsSampler(
        watched, stats=Engine(client).stats, t0=t0, interval=interval, out=out
    )
