"""A comparison's latency and CPU metrics weighed against each side's host disturbance. Pure.

Each run records what its host did (`RunRecord.host`, the disturbance probe) and how many
wake-ups one request meets (`RunRecord.wakeups`); `harness.judge.disturbance.run_noise`
turns them into how much the host may have added to a latency quantile, or (through the
hypervisor's steal) to CPU per request (a side's noise: the largest of its runs').

A comparison judges both sides on time windows (`harness.compare.windows`): disturbance
that both sides met alike widens both sides' window spread and moves neither side's
centre more than the other's, so the window test has already absorbed it. What it cannot
absorb is a difference between the sides: a candidate whose host was busier than the
baseline's has latency the host added and the baseline did not get. So only the excess is
charged: the undisturbed change `candidate - baseline` lies in
`[delta - max(0, noise_c - noise_b), delta + max(0, noise_b - noise_c)]`. A metric
whose harm (High in its harmful direction) differs over that range is *inconclusive*: it
neither fails nor passes for certain, and names both sides' disturbance. The comparison's
verdict is worked out twice, with the inconclusive metrics counted as passed and as
failed; when the two differ the verdict is `Inconclusive` (exit code 3). Error rates,
traces, retries, ejections, memory and recovery are never weighed.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.compare.config import CompareConfig, MetricRule
from harness.compare.judge import classify, harmful, score_of, verdict_of
from harness.compare.model import CompareVerdict, MetricResult
from harness.judge.disturbance import describe_host, noise_text, run_noise
from harness.store.model import RunRecord

MEDIAN_METRICS = ("latency_ms",)
"""Latency metrics that compare typical (median) values: weighed as p50."""


def as_quantile_metric(metric: str) -> str:
    """The name `noise_ms` knows: `latency_ms{route=x}` -> `p50_ms`; `p99_ms` stays."""
    base = metric.partition("{")[0]
    return "p50_ms" if base in MEDIAN_METRICS else base


def side_noise(metric: str, runs: Sequence[RunRecord]) -> tuple[float, str] | None:
    """The most the host may have added to `metric` on any run of a side, and what that
    host did; None when it is neither a latency nor a CPU metric, or no run measured its
    host."""
    worst: tuple[float, str] | None = None
    for record in runs:
        noise = run_noise(as_quantile_metric(metric), record)
        if noise is None or record.host is None:
            continue
        if worst is None or noise > worst[0]:
            worst = (noise, describe_host(record.host))
    return worst


def weigh_metric(
    result: MetricResult,
    rule: MetricRule,
    alpha: float,
    baseline: tuple[float, str] | None,
    candidate: tuple[float, str] | None,
) -> MetricResult:
    """The result marked inconclusive when the sides' noise could flip whether it failed."""
    if result.delta is None or (baseline is None and candidate is None):
        return result
    excess = (candidate[0] if candidate else 0.0) - (baseline[0] if baseline else 0.0)
    down, up = max(0.0, excess), max(0.0, -excess)
    ends = {
        harmful(classify(delta, result.p_value, result.tolerance, alpha), rule)
        for delta in (result.delta - down, result.delta, result.delta + up)
    }
    parts = [f"{name} host {text}: up to {noise_text(as_quantile_metric(result.metric), noise)}"
             for name, (noise, text) in (("baseline", baseline or (0.0, "")),
                                         ("candidate", candidate or (0.0, "")))
             if text]  # fmt: skip
    update: dict[str, object] = {"disturbance": "; ".join(parts)}
    if len(ends) == 2:
        update.update(inconclusive=True, failed=False)
    return result.model_copy(update=update)


def verdict_with_noise(results: Sequence[MetricResult], config: CompareConfig) -> CompareVerdict:
    """The verdict with inconclusive metrics counted as passed and as failed:
    `Inconclusive` when the two differ."""
    judged, _, score = score_of(results)
    critical = any(r.failed and r.critical for r in results)
    hopeful = verdict_of(score, critical, judged, config)
    worst = [r.model_copy(update={"failed": True}) if r.inconclusive else r for r in results]
    judged, _, score = score_of(worst)
    critical = any(r.failed and r.critical for r in worst)
    fearful = verdict_of(score, critical, judged, config)
    return hopeful if hopeful == fearful else "Inconclusive"
