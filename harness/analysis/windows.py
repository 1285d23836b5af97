"""Per-second windows of the requests, by intended send second.

Columns: `second` (int, seconds since t0), `requests` (sent with that intended second),
`rps` (answered: any status but 0), `error_rate` (status >= 500 or no answer, over
`requests`), `p50_ms, p90_ms, p99_ms, p999_ms` (service time, every request with a
measured latency), `corrected_p99_ms` (from the intended send), `phase` (the primary
phase of the second's start). Percentiles are exact (see `harness.analysis.stats`).
A second in the run's range in which nothing was sent has `requests` 0, `rps` 0 and
missing (NaN) rates and latencies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.analysis.order import second_blocks, send_times
from harness.analysis.phases import label_phases
from harness.analysis.stats import PERCENTILES
from harness.spec.load import LATE_BOUND_MS
from harness.store.model import PhaseRecord

WINDOW_COLUMNS = (
    "second",
    "requests",
    "rps",
    "error_rate",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "corrected_p99_ms",
    "late",
    "max_send_lag_ms",
    "phase",
)


def failed_mask(requests: pd.DataFrame) -> pd.Series:
    """Requests that failed: answered 5xx, or not answered at all (status 0)."""
    status = requests["status"]
    return (status >= 500) | (status == 0)


def send_lag_ms(requests: pd.DataFrame) -> pd.Series:
    """How late each request left: actual send minus intended send, ms (never below 0)."""
    lag = (requests["sent_s"] - requests["intended_s"]) * 1000.0
    return lag.clip(lower=0.0)


def compute_windows(requests: pd.DataFrame, phases: Sequence[PhaseRecord]) -> pd.DataFrame:
    """One row per second from the first to the last intended send second."""
    if requests.empty:
        return _empty()
    blocks = second_blocks(send_times(requests))
    parts = [_per_second(requests.iloc[rows]) for rows in blocks]
    out = parts[0] if len(parts) == 1 else pd.concat(parts)
    full = pd.RangeIndex(int(out.index.min()), int(out.index.max()) + 1, name="second")
    out = out.reindex(full)
    out["requests"] = out["requests"].fillna(0).astype("int64")
    out["rps"] = out["rps"].fillna(0.0)
    out["late"] = out["late"].fillna(0).astype("int64")
    out = out.reset_index()
    out["phase"] = label_phases(out["second"].astype("float64"), phases)
    return out[list(WINDOW_COLUMNS)]


def _per_second(requests: pd.DataFrame) -> pd.DataFrame:
    """The windows of the seconds these requests were meant to be sent in (indexed by
    second; seconds without requests absent). Requests in send order are taken a block
    of whole seconds at a time (`second_blocks`), so no second is split."""
    second = np.floor(requests["intended_s"].to_numpy(dtype="float64")).astype("int64")
    frame = pd.DataFrame(
        {
            "second": second,
            "answered": (requests["status"] != 0).to_numpy(),
            "failed": failed_mask(requests).to_numpy(),
            "latency_ms": requests["latency_ms"].to_numpy(dtype="float64"),
            "corrected_ms": requests["corrected_ms"].to_numpy(dtype="float64"),
            "lag_ms": send_lag_ms(requests).to_numpy(dtype="float64"),
        }
    )
    frame["is_late"] = frame["lag_ms"] > LATE_BOUND_MS
    grouped = frame.groupby("second", sort=True)
    out = pd.DataFrame(
        {
            "requests": grouped.size(),
            "rps": grouped["answered"].sum().astype("float64"),
            "error_rate": grouped["failed"].mean(),
        }
    )
    quantiles = grouped["latency_ms"].quantile(list(PERCENTILES.values())).unstack()
    for name, q in PERCENTILES.items():
        out[name] = quantiles[q]
    out["corrected_p99_ms"] = grouped["corrected_ms"].quantile(0.99)
    out["late"] = grouped["is_late"].sum().astype("int64")
    out["max_send_lag_ms"] = grouped["lag_ms"].max()
    return out


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in WINDOW_COLUMNS})
    frame["second"] = frame["second"].astype("int64")
    frame["requests"] = frame["requests"].astype("int64")
    frame["late"] = frame["late"].astype("int64")
    frame["phase"] = frame["phase"].astype("string")
    return frame
