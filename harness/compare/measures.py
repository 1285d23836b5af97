"""Every metric of a comparison measured on both sides' samples (`Measurement`s). Pure.

| metric | statistic |
| --- | --- |
| `latency_ms`, `latency_ms{route=R}` | Mann-Whitney U + Hodges-Lehmann shift |
| `p50_ms`, `p99_ms` | bootstrap band of the percentile difference |
| `error_rate`, `trace_completeness` | two-proportion z-test |
| `sidecar_cpu_per_krps`, `sidecar_rss_mb` | Mann-Whitney U + Hodges-Lehmann on per-second values |
| `retries_per_krequests`, `ejections_per_krequests` | Poisson rates test |
| `recovery_s{fault=F}` | Mann-Whitney with 3+ rounds a side, else the tolerance alone |
"""

from __future__ import annotations

import numpy as np

from harness.compare.judge import Measurement
from harness.compare.samples import Counted, SideSamples
from harness.compare.stats import (
    Estimate,
    clean,
    location_shift,
    poisson_rates,
    quantile_shift,
    two_proportions,
)

MIN_TESTED_VALUES = 3


def _no_data(
    metric: str, unit: str, reason: str, base: float | None = None, cand: float | None = None
) -> Measurement:
    return Measurement(metric, unit, base, cand, None, reason=reason)


def _too_few(base: np.ndarray, cand: np.ndarray, what: str) -> str:
    """Why the two samples cannot be tested (a side with fewer than 2 values), or ''."""
    for side, values in (("baseline", base), ("candidate", cand)):
        if len(values) < 2:
            return f"the {side} has fewer than 2 {what}"
    return ""


def _median(values: np.ndarray) -> float | None:
    return float(np.median(values)) if len(values) else None


def distribution(
    metric: str,
    unit: str,
    base: np.ndarray,
    cand: np.ndarray,
    alpha: float,
    rng: np.random.Generator,
) -> Measurement:
    """A location shift between two samples (typical value: the median)."""
    base, cand = clean(base), clean(cand)
    if reason := _too_few(base, cand, "values"):
        return _no_data(metric, unit, reason, _median(base), _median(cand))
    estimate = location_shift(base, cand, alpha, rng)
    return Measurement(metric, unit, _median(base), _median(cand), estimate, len(base), len(cand))


def percentile(
    metric: str,
    q: float,
    base: np.ndarray,
    cand: np.ndarray,
    alpha: float,
    rng: np.random.Generator,
) -> Measurement:
    base, cand = clean(base), clean(cand)
    if reason := _too_few(base, cand, "successful requests"):
        return _no_data(metric, "ms", reason)
    estimate = quantile_shift(base, cand, q, alpha, rng)
    values = float(np.quantile(base, q)), float(np.quantile(cand, q))
    return Measurement(metric, "ms", *values, estimate, len(base), len(cand))


def proportion(
    metric: str, base: tuple[int | None, int], cand: tuple[int | None, int], alpha: float
) -> Measurement:
    """(hits, n) on each side."""
    (x1, n1), (x2, n2) = base, cand
    if x1 is None or x2 is None or n1 == 0 or n2 == 0:
        return _no_data(metric, "ratio", "not measured on one side")
    estimate = two_proportions(x1, n1, x2, n2, alpha)
    return Measurement(metric, "ratio", x1 / n1, x2 / n2, estimate, n1, n2)


def per_krequests(metric: str, base: Counted, cand: Counted, alpha: float) -> Measurement:
    """Events per 1000 requests."""
    if base.count is None or cand.count is None or not base.exposure or not cand.exposure:
        return _no_data(metric, "/1k req", "no mesh metrics on one side")
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
    )


def recovery(
    name: str, base: list[float], cand: list[float], alpha: float, rng: np.random.Generator
) -> Measurement:
    metric = f"recovery_s{{fault={name}}}"
    if not base or not cand:
        return _no_data(metric, "s", "no recovery measured on one side")
    b, c = np.asarray(base), np.asarray(cand)
    if min(len(b), len(c)) >= MIN_TESTED_VALUES:
        return distribution(metric, "s", b, c, alpha, rng)
    delta = float(np.median(c) - np.median(b))
    estimate = Estimate(delta, delta, delta, 1.0, "difference of medians, untested")
    return Measurement(
        metric, "s", float(np.median(b)), float(np.median(c)), estimate, len(b), len(c),
        tested=False, reason=f"fewer than {MIN_TESTED_VALUES} runs a side: judged by size alone",
    )  # fmt: skip


def measure_all(
    base: SideSamples, cand: SideSamples, alpha: float, rng: np.random.Generator
) -> list[Measurement]:
    """Every metric, in the order the report shows them."""
    out = [distribution("latency_ms", "ms", base.latency, cand.latency, alpha, rng)]
    for route in sorted(set(base.latency_by_route) | set(cand.latency_by_route)):
        b = base.latency_by_route.get(route, np.array([]))
        c = cand.latency_by_route.get(route, np.array([]))
        out.append(distribution(f"latency_ms{{route={route}}}", "ms", b, c, alpha, rng))
    out.append(percentile("p50_ms", 0.50, base.latency, cand.latency, alpha, rng))
    out.append(percentile("p99_ms", 0.99, base.latency, cand.latency, alpha, rng))
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
