"""Requests in intended-send order: what that order lets the analysis skip.

`read_requests` hands out the requests sorted by `intended_s` (stable, missing times
last). In that order a phase's requests are one contiguous slice (no mask, no copy) and
the per-second windows can be computed a block of whole seconds at a time, so a run of
ten million requests is never copied whole. Every function here checks the order and
falls back to the general path when a frame is not sorted: the results are the same
either way, only the memory differs.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

CHUNK_ROWS = 1_000_000
"""About how many requests the windows take at a time (cut at a whole second)."""


def in_send_order(times: np.ndarray) -> bool:
    """Whether a stable sort by `times` (missing last) would leave the rows as they are:
    every missing time after the known ones, the known ones non-decreasing."""
    missing = np.isnan(times)
    known = times.size - int(missing.sum())
    if missing[:known].any():
        return False
    return bool(np.all(times[1:known] >= times[: known - 1])) if known > 1 else True


def interval_rows(times: np.ndarray, start_s: float, end_s: float) -> slice | None:
    """The rows whose time is in `[start_s, end_s)`, as a slice, when `times` is in send
    order; None when it is not (select by mask then)."""
    if not in_send_order(times):
        return None
    low, high = np.searchsorted(times, [start_s, end_s], side="left")
    return slice(int(low), int(max(low, high)))


def second_blocks(times: np.ndarray, rows: int = CHUNK_ROWS) -> list[slice]:
    """Consecutive row blocks of about `rows` requests each, never splitting a second
    (nor the missing times at the end); one block when `times` is not in send order."""
    if times.size <= rows or not in_send_order(times):
        return [slice(0, times.size)]
    cuts = [0]
    for row in range(rows, times.size, rows):
        if np.isnan(times[row]):
            break
        cut = int(np.searchsorted(times, np.floor(times[row]), side="left"))
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(times.size)
    return [slice(a, b) for a, b in pairwise(cuts)]


def send_times(requests: pd.DataFrame) -> np.ndarray:
    """The intended send times as a float64 array (a view where the column is one)."""
    return requests["intended_s"].to_numpy(dtype="float64")
