"""Plain deltas of two runs' headline numbers (until `harness.compare` judges them).

Each metric's change is read in its own direction (`harness.report.trends.LOWER_IS_BETTER`):
a change within `tolerance` of the baseline is `same`, otherwise `better` or `worse`.
These are descriptive, not a statistical verdict.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.report.text import result_word
from harness.report.trends import LOWER_IS_BETTER
from harness.store.model import SUMMARY_METRICS, RunRecord

DELTA_COLUMNS = ["metric", "baseline", "candidate", "delta", "change", "direction"]


def direction(metric: str, base: float | None, cand: float | None, tolerance: float = 0.05) -> str:
    """'better' / 'worse' / 'same', or 'no data' when either side is missing."""
    if base is None or cand is None or math.isnan(base) or math.isnan(cand):
        return "no data"
    if abs(cand - base) <= tolerance * abs(base) or cand == base:
        return "same"
    rose = cand > base
    return "worse" if rose == (metric in LOWER_IS_BETTER) else "better"


def headline_deltas(baseline: RunRecord, candidate: RunRecord) -> pd.DataFrame:
    """One row per headline metric: both values, the difference, the relative change."""
    base, cand = baseline.summary.model_dump(), candidate.summary.model_dump()
    rows = []
    for metric in SUMMARY_METRICS:
        b, c = base.get(metric), cand.get(metric)
        delta = None if b is None or c is None else c - b
        change = None if delta is None or not b else delta / abs(b)
        rows.append(
            {
                "metric": metric,
                "baseline": b,
                "candidate": c,
                "delta": delta,
                "change": change,
                "direction": direction(metric, b, c),
            }
        )
    return pd.DataFrame(rows, columns=DELTA_COLUMNS)


def verdicts_side_by_side(baseline: RunRecord, candidate: RunRecord) -> pd.DataFrame:
    """Each SLO of either run with its result in both (blank where a run lacks it)."""

    def results(record: RunRecord) -> dict[str, str]:
        return {v.slo: result_word(v) for v in record.verdicts}

    left, right = results(baseline), results(candidate)
    names = list(dict.fromkeys([*left, *right]))
    return pd.DataFrame(
        {"SLO": names, "baseline": [left.get(n, "") for n in names],
         "candidate": [right.get(n, "") for n in names]}
    )  # fmt: skip
