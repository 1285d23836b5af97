"""Time windows: the units latency is judged on, instead of single requests. Pure.

The requests of one run are not independent draws: they share the machine's state second
by second (other work, the scheduler, a garbage collection, a cache), so a test that
counts each request as a sample treats thousands of correlated values as evidence and
calls a shift of half a millisecond significant at p = 1e-143 though another run would not
agree. A window's statistic (its median, its p99) averages what happened within it;
consecutive windows are close to independent. So latency is judged on windows:

- a window is `length` whole seconds of one run, by intended send second; `length` is the
  fewest seconds in which the typical second's requests add up to `TARGET_REQUESTS`
  (1 s at 10 RPS or more);
- a window holding fewer than `MIN_REQUESTS` values is left out (a run's ragged edges);
- windows of pooled runs never mix runs (rounds of validate-upgrade pool their windows);
- consecutive windows still correlate when the machine's state outlasts a window: the
  test's p-value and band are corrected for the windows' lag-1 autocorrelation
  (`lag1_autocorrelation`, pooled over both sides' runs and corrected for its
  small-sample bias; `harness.compare.stats.autocorrelation_factor`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.compare.samples import Timed

TARGET_REQUESTS = 10
"""Requests the typical window should hold."""
MIN_REQUESTS = 3
"""Fewer requests than this in a window: the window is left out."""
MAX_AUTOCORRELATION = 0.9
MIN_SERIES_WINDOWS = 5
"""A run's series of fewer windows adds nothing to the autocorrelation (its bias
correction, -(1 + 4 rho) / n, needs n > 4)."""


@dataclass(frozen=True)
class Windows:
    """Values grouped into windows: `block[i]` is value i's window, 0..count-1."""

    values: np.ndarray
    block: np.ndarray
    count: int
    length: int
    """Seconds per window."""
    run_of_window: np.ndarray
    """The run each window belongs to, in window order (windows are in time order per run)."""


def per_second_counts(sample: Timed) -> np.ndarray:
    """How many values each (run, second) holding any has."""
    keys = sample.run * (1 << 32) + sample.second
    return np.unique(keys, return_counts=True)[1]


def window_length(*samples: Timed) -> int:
    """Seconds per window so that the typical window holds TARGET_REQUESTS: from the median
    count of the seconds of every sample together (both sides share one length)."""
    counts = np.concatenate([per_second_counts(sample) for sample in samples])
    if not len(counts):
        return 1
    return max(1, math.ceil(TARGET_REQUESTS / float(np.median(counts))))


def windows_of(sample: Timed, length: int) -> Windows:
    """The sample's values in windows of `length` seconds (sparse windows left out)."""
    keys = sample.run * (1 << 32) + np.floor_divide(sample.second, length)
    unique, block, counts = np.unique(keys, return_inverse=True, return_counts=True)
    kept = counts >= MIN_REQUESTS
    renumber = np.cumsum(kept) - 1
    mask = kept[block]
    runs = np.right_shift(unique[kept], 32)
    return Windows(sample.values[mask], renumber[block[mask]], int(kept.sum()), length, runs)


def window_quantiles(windows: Windows, q: float) -> np.ndarray:
    """The q-quantile of each window (linear interpolation, numpy's arithmetic to the bit),
    in window order; one sort for all windows."""
    order = np.lexsort((windows.values, windows.block))
    values = windows.values[order]
    sizes = np.bincount(windows.block, minlength=windows.count)[: windows.count]
    starts = np.cumsum(sizes) - sizes
    position = (sizes - 1) * q
    below = np.floor(position)
    weight = position - below
    low = values[starts + below.astype(np.int64)]
    high = values[starts + np.minimum(below.astype(np.int64) + 1, sizes - 1)]
    step = high - low
    return np.where(weight >= 0.5, high - step * (1 - weight), low + step * weight)


def lag1_autocorrelation(*windows: Windows) -> float:
    """The lag-1 autocorrelation of the window medians, pooled over the runs of `windows`
    (each run's series about its own mean), corrected for its small-sample bias; 0 when
    there are too few windows, never above MAX_AUTOCORRELATION.

    The sample autocorrelation r of n values about their mean is biased low: for an AR(1)
    E[r] = rho - (1 + 4 rho) / n (Kendall 1954; Marriott & Pope 1954), -0.19 at rho 0.7
    and 20 windows, and an underestimated rho made identical runs "significant" in 10-17 %
    of pairs at alpha 5 %. Pooled over k series of N windows in all, each series' bias
    weighted by its length, E[r] = rho - k (1 + 4 rho) / N, so rho = (N r + k) / (N - 4 k).
    """
    products = squares = 0.0
    series_count = window_count = 0
    for side in windows:
        medians = window_quantiles(side, 0.5)
        runs = side.run_of_window
        for run in np.unique(runs):
            series = medians[runs == run]
            if len(series) < MIN_SERIES_WINDOWS:
                continue
            centred = series - series.mean()
            products += float((centred[1:] * centred[:-1]).sum())
            squares += float((centred * centred).sum())
            series_count, window_count = series_count + 1, window_count + len(series)
    if squares <= 0:
        return 0.0
    corrected = (window_count * products / squares + series_count) / (
        window_count - 4 * series_count
    )
    return min(max(corrected, 0.0), MAX_AUTOCORRELATION)


def unit_text(length: int) -> str:
    """'1 s windows', '3 s windows'."""
    return f"{length} s windows"
