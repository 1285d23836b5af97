"""One experiment over many runs: the history table and where a metric changed.

`changed_runs` marks the runs where a metric changed with the nightly gate's own test,
E-divisive means (`harness.gate.edivisive`, seeded permutations, so a chart is the same
every time it is drawn): the first run of each new segment is marked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.gate.edivisive import e_divisive
from harness.store.model import SUMMARY_METRICS, RunRecord

HIGHER_IS_BETTER = frozenset({"rps", "trace_completeness"})
LOWER_IS_BETTER = frozenset(SUMMARY_METRICS) - HIGHER_IS_BETTER
"""Headline metrics where a rise is a regression; for the others (HIGHER_IS_BETTER) a fall is."""


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


def changed_runs(values: Sequence[float | None], alpha: float = 0.05) -> list[bool]:
    """For each run, whether a change point (E-divisive means) starts at it; missing values skipped."""
    present = [i for i, v in enumerate(values) if v is not None and not np.isnan(v)]
    marks = [False] * len(values)
    if len(present) < 4:
        return marks
    series = np.array([values[i] for i in present], dtype="float64")
    for point in e_divisive(series, alpha=alpha):
        marks[present[point.index]] = True
    return marks


def slo_thresholds(record: RunRecord) -> dict[str, tuple[str, float]]:
    """metric -> (op, threshold) of the run's whole-run SLOs (the line on a trend chart)."""
    return {v.metric: (v.op, v.threshold) for v in record.verdicts if v.phase == "whole"}
