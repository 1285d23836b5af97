"""One experiment over many runs: the history table and where a metric changed.

`changed_runs` is a deliberately simple, explainable marker (the nightly gate has the
rigorous change-point test): a run is marked when its value leaves the band around the
median of the runs just before it, the band being the larger of `k` robust standard
deviations (1.4826 x MAD) and `relative` x the median.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.store.model import SUMMARY_METRICS, RunRecord

LOWER_IS_BETTER = {
    "error_rate",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "corrected_p99_ms",
    "sidecar_cpu_per_krps",
    "sidecar_rss_mb",
    "retries_per_krequests",
    "ejections",
    "overflows",
}
"""Metrics where a rise is a regression; for the others (rps, trace completeness) a fall is."""


def history(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run, oldest first: id, started_at, status and the headline metrics."""
    rows = []
    for record in records:
        row: dict[str, object] = {
            "id": record.id,
            "started_at": pd.Timestamp(record.started_at),
            "status": record.status,
            "requests": record.summary.requests,
        }
        summary = record.summary.model_dump()
        row.update({name: summary.get(name) for name in SUMMARY_METRICS})
        rows.append(row)
    columns = ["id", "started_at", "status", "requests", *SUMMARY_METRICS]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["started_at", "id"], kind="stable").reset_index(drop=True)


def changed_runs(
    values: Sequence[float | None], window: int = 5, k: float = 3.0, relative: float = 0.1
) -> list[bool]:
    """For each run, whether its value left the band of the (up to) `window` runs before it."""
    out: list[bool] = []
    clean = [np.nan if v is None else float(v) for v in values]
    for index, value in enumerate(clean):
        before = np.array([v for v in clean[max(0, index - window) : index] if not np.isnan(v)])
        if np.isnan(value) or before.size < 3:
            out.append(False)
            continue
        median = float(np.median(before))
        spread = 1.4826 * float(np.median(np.abs(before - median)))
        band = max(k * spread, relative * abs(median), 1e-12)
        out.append(abs(value - median) > band)
    return out


def slo_thresholds(record: RunRecord) -> dict[str, tuple[str, float]]:
    """metric -> (op, threshold) of the run's whole-run SLOs (the line on a trend chart)."""
    return {v.metric: (v.op, v.threshold) for v in record.verdicts if v.phase == "whole"}
