"""Percentiles, one way everywhere: exact, over the raw values, linear interpolation.

meshproof computes latency percentiles exactly (numpy's default method, the same as
pandas' `quantile`) instead of from HDR histograms: runs are at most a few million
requests, which fit in memory, and exact values make windows, phases and comparisons
agree to the microsecond. A percentile of no values is None (no data), never 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

PERCENTILES = {"p50_ms": 0.50, "p90_ms": 0.90, "p99_ms": 0.99, "p999_ms": 0.999}


def percentile(values: pd.Series | np.ndarray, q: float) -> float | None:
    """The q-quantile (0-1) of the non-missing values, or None when there are none."""
    array = _present(values)
    if array.size == 0:
        return None
    return float(np.quantile(array, q))


def _present(values: pd.Series | np.ndarray) -> np.ndarray:
    """The non-missing values as float64."""
    array = np.asarray(values, dtype="float64")
    missing = np.isnan(array)
    if missing.any():  # copy only when there is something to leave out
        array = array[~missing]
    return array


def percentile_intervals(
    values: pd.Series | np.ndarray, quantiles: Mapping[str, float], confidence: float = 0.95
) -> dict[str, tuple[float, float]]:
    """name -> the distribution-free `confidence` interval of each quantile (0-1) of the
    non-missing values: what their number can tell of the quantile of the population they
    were drawn from. Of n values, the count below the true q-quantile is Binomial(n, q), so
    the order statistics at the ranks that count falls between with `confidence` hold it
    (ranks from 1: the low one its (1 - confidence) / 2 quantile, the high one its
    (1 + confidence) / 2 quantile + 1). Of 400 requests, the p99 lies between the 392nd and
    the largest; an end beyond the values is the extreme one (the interval then holds less
    than `confidence`). Empty when there are no values."""
    array = _present(values)
    n = array.size
    if n == 0:
        return {}
    tail = (1 - confidence) / 2
    ranks = {
        name: (
            min(max(int(stats.binom.ppf(tail, n, q)), 1), n),
            min(int(stats.binom.ppf(1 - tail, n, q)) + 1, n),
        )
        for name, q in quantiles.items()
    }
    kth = sorted({rank - 1 for pair in ranks.values() for rank in pair})
    ordered = np.partition(array, kth)
    return {
        name: (float(ordered[low - 1]), float(ordered[high - 1]))
        for name, (low, high) in ranks.items()
    }


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
