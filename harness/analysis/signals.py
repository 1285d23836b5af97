"""Sidecar overhead (resources frame) and mesh signals (metrics frame) over a phase.

Resources (`resources.parquet`: `t_s, role, name, pid, cpu_s, cpu_cores, rss_mb`): the
rows with role `sidecar`. CPU is each sidecar's mean `cpu_cores` over the phase, summed
over sidecars; memory is the largest `rss_mb` of any sidecar.

Metrics (`metrics.parquet`, long form `t_s, metric, labels, value`): the summary reads
these keys in the `metric` column, one series per distinct `labels`:

- `meshproof_retries_total`, `meshproof_outlier_ejections_total`,
  `meshproof_overflow_total`: raw counter samples (a range query of the bare counter).
  The increase over a phase is computed as PromQL's `increase()` does: resets handled,
  the last sample before the phase as the base, and a series first seen during the run
  counted from 0 (a labelled counter appears on its first increment).
- `rate(<counter>[<window>])` (e.g. `rate(meshproof_retries_total[5s])`): per-second
  rates, used only when the raw counter is absent; the count is the rate integrated
  over the phase (sum of value x sample step), which lags by up to the rate window.

A counter with no series while other metrics were scraped in the phase counted 0;
with no metrics at all in the phase it is None (no data).
"""

from __future__ import annotations

import itertools

import pandas as pd

from harness.store.model import PhaseRecord

COUNTERS = {
    "retries": "meshproof_retries_total",
    "ejections": "meshproof_outlier_ejections_total",
    "overflows": "meshproof_overflow_total",
}


def sidecar_cpu_cores(resources: pd.DataFrame | None, phase: PhaseRecord) -> float | None:
    """Sum over sidecars of each one's mean CPU cores in the phase; None without samples."""
    rows = _sidecar_rows(resources, phase)
    if rows is None:
        return None
    return float(rows.groupby("name")["cpu_cores"].mean().sum())


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
    if metrics is None or metrics.empty:
        return None
    t = metrics["t_s"]
    if not ((t >= phase.start_s) & (t < phase.end_s)).any():
        return None
    raw = metrics[metrics["metric"] == counter]
    if not raw.empty:
        run_start = float(t.min())
        return float(sum(_series_increase(s, phase, run_start) for _, s in raw.groupby("labels")))
    rates = metrics[metrics["metric"].astype(str).str.startswith(f"rate({counter}[")]
    if not rates.empty:
        return float(sum(_rate_integral(s, phase) for _, s in rates.groupby("labels")))
    return 0.0


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
