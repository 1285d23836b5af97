"""Sidecar overhead (resources frame) and mesh signals (metrics frame) over a phase.

Resources (`resources.parquet`: `t_s, role, name, pid, cpu_s, cpu_cores, rss_mb`): the
rows with role `sidecar`. CPU is each sidecar's mean `cpu_cores` over the phase, summed
over sidecars; memory is the largest `rss_mb` of any sidecar.

CPU per 1000 RPS is Istio's measure ("vCPU per 1000 requests per second going through
the proxy"): the summed sidecar cores over the requests per second *through the
sidecars*, / 1000. That rate is the increase of `istio_requests_total` over all its
series in the phase, / the phase's length: each sidecar counts every request it proxies
once (`reporter="destination"` inbound, `reporter="source"` outbound), so one user
request crossing nine sidecars counts nine times. Never the harness's own RPS.

Metrics (`metrics.parquet`, long form `t_s, metric, labels, value`): the summary reads
these keys in the `metric` column, one series per distinct `labels`:

- `meshproof_retries_total`, `meshproof_outlier_ejections_total`,
  `meshproof_overflow_total`: raw counter samples (a range query of the bare counter).
  The increase over a phase is computed as PromQL's `increase()` does: resets handled,
  the last sample before the phase as the base, and a series first seen during the run
  counted from 0 (a labelled counter appears on its first increment). The run's metrics
  are queried from its t0 (`t_s` 0): a series there from the start has a sample at 0; one
  first seen later started during the run, even when no series at all was there at 0
  (a mesh read in Linkerd's or Envoy's names has no series before its first request).
- `rate(<counter>[<window>])` (e.g. `rate(meshproof_retries_total[5s])`): per-second
  rates, used only when the raw counter is absent; the count is the rate integrated
  over the phase (sum of value x sample step), which lags by up to the rate window.

A counter with no series while other metrics were scraped in the phase counted 0;
with no metrics at all in the phase it is None (no data).
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd

from harness.store.model import DialectRecord, PhaseRecord

PROXIED_REQUESTS = "istio_requests_total"
"""The counter every sidecar increments once per request it proxies."""

COUNTERS = {
    "retries": "meshproof_retries_total",
    "ejections": "meshproof_outlier_ejections_total",
    "overflows": "meshproof_overflow_total",
}


def run_counters(dialect: DialectRecord | None) -> dict[str, str]:
    """A stored run's metric key of each counter signal (retries, ejections, overflows,
    proxied_requests) its dialect has data for (run.json `dialect`); the reference mesh's
    own for runs that predate dialects."""
    if dialect is None:
        return {**COUNTERS, "proxied_requests": PROXIED_REQUESTS}
    wanted = (*COUNTERS, "proxied_requests")
    return {s: dialect.queries[s] for s in wanted if s in dialect.queries}


def sidecar_cpu_cores(resources: pd.DataFrame | None, phase: PhaseRecord) -> float | None:
    """Sum over sidecars of each one's mean CPU cores in the phase; None without samples."""
    rows = _sidecar_rows(resources, phase)
    if rows is None:
        return None
    return float(rows.groupby("name")["cpu_cores"].mean().sum())


def sidecar_request_rate(
    metrics: pd.DataFrame | None, phase: PhaseRecord, query: str = PROXIED_REQUESTS
) -> float | None:
    """Requests per second through the sidecars in the phase (the rows of `query`, the
    dialect's `proxied_requests`); None without metrics in it. Measured between the
    scrapes that bound the phase (`counter_window`): the increase over the phase's length
    was off by up to a scrape at either end (-2.8 % and +1.1 % on two runs); a counter
    scraped too few times (or stored only as a rate) falls back to that."""
    measured = counter_window(metrics, query, phase)
    if measured is not None and measured[1] > 0:
        window, seconds = measured
        proxied = counter_increase(metrics, query, window)
        return proxied / seconds if proxied is not None else None
    proxied = counter_increase(metrics, query, phase)
    duration = phase.end_s - phase.start_s
    return proxied / duration if proxied is not None and duration > 0 else None


def cpu_per_krps(cores: float | None, sidecar_rps: float | None) -> float | None:
    """Sidecar CPU cores per 1000 requests per second through the sidecars (Istio's)."""
    if cores is None or not sidecar_rps:
        return None
    return cores / (sidecar_rps / 1000)


def cpu_per_krps_by_second(
    resources: pd.DataFrame | None,
    metrics: pd.DataFrame | None,
    phase: PhaseRecord,
    proxied: str = PROXIED_REQUESTS,
) -> np.ndarray:
    """`cpu_per_krps` of each second of the phase that has sidecar samples and proxied
    requests (`proxied`: the rows of the dialect's `proxied_requests`)."""
    out = []
    for second in range(math.floor(phase.start_s), math.ceil(phase.end_s)):
        start, end = max(float(second), phase.start_s), min(second + 1.0, phase.end_s)
        window = PhaseRecord(name=f"second {second}", start_s=start, end_s=end)
        cores = sidecar_cpu_cores(resources, window)
        value = cpu_per_krps(cores, sidecar_request_rate(metrics, window, proxied))
        if value is not None:
            out.append(value)
    return np.asarray(out, dtype="float64")


def sidecar_rss_mb(resources: pd.DataFrame | None, phase: PhaseRecord) -> float | None:
    """The largest resident memory of any sidecar in the phase, MB."""
    rows = _sidecar_rows(resources, phase)
    return None if rows is None else float(rows["rss_mb"].max())


def _sidecar_rows(resources: pd.DataFrame | None, phase: PhaseRecord) -> pd.DataFrame | None:
    if resources is None or resources.empty:
        return None
    t = resources["t_s"]
    rows = resources[(resources["role"] == "sidecar") & (t >= phase.start_s) & (t < phase.end_s)]
    rows = rows.dropna(subset=["cpu_cores", "rss_mb"], how="all")
    return None if rows.empty else rows


def counter_increase(
    metrics: pd.DataFrame | None, counter: str, phase: PhaseRecord
) -> float | None:
    """How much `counter` (summed over its series) grew during the phase; see above."""
    if not _scraped_in(metrics, phase):
        return None
    assert metrics is not None
    raw = metrics[metrics["metric"] == counter]
    if not raw.empty:
        run_start = _observed_from(metrics)
        return float(sum(_series_increase(s, phase, run_start) for _, s in raw.groupby("labels")))
    rates = metrics[metrics["metric"].astype(str).str.startswith(f"rate({counter}[")]
    if not rates.empty:
        return float(sum(_rate_integral(s, phase) for _, s in rates.groupby("labels")))
    return 0.0


def counter_increase_by(
    metrics: pd.DataFrame | None, counter: str, by: tuple[str, ...], phase: PhaseRecord
) -> dict[tuple[str, ...], float] | None:
    """`counter_increase` split by the labels `by` (e.g. a dialect's `mp_source`,
    `mp_destination`): each series' increase, summed per value of those labels. None
    without metrics in the phase; {} when the counter has no series."""
    if not _scraped_in(metrics, phase):
        return None
    assert metrics is not None
    raw = metrics[metrics["metric"] == counter]
    run_start = _observed_from(metrics)
    out: dict[tuple[str, ...], float] = {}
    for text, series in raw.groupby("labels"):
        labels = json.loads(str(text))
        key = tuple(str(labels.get(name, "")) for name in by)
        out[key] = out.get(key, 0.0) + _series_increase(series, phase, run_start)
    return out


def counter_window(
    metrics: pd.DataFrame | None, counter: str, phase: PhaseRecord
) -> tuple[PhaseRecord, float] | None:
    """The part of the phase to take a rate of `counter` over, and its seconds: from the
    last scrape before the phase (else the first one in it) to the last one in it. A
    sample's `t_s` is the query's step, its value that of its target's last scrape, up to a
    step earlier; measured scrape to scrape that lag cancels, measured from the phase's edges
    (or from 0 at t0) it does not. `counter_increase` over the window / its seconds is the
    rate. None without two scrapes of the counter to measure between."""
    if metrics is None or metrics.empty:
        return None
    t = np.unique(metrics.loc[metrics["metric"] == counter, "t_s"].to_numpy(dtype="float64"))
    inside = t[(t >= phase.start_s) & (t < phase.end_s)]
    before = t[t < phase.start_s]
    if inside.size == 0 or (before.size == 0 and inside.size < 2):
        return None
    base = float(before[-1]) if before.size else float(inside[0])
    # Just past the base scrape: counter_increase then takes the base as a series' start.
    start = phase.start_s if before.size else float(np.nextafter(base, math.inf))
    window = PhaseRecord(name=phase.name, start_s=start, end_s=phase.end_s)
    return window, float(inside[-1]) - base


def scrape_lag(metrics: pd.DataFrame | None, counter: str) -> float:
    """How far a sample's value may trail its time: the query's step, or the scrape
    interval where longer, read off `counter` (a busy one: proxied requests), whose value
    changes at every scrape under load: the median spacing of its changes. 0 without
    samples."""
    if metrics is None or metrics.empty:
        return 0.0
    rows = metrics[metrics["metric"] == counter]
    steps: list[float] = []
    changes: list[float] = []  # the busiest series changes at every scrape
    for _, series in rows.groupby("labels"):
        series = series.sort_values("t_s")
        t = series["t_s"].to_numpy(dtype="float64")
        v = series["value"].to_numpy(dtype="float64")
        if t.size >= 2:
            steps.append(float(np.median(np.diff(t))))
        changed = t[1:][np.diff(v) != 0]
        if changed.size >= 3:
            changes.append(float(np.median(np.diff(changed))))
    step = min(steps, default=0.0)
    return max(step, min(changes, default=step))


def counter_surely_in(
    metrics: pd.DataFrame | None, counter: str, phase: PhaseRecord, lag_s: float
) -> float | None:
    """The fewest of `counter`'s events that surely happened in the phase, each sample
    being its target's last scrape up to `lag_s` earlier: counted from the first sample
    surely scraped inside the phase (at or after its start + lag) to the last one before
    its end. `counter_increase` counts from the last sample before the phase, so it may
    hold events of the phase before (a fault's last retries in `after`). None without
    samples of the counter in the phase."""
    if not _scraped_in(metrics, phase):
        return None
    assert metrics is not None
    t = np.unique(metrics.loc[metrics["metric"] == counter, "t_s"].to_numpy(dtype="float64"))
    if t.size == 0:
        return None
    inside = t[(t >= phase.start_s + lag_s) & (t < phase.end_s)]
    if not inside.size:
        return 0.0
    start = float(np.nextafter(inside[0], math.inf))  # that sample is the base
    surely = PhaseRecord(name=phase.name, start_s=start, end_s=phase.end_s)
    return counter_increase(metrics, counter, surely)


def series_mean_sum(metrics: pd.DataFrame | None, query: str, phase: PhaseRecord) -> float | None:
    """Sum over the series of `query` of each one's mean value in the phase (cAdvisor's
    sidecar CPU rate per pod: the sidecars' summed cores); None without a sample in it."""
    rows = _rows_in(metrics, query, phase)
    return None if rows is None else float(rows.groupby("labels")["value"].mean().sum())


def series_max(metrics: pd.DataFrame | None, query: str, phase: PhaseRecord) -> float | None:
    """The largest value of any series of `query` in the phase; None without a sample."""
    rows = _rows_in(metrics, query, phase)
    return None if rows is None else float(rows["value"].max())


def _rows_in(metrics: pd.DataFrame | None, query: str, phase: PhaseRecord) -> pd.DataFrame | None:
    if metrics is None or metrics.empty:
        return None
    t = metrics["t_s"]
    rows = metrics[(metrics["metric"] == query) & (t >= phase.start_s) & (t < phase.end_s)]
    return None if rows.empty else rows


def _observed_from(metrics: pd.DataFrame) -> float:
    """When observation began: the run's t0 (0), or an earlier first sample."""
    return min(0.0, float(metrics["t_s"].min()))


def _scraped_in(metrics: pd.DataFrame | None, phase: PhaseRecord) -> bool:
    """Whether any metric was scraped during the phase."""
    if metrics is None or metrics.empty:
        return False
    t = metrics["t_s"]
    return bool(((t >= phase.start_s) & (t < phase.end_s)).any())


def _series_increase(series: pd.DataFrame, phase: PhaseRecord, run_start: float) -> float:
    series = series.sort_values("t_s")
    t = series["t_s"].to_numpy(dtype="float64")
    v = series["value"].to_numpy(dtype="float64")
    before = t < phase.start_s
    inside = (t >= phase.start_s) & (t < phase.end_s)
    if not inside.any():
        return 0.0
    values = list(v[inside])
    if before.any():
        values.insert(0, float(v[before][-1]))
    elif t[0] > run_start:
        values.insert(0, 0.0)  # the series appeared during the run: it started from 0
    total = 0.0
    for previous, current in itertools.pairwise(values):
        total += current - previous if current >= previous else current
    return total


def _rate_integral(series: pd.DataFrame, phase: PhaseRecord) -> float:
    series = series.sort_values("t_s")
    t = series["t_s"].to_numpy(dtype="float64")
    inside = (t >= phase.start_s) & (t < phase.end_s)
    if not inside.any():
        return 0.0
    steps = pd.Series(t).diff().dropna()
    step = float(steps.median()) if not steps.empty else 1.0
    return float(series["value"].to_numpy(dtype="float64")[inside].sum() * step)
