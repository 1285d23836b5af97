"""Recovery time: how long after a fault ends the run's SLOs hold again.

`recovery_s` of a fault is `s - end_s`, where `s` is the first whole second at or after
the fault's end from which the run's window-level SLOs hold for `HOLD_S` consecutive
one-second windows. The window-level SLOs are the experiment's SLOs on `error_rate`,
`max_error_rate_1s` (judged per window as `error_rate`), `p50_ms`, `p90_ms`, `p99_ms`,
`p999_ms` and `corrected_p99_ms` outside `during:` phases (those are tolerances while a
fault is on); without any, `DEFAULT_CRITERIA` (error rate under 1 %). A window with no
requests does not count as holding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.spec.slo import OPERATORS, SLO

HOLD_S = 5
WINDOW_METRICS = {
    "error_rate": "error_rate",
    "max_error_rate_1s": "error_rate",
    "p50_ms": "p50_ms",
    "p90_ms": "p90_ms",
    "p99_ms": "p99_ms",
    "p999_ms": "p999_ms",
    "corrected_p99_ms": "corrected_p99_ms",
}
DEFAULT_CRITERIA = (SLO(metric="error_rate", op="<", threshold=0.01),)


def recovery_criteria(slos: Sequence[SLO]) -> tuple[SLO, ...]:
    """The SLOs a window must meet to count as recovered."""
    chosen = tuple(
        s for s in slos if s.metric in WINDOW_METRICS and not s.phase.startswith("during:")
    )
    return chosen or DEFAULT_CRITERIA


def healthy_windows(windows: pd.DataFrame, criteria: Sequence[SLO]) -> pd.Series:
    """Per window (indexed by second): do all criteria hold?"""
    ok = pd.Series(True, index=windows["second"].to_numpy())
    for slo in criteria:
        values = windows[WINDOW_METRICS[slo.metric]].to_numpy(dtype="float64")
        with np.errstate(invalid="ignore"):
            holds = ~np.isnan(values) & OPERATORS[slo.op](values, slo.threshold)
        ok &= holds
    return ok & (windows["requests"].to_numpy() > 0)


def recovery_seconds(
    windows: pd.DataFrame, fault_end_s: float, criteria: Sequence[SLO], hold_s: int = HOLD_S
) -> float | None:
    """Seconds from `fault_end_s` until the criteria hold for `hold_s` seconds; None if never."""
    if windows.empty:
        return None
    healthy = healthy_windows(windows, criteria)
    first = math.ceil(fault_end_s)
    after = healthy[healthy.index >= first]
    # Seconds missing from the windows count as unhealthy.
    full = after.reindex(range(first, int(healthy.index.max()) + 1), fill_value=False)
    run = 0
    for second, good in full.items():
        run = run + 1 if good else 0
        if run == hold_s:
            return float(int(second) - hold_s + 1 - fault_end_s)
    return None
