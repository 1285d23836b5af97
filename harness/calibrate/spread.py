"""A metric's run-to-run spread and the tolerance it gives; the host's levels. Pure.

Two runs of the unchanged experiment give values X and Y of a metric. When the runs'
values scatter with standard deviation sigma, X - Y has standard deviation sigma * sqrt(2);
sigma is estimated by the sample standard deviation s of n calibration runs (n - 1 degrees
of freedom), so (X - Y) / (s sqrt 2) follows Student's t with n - 1 degrees of freedom and

    tolerance = t((1 + coverage) / 2, n - 1) * s * sqrt(2)

is the bound that `coverage` of such pairs stay within (a prediction bound, wide when n is
small: 9.9 s sqrt 2 with 3 runs, 4.6 s sqrt 2 with 5, 3.2 s sqrt 2 with 10, at 99 %).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from scipy import stats

from harness.calibrate.model import MetricSpread
from harness.store.model import HostDisturbance

COVERAGE = 0.99


def pair_bound(sd: float, runs: int, coverage: float = COVERAGE) -> float:
    """The difference two runs stay within with probability `coverage` (0 below 2 runs)."""
    if runs < 2 or not math.isfinite(sd):
        return 0.0
    t = float(stats.t.ppf((1 + coverage) / 2, runs - 1))
    return t * sd * math.sqrt(2)


def metric_spread(
    unit: str,
    values: Sequence[float | None],
    window_sds: Sequence[float | None] = (),
    window_unit: str = "",
    coverage: float = COVERAGE,
) -> MetricSpread | None:
    """The spread of the runs' values (None-s and NaN-s left out); None when no run has one."""
    kept = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not kept:
        return None
    sd = statistics.stdev(kept) if len(kept) > 1 else 0.0
    windows = [float(v) for v in window_sds if v is not None and math.isfinite(v)]
    return MetricSpread(
        unit=unit,
        values=kept,
        median=statistics.median(kept),
        sd=sd,
        tolerance=pair_bound(sd, len(kept), coverage),
        window_sd=statistics.median(windows) if windows else None,
        window_unit=window_unit if windows else "",
    )


def host_levels(
    hosts: Sequence[HostDisturbance | None],
) -> tuple[HostDisturbance | None, HostDisturbance | None]:
    """(field-wise median, field-wise largest) of the runs' disturbance; None-s left out."""
    present = [h for h in hosts if h is not None]
    if not present:
        return None, None
    typical: dict[str, float | None] = {}
    worst: dict[str, float | None] = {}
    for name in HostDisturbance.model_fields:
        values = [v for h in present if (v := getattr(h, name)) is not None]
        typical[name] = statistics.median(values) if values else None
        worst[name] = max(values) if values else None
    return HostDisturbance(**typical), HostDisturbance(**worst)
