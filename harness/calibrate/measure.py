"""Calibration runs -> `Calibration`: each metric's value per run, as `compare` measures it.

Each run is measured the way `harness.compare` measures one side of a comparison (the
same samples, the same statistics), so a calibrated tolerance and a comparison's change
are the same kind of number. The gate's headline metrics that a comparison has no
counterpart for (`corrected_p99_ms`) come from run.json's summary. Latency metrics also
keep the spread of their per-window statistic within a run.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from harness.calibrate.model import Calibration, CalibrationRun, MetricSpread
from harness.calibrate.spread import COVERAGE, host_levels, metric_spread
from harness.compare.measures import measure_all
from harness.compare.samples import SideSamples, Timed, run_samples
from harness.compare.windows import unit_text, window_length, window_quantiles, windows_of
from harness.store.reader import StoredRun
from harness.store.writer import iso_utc
from mesh_runtime.errors import InvalidInput

GATE_ONLY = {"corrected_p99_ms": "ms"}
"""Headline metrics the gate judges that a comparison does not measure: from run.json."""
WINDOW_QUANTILE = {"latency_ms": 0.5, "p50_ms": 0.5, "p99_ms": 0.99}


@dataclass(frozen=True)
class RunValue:
    """One metric in one run."""

    unit: str
    value: float | None
    window_sd: float | None = None
    window_unit: str = ""


def window_spread(sample: Timed, q: float) -> tuple[float | None, str]:
    """(standard deviation of one run's per-window q-quantiles or None, the windows' unit)."""
    length = window_length(sample)
    windows = windows_of(sample, length)
    if windows.count < 2:
        return None, ""
    return float(np.std(window_quantiles(windows, q), ddof=1)), unit_text(length)


def _sample_of(samples: SideSamples, metric: str) -> Timed:
    if metric.startswith("latency_ms{route="):
        return samples.latency_by_route.get(metric[len("latency_ms{route=") : -1], Timed.empty())
    return samples.latency


def run_values(run: StoredRun, seed: int = 1) -> dict[str, RunValue]:
    """Every metric of one run, as a comparison would report it for that side."""
    samples = run_samples(run)
    rng = np.random.default_rng(seed)
    out: dict[str, RunValue] = {}
    for measured in measure_all(samples, samples, 0.05, rng):
        q = WINDOW_QUANTILE.get(measured.metric.partition("{")[0])
        sd, unit = window_spread(_sample_of(samples, measured.metric), q) if q else (None, "")
        out[measured.metric] = RunValue(measured.unit, measured.baseline, sd, unit)
    summary = run.record.summary
    for metric, unit in GATE_ONLY.items():
        out[metric] = RunValue(unit, getattr(summary, metric))
    return out


def calibration_of(
    runs: Sequence[StoredRun], source: str, now: datetime | None = None
) -> Calibration:
    """The calibration of these runs (one experiment; InvalidInput otherwise)."""
    return calibration_from(runs, [run_values(run) for run in runs], source, now)


def calibration_from(
    runs: Sequence[StoredRun],
    per_run: Sequence[dict[str, RunValue]],
    source: str,
    now: datetime | None = None,
) -> Calibration:
    """The calibration of these runs from their `run_values` (measured once, reused)."""
    names = {run.record.experiment.name for run in runs}
    if len(names) != 1:
        listed = ", ".join(sorted(names))
        raise InvalidInput("calibrate", "", f"runs of different experiments ({listed})")
    metrics: dict[str, MetricSpread] = {}
    for metric in dict.fromkeys(m for values in per_run for m in values):
        rows = [values[metric] for values in per_run if metric in values]
        window_unit = next((r.window_unit for r in rows if r.window_unit), "")
        spread = metric_spread(
            rows[0].unit, [r.value for r in rows], [r.window_sd for r in rows], window_unit
        )
        if spread is not None:
            metrics[metric] = spread
    typical, worst = host_levels([run.record.host for run in runs])
    return Calibration(
        experiment=names.pop(),
        created_at=iso_utc(now or datetime.now(UTC)),
        hostname=socket.gethostname(),
        source="runs" if source == "runs" else "history",
        coverage=COVERAGE,
        runs=[
            CalibrationRun(
                id=run.record.id or run.path.name,
                started_at=run.record.started_at,
                status=run.record.status,
                host=run.record.host,
            )
            for run in runs
        ],
        metrics=metrics,
        host_typical=typical,
        host_worst=worst,
    )
