"""Percentiles, one way everywhere: exact, over the raw values, linear interpolation.

meshproof computes latency percentiles exactly (numpy's default method, the same as
pandas' `quantile`) instead of from HDR histograms: runs are at most a few million
requests, which fit in memory, and exact values make windows, phases and comparisons
agree to the microsecond. A percentile of no values is None (no data), never 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PERCENTILES = {"p50_ms": 0.50, "p90_ms": 0.90, "p99_ms": 0.99, "p999_ms": 0.999}


def percentile(values: pd.Series | np.ndarray, q: float) -> float | None:
    """The q-quantile (0-1) of the non-missing values, or None when there are none."""
    array = np.asarray(values, dtype="float64")
    missing = np.isnan(array)
    if missing.any():  # copy only when there is something to leave out
        array = array[~missing]
    if array.size == 0:
        return None
    return float(np.quantile(array, q))


def share(mask: pd.Series) -> float | None:
    """The share of True values, or None for an empty Series."""
    if len(mask) == 0:
        return None
    return float(mask.mean())


def optional(value: object) -> float | None:
    """A float, or None for None / NaN / infinity (JSON has no NaN)."""
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None
