"""Every metric of a comparison measured on both sides' samples (`Measurement`s). Pure.

| metric | unit of the test | statistic |
| --- | --- | --- |
| `latency_ms`, `latency_ms{route=R}` | time windows | Mann-Whitney U + Hodges-Lehmann shift of the windows' medians, corrected for their lag-1 autocorrelation (Welch's t on effective windows where ranks cannot reject at that autocorrelation; the sides' values are then the windows' means) |
| `p50_ms`, `p99_ms` | time windows | block bootstrap (whole windows drawn) of the percentile difference |
| `error_rate`, `trace_completeness` | requests | two-proportion z-test |
| `sidecar_cpu_per_krps`, `sidecar_rss_mb` | 1 s samples | Mann-Whitney U + Hodges-Lehmann |
| `retries_per_krequests`, `ejections_per_krequests` | requests | Poisson rates test |
| `recovery_s{fault=F}` | runs | Mann-Whitney with 3+ rounds a side, else the tolerance alone |

Latency is judged on time windows (`harness.compare.windows`), never on every request as
an independent draw; the per-request Hodges-Lehmann shift is kept beside it
(`Measurement.request_shift`). Noise does not create errors, so error rates stay per
request.
"""

from __future__ import annotations

import numpy as np

from harness.compare.judge import Measurement
from harness.compare.samples import Counted, SideSamples, Timed
from harness.compare.stats import (
    Estimate,
    block_quantile_shift,
    clean,
    hodges_lehmann,
    location_shift,
    poisson_rates,
    tests_means,
    two_proportions,
    window_location_shift,
)
from harness.compare.windows import (
    MIN_REQUESTS,
    Windows,
    lag1_autocorrelation,
    unit_text,
    window_length,
    window_quantiles,
    windows_of,
)

MIN_TESTED_VALUES = 3


def _no_data(
    metric: str,
    unit: str,
    reason: str,
    base: float | None = None,
    cand: float | None = None,
    sample_unit: str = "",
) -> Measurement:
    return Measurement(metric, unit, base, cand, None, reason=reason, sample_unit=sample_unit)


def _too_few(base: np.ndarray, cand: np.ndarray, what: str) -> str:
    """Why the two samples cannot be tested (a side with fewer than 2 values), or ''."""
    for side, values in (("baseline", base), ("candidate", cand)):
        if len(values) < 2:
            return f"the {side} has fewer than 2 {what}"
    return ""


def _median(values: np.ndarray) -> float | None:
    return float(np.median(values)) if len(values) else None


def _mean(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def distribution(
    metric: str,
    unit: str,
    base: np.ndarray,
    cand: np.ndarray,
    alpha: float,
    rng: np.random.Generator,
    sample_unit: str = "1 s samples",
) -> Measurement:
    """A location shift between two samples (typical value: the median)."""
    base, cand = clean(base), clean(cand)
    if reason := _too_few(base, cand, sample_unit):
        return _no_data(metric, unit, reason, _median(base), _median(cand), sample_unit)
    estimate = location_shift(base, cand, alpha, rng)
    return Measurement(
        metric, unit, _median(base), _median(cand), estimate, len(base), len(cand),
        sample_unit=sample_unit,
    )  # fmt: skip


def _finite(sample: Timed) -> Timed:
    keep = np.isfinite(sample.values)
    return Timed(sample.values[keep], sample.run[keep], sample.second[keep])


def _too_few_windows(base: Windows, cand: Windows) -> str:
    """Why two sides' windows cannot be tested (a side with fewer than 2), or ''."""
    for side, windows in (("baseline", base), ("candidate", cand)):
        if windows.count < 2:
            return (
                f"the {side} has fewer than 2 windows of {windows.length} s "
                f"with {MIN_REQUESTS} or more successful requests"
            )
    return ""


def window_shift(
    metric: str, base: Timed, cand: Timed, alpha: float, rng: np.random.Generator
) -> Measurement:
    """The shift of the windows' medians. Each side's typical value is what the test
    compares: the median window median beside ranks, the mean of the window medians
    beside Welch's t (`stats.tests_means`), so the delta is their difference."""
    base, cand = _finite(base), _finite(cand)
    length = window_length(base, cand)
    unit = unit_text(length)
    base_windows, cand_windows = windows_of(base, length), windows_of(cand, length)
    left, right = window_quantiles(base_windows, 0.5), window_quantiles(cand_windows, 0.5)
    if reason := _too_few_windows(base_windows, cand_windows):
        return _no_data(metric, "ms", reason, _median(left), _median(right), unit)
    rho = lag1_autocorrelation(base_windows, cand_windows)
    estimate = window_location_shift(left, right, alpha, rng, rho)
    per_request = hodges_lehmann(base.values, cand.values, alpha, rng)[0]
    typical = _mean if tests_means(len(left), len(right), alpha, rho) else _median
    return Measurement(
        metric, "ms", typical(left), typical(right), estimate, len(left), len(right),
        sample_unit=unit, request_shift=per_request,
    )  # fmt: skip


def percentile_shift(
    metric: str,
    q: float,
    base: Timed,
    cand: Timed,
    alpha: float,
    rng: np.random.Generator,
) -> Measurement:
    """How a percentile of every request moved, its band from a block bootstrap over windows,
    corrected (as the window test is) for the windows' lag-1 autocorrelation: drawing whole
    windows keeps the correlation within a window, not the one between neighbours."""
    base, cand = _finite(base), _finite(cand)
    length = window_length(base, cand)
    unit = unit_text(length)
    left, right = windows_of(base, length), windows_of(cand, length)
    if reason := _too_few_windows(left, right):
        return _no_data(metric, "ms", reason, sample_unit=unit)
    estimate = block_quantile_shift(
        (left.values, left.block, left.count), (right.values, right.block, right.count),
        q, alpha, rng, rho=lag1_autocorrelation(left, right),
    )  # fmt: skip
    values = float(np.quantile(left.values, q)), float(np.quantile(right.values, q))
    return Measurement(metric, "ms", *values, estimate, left.count, right.count, sample_unit=unit)


def proportion(
    metric: str, base: tuple[int | None, int], cand: tuple[int | None, int], alpha: float
) -> Measurement:
    """(hits, n) on each side."""
    (x1, n1), (x2, n2) = base, cand
    if x1 is None or x2 is None or n1 == 0 or n2 == 0:
        return _no_data(metric, "ratio", "not measured on one side", sample_unit="requests")
    estimate = two_proportions(x1, n1, x2, n2, alpha)
    return Measurement(metric, "ratio", x1 / n1, x2 / n2, estimate, n1, n2, sample_unit="requests")


def per_krequests(metric: str, base: Counted, cand: Counted, alpha: float) -> Measurement:
    """Events per 1000 requests."""
    if base.count is None or cand.count is None or not base.exposure or not cand.exposure:
        return _no_data(metric, "/1k req", "no mesh metrics on one side", sample_unit="requests")
    k1, k2 = base.exposure / 1000, cand.exposure / 1000
    raw = poisson_rates(round(base.count), k1, round(cand.count), k2, alpha)
    return Measurement(
        metric,
        "/1k req",
        base.count / k1,
        cand.count / k2,
        raw,
        int(base.exposure),
        int(cand.exposure),
        sample_unit="requests",
    )


def recovery(
    name: str, base: list[float], cand: list[float], alpha: float, rng: np.random.Generator
) -> Measurement:
    metric = f"recovery_s{{fault={name}}}"
    if not base or not cand:
        return _no_data(metric, "s", "no recovery measured on one side", sample_unit="runs")
    b, c = np.asarray(base), np.asarray(cand)
    if min(len(b), len(c)) >= MIN_TESTED_VALUES:
        return distribution(metric, "s", b, c, alpha, rng, "runs")
    delta = float(np.median(c) - np.median(b))
    estimate = Estimate(delta, delta, delta, 1.0, "difference of medians, untested")
    return Measurement(
        metric, "s", float(np.median(b)), float(np.median(c)), estimate, len(b), len(c),
        tested=False, reason=f"fewer than {MIN_TESTED_VALUES} runs a side: judged by size alone",
        sample_unit="runs",
    )  # fmt: skip


def measure_all(
    base: SideSamples, cand: SideSamples, alpha: float, rng: np.random.Generator
) -> list[Measurement]:
    """Every metric, in the order the report shows them."""
    out = [window_shift("latency_ms", base.latency, cand.latency, alpha, rng)]
    for route in sorted(set(base.latency_by_route) | set(cand.latency_by_route)):
        b = base.latency_by_route.get(route, Timed.empty())
        c = cand.latency_by_route.get(route, Timed.empty())
        out.append(window_shift(f"latency_ms{{route={route}}}", b, c, alpha, rng))
    out.append(percentile_shift("p50_ms", 0.50, base.latency, cand.latency, alpha, rng))
    out.append(percentile_shift("p99_ms", 0.99, base.latency, cand.latency, alpha, rng))
    out.append(proportion("error_rate", (base.failed, base.sent), (cand.failed, cand.sent), alpha))
    out.append(
        proportion(
            "trace_completeness",
            (base.trace_complete, base.trace_judged),
            (cand.trace_complete, cand.trace_judged),
            alpha,
        )
    )
    out.append(
        distribution(
            "sidecar_cpu_per_krps", "cores", base.cpu_per_krps, cand.cpu_per_krps, alpha, rng
        )
    )
    out.append(distribution("sidecar_rss_mb", "MB", base.rss_mb, cand.rss_mb, alpha, rng))
    out.append(per_krequests("retries_per_krequests", base.retries, cand.retries, alpha))
    out.append(per_krequests("ejections_per_krequests", base.ejections, cand.ejections, alpha))
    for fault in sorted(set(base.recovery) | set(cand.recovery)):
        out.append(
            recovery(fault, base.recovery.get(fault, []), cand.recovery.get(fault, []), alpha, rng)
        )
    return out
