"""reports/calibration/<experiment>.json: how much runs of one experiment differ on a host.

`meshproof calibrate` runs the experiment N times (or reads N earlier runs) and stores,
per metric, the per-run values and their spread, and the host's disturbance during those
runs. `compare` and `gate` take a metric's `tolerance` from here when the file exists: the
change two runs of the unchanged experiment stay within (see `harness.calibrate.spread`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from harness.store.model import HostDisturbance

CALIBRATION_SCHEMA = 1
MIN_RUNS = 3
"""Fewer runs than this measured a metric: its spread is not used as a tolerance."""


class MetricSpread(BaseModel):
    """One metric over the calibration's runs."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    unit: str
    values: list[float]
    """The metric's value in each run that measured it (as `compare` reports a side)."""
    median: float
    sd: float
    """Sample standard deviation of `values` (run to run)."""
    tolerance: float
    """The bound two runs' values stay within (coverage of the file), in `unit`."""
    window_sd: float | None = None
    """Latency metrics: the spread of the per-window statistic within a run (median over
    the runs of each run's standard deviation of its windows' medians or p99s)."""
    window_unit: str = ""
    """e.g. '1 s windows'."""

    @property
    def runs(self) -> int:
        return len(self.values)


class CalibrationRun(BaseModel):
    """One run the calibration measured."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    started_at: str
    status: str
    host: HostDisturbance | None = None


class Calibration(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: int = CALIBRATION_SCHEMA
    experiment: str
    created_at: str
    """ISO 8601 UTC."""
    hostname: str = ""
    source: Literal["runs", "history"]
    """`runs`: made by running the experiment; `history`: from earlier runs in a folder."""
    coverage: float
    """Share of pairs of runs of the unchanged experiment whose difference the tolerance
    covers (0.99)."""
    runs: list[CalibrationRun]
    metrics: dict[str, MetricSpread]
    host_typical: HostDisturbance | None = None
    """Field by field, the median of the runs' disturbance (None: no run was probed)."""
    host_worst: HostDisturbance | None = None
    """Field by field, the largest of the runs' disturbance."""

    def spread(self, metric: str) -> MetricSpread | None:
        """The metric's spread when it can serve as a tolerance, else None."""
        spread = self.metrics.get(metric)
        if spread is None or spread.runs < MIN_RUNS or spread.tolerance <= 0:
            return None
        return spread

    def describe(self) -> str:
        """'calibration of 5 runs on 2026-12-03'."""
        return f"calibration of {len(self.runs)} runs on {self.created_at[:10]}"
