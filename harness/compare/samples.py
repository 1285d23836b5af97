"""What a comparison measures in one side's runs (one run, or several rounds pooled).

Read from the run directory (`harness.store`), measured phases only (never warm-up):

- latency: `requests.parquet` `latency_ms` of the successful requests (answered, < 500),
  overall and per `route`, each with its run (0, 1, ... in a pooled side) and its
  intended send second, so that the comparison can group them into time windows;
- error rate: failed (5xx or no answer, as `harness.analysis` counts them) over sent;
- sidecar CPU per 1000 proxied RPS (Istio's measure, as the run's summary computes it):
  per second, the sidecars' summed mean `cpu_cores` (`resources.parquet`) over the
  requests the sidecars proxied that second (the increase of `istio_requests_total`,
  `metrics.parquet`), x 1000; memory: per second, the largest sidecar `rss_mb`;
- trace completeness: the summary's share (2xx requests with a trace id, measured) times
  the measured requests it judged (run.json's `traces` counts include warm-up);
- retries and ejections: the counters' increase over the measured run (`metrics.parquet`,
  as the run's summary computes it) per request;
- recovery: each fault's `recovery_s` from run.json's `during:<fault>` phase summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.analysis.signals import counter_increase, cpu_per_krps_by_second, run_counters
from harness.analysis.windows import failed_mask
from harness.spec.phase import Phase
from harness.store.model import PhaseRecord
from harness.store.reader import StoredRun


@dataclass
class Counted:
    """Events over an exposure (retries over requests); None count: no data."""

    count: float | None
    exposure: float


@dataclass(frozen=True)
class Timed:
    """Latencies with when they were sent: each value's run and intended second."""

    values: np.ndarray
    run: np.ndarray
    """int64: the index of the value's run in its side (0 for a single run)."""
    second: np.ndarray
    """int64: the value's intended send second (seconds since the run's t0)."""

    @classmethod
    def empty(cls) -> Timed:
        return cls(np.array([]), np.array([], dtype="int64"), np.array([], dtype="int64"))

    def __len__(self) -> int:
        return len(self.values)

    def shifted(self, runs: int) -> Timed:
        """The same values numbered as the runs after `runs` earlier ones (pooling)."""
        return Timed(self.values, self.run + runs, self.second)

    def joined(self, other: Timed) -> Timed:
        return Timed(
            np.concatenate([self.values, other.values]),
            np.concatenate([self.run, other.run]),
            np.concatenate([self.second, other.second]),
        )


def timed(requests: pd.DataFrame) -> Timed:
    """The requests' `latency_ms`, run 0, by intended second."""
    values = requests["latency_ms"].to_numpy(dtype="float64")
    second = np.floor(requests["intended_s"].to_numpy(dtype="float64")).astype("int64")
    return Timed(values, np.zeros(len(values), dtype="int64"), second)


@dataclass
class SideSamples:
    """Everything one side (baseline or candidate) measured, pooled over its runs."""

    latency: Timed
    latency_by_route: dict[str, Timed]
    sent: int
    failed: int
    cpu_per_krps: np.ndarray
    rss_mb: np.ndarray
    trace_complete: int | None
    trace_judged: int
    retries: Counted
    ejections: Counted
    recovery: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    runs: int = 1


def measured_phase(run: StoredRun) -> PhaseRecord:
    """The run's `whole` phase (everything after warm-up)."""
    whole = run.record.whole_phase()
    if whole is not None:
        return whole
    return PhaseRecord(name="whole", start_s=0.0, end_s=float(run.record.duration_s or 0.0))


def measured_requests(run: StoredRun) -> pd.DataFrame:
    """The run's requests outside warm-up."""
    requests = run.table("requests")
    return requests[_outside_warmup(run, requests)]


def has_measured_requests(run: StoredRun) -> bool:
    """Whether any request of the run is outside warm-up (no copy of them is made)."""
    return bool(_outside_warmup(run, run.table("requests")).any())


def _outside_warmup(run: StoredRun, requests: pd.DataFrame) -> pd.Series:
    if "phase" in requests.columns:
        return requests["phase"] != "warmup"
    return requests["intended_s"] >= measured_phase(run).start_s


def per_second_sidecars(run: StoredRun) -> tuple[np.ndarray, np.ndarray]:
    """(CPU cores per 1000 proxied RPS, largest RSS MB) of the sidecars, one value per second."""
    if not run.has_table("resources"):
        return np.array([]), np.array([])
    phase = measured_phase(run)
    resources = run.table("resources")
    metrics = run.table("metrics") if run.has_table("metrics") else None
    proxied = run_counters(run.record.dialect).get("proxied_requests")
    per_krps = (
        cpu_per_krps_by_second(resources, metrics, phase, proxied) if proxied else np.array([])
    )
    t = resources["t_s"]
    rows = resources[(resources["role"] == "sidecar") & (t >= phase.start_s) & (t < phase.end_s)]
    if rows.empty:
        return per_krps, np.array([])
    rows = rows.assign(second=np.floor(rows["t_s"]).astype("int64"))
    rss = rows.groupby("second")["rss_mb"].max().dropna().to_numpy(dtype="float64")
    return per_krps, rss


def _counter(run: StoredRun, key: str, sent: int) -> Counted:
    metrics = run.table("metrics") if run.has_table("metrics") else None
    counter = run_counters(run.record.dialect).get(key)
    if counter is None:  # the run's mesh cannot count it: no data, never 0
        return Counted(None, float(sent))
    count = counter_increase(metrics, counter, measured_phase(run))
    return Counted(count, float(sent))


def _pool(first: Counted, second: Counted) -> Counted:
    if first.count is None or second.count is None:
        return Counted(None, first.exposure + second.exposure)
    return Counted(first.count + second.count, first.exposure + second.exposure)


def trace_counts(run: StoredRun, requests: pd.DataFrame) -> tuple[int | None, int]:
    """(complete traces, judged requests) of the measured `requests`: the summary's share
    (measured, 2xx with a trace id) times those requests. run.json's `traces` counts
    would count warm-up's too."""
    share = run.record.summary.trace_completeness
    judged = (requests["status"] >= 200) & (requests["status"] < 300)
    if "trace_id" in requests.columns:
        judged &= requests["trace_id"].fillna("").astype(str) != ""
    count = int(judged.sum())
    return (None, 0) if share is None else (round(share * count), count)


def run_samples(run: StoredRun) -> SideSamples:
    """One run's samples."""
    requests = measured_requests(run)
    failed = failed_mask(requests)
    ok = requests[~failed]
    latency = timed(ok)
    by_route = {str(route): timed(group) for route, group in ok.groupby("route", sort=True)}
    cpu, rss = per_second_sidecars(run)
    sent = len(requests)
    complete, judged = trace_counts(run, requests)
    recovery: dict[str, list[float]] = {}
    for fault in run.record.faults:
        summary = run.record.phase_summary(Phase.during(fault.name))
        value = summary.value("recovery_s") if summary else None
        recovery[fault.name] = [] if value is None else [value]
    return SideSamples(
        latency=latency,
        latency_by_route=by_route,
        sent=sent,
        failed=int(failed.sum()),
        cpu_per_krps=cpu,
        rss_mb=rss,
        trace_complete=complete,
        trace_judged=judged,
        retries=_counter(run, "retries", sent),
        ejections=_counter(run, "ejections", sent),
        recovery=recovery,
    )


def pooled_samples(runs: Sequence[StoredRun]) -> SideSamples:
    """The samples of several runs of one side, pooled (rounds of validate-upgrade)."""
    parts = [run_samples(run) for run in runs]
    first = parts[0]
    for other in parts[1:]:
        first = _merge(first, other)
    return first


def _merge(a: SideSamples, b: SideSamples) -> SideSamples:
    routes = sorted(set(a.latency_by_route) | set(b.latency_by_route))
    empty = Timed.empty()
    complete = None
    if a.trace_complete is not None and b.trace_complete is not None:
        complete = a.trace_complete + b.trace_complete
    recovery = {name: a.recovery.get(name, []) + b.recovery.get(name, []) for name in a.recovery}
    return SideSamples(
        latency=a.latency.joined(b.latency.shifted(a.runs)),
        latency_by_route={
            r: a.latency_by_route.get(r, empty).joined(
                b.latency_by_route.get(r, empty).shifted(a.runs)
            )
            for r in routes
        },
        sent=a.sent + b.sent,
        failed=a.failed + b.failed,
        cpu_per_krps=np.concatenate([a.cpu_per_krps, b.cpu_per_krps]),
        rss_mb=np.concatenate([a.rss_mb, b.rss_mb]),
        trace_complete=complete,
        trace_judged=a.trace_judged + b.trace_judged if complete is not None else 0,
        retries=_pool(a.retries, b.retries),
        ejections=_pool(a.ejections, b.ejections),
        recovery=recovery,
        notes=a.notes + b.notes,
        runs=a.runs + b.runs,
    )
