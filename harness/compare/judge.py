"""Classify each measured change and score the comparison, as Kayenta's judge does. Pure.

A metric is High (Low) when the change is statistically significant (p < alpha) AND
larger than its tolerance (`harness.compare.tolerance`: the config file's, the stored
calibration's run-to-run spread, or the default `max(tolerance x |baseline|, floor)`),
upwards (downwards); otherwise Pass, so a significant but negligible change passes. NoData when either side
has nothing to measure. It *fails* when its classification points in its harmful
direction (`increase`: High, `decrease`: Low, `either`: both). Score = 100 x passed /
judged; the verdict is Pass at or above `thresholds.pass`, Marginal at or above
`thresholds.marginal`, Fail below, and Fail whenever a critical metric failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.compare.config import CompareConfig, MetricRule
from harness.compare.model import Classification, CompareVerdict, MetricResult
from harness.compare.stats import Estimate
from harness.compare.tolerance import Tolerance, rule_text, rule_tolerance


@dataclass(frozen=True)
class Measurement:
    """One metric measured on both sides, before it is judged."""

    metric: str
    unit: str
    baseline: float | None
    candidate: float | None
    estimate: Estimate | None
    """None: no data (see `reason`)."""
    baseline_n: int = 0
    candidate_n: int = 0
    tested: bool = True
    """False: one value per side, no test; judged by the tolerance alone."""
    reason: str = ""
    sample_unit: str = ""
    """What the test counted as one sample: '1 s windows', 'requests', 'runs'."""
    request_shift: float | None = None
    """Latency: the Hodges-Lehmann shift over every request, shown beside the windows'."""


def allowed_change(rule: MetricRule, baseline: float) -> float:
    """The absolute change the rule alone lets pass."""
    return rule_tolerance(rule, baseline)


def classify(delta: float, p_value: float | None, tolerance: float, alpha: float) -> Classification:
    """High / Low / Pass for one change (p_value None: untested, size alone decides)."""
    significant = p_value is None or p_value < alpha
    if significant and delta > tolerance:
        return "High"
    if significant and delta < -tolerance:
        return "Low"
    return "Pass"


def harmful(classification: Classification, rule: MetricRule) -> bool:
    if classification == "High":
        return rule.direction in ("increase", "either")
    if classification == "Low":
        return rule.direction in ("decrease", "either")
    return False


def judge_metric(
    measurement: Measurement,
    rule: MetricRule,
    alpha: float,
    tolerance: Tolerance | None = None,
) -> MetricResult:
    """The judged result of one measurement under its rule (and `tolerance`, when chosen
    elsewhere; by default the rule's)."""
    m = measurement
    common = {
        "metric": m.metric,
        "unit": m.unit,
        "baseline": m.baseline,
        "candidate": m.candidate,
        "baseline_n": m.baseline_n,
        "candidate_n": m.candidate_n,
        "direction": rule.direction,
        "critical": rule.critical,
        "sample_unit": m.sample_unit,
        "request_shift": m.request_shift,
    }
    if m.estimate is None or m.baseline is None:
        return MetricResult(delta=None, classification="NoData", reason=m.reason, **common)
    e = m.estimate
    p_value = e.p_value if m.tested else None
    if tolerance is None:
        source = f"default ({rule_text(rule, m.unit)})"
        tolerance = Tolerance(allowed_change(rule, m.baseline), source)
    classification = classify(e.delta, p_value, tolerance.value, alpha)
    return MetricResult(
        delta=e.delta,
        low=e.low,
        high=e.high,
        p_value=p_value,
        method=e.method,
        tolerance=tolerance.value,
        tolerance_source=tolerance.source,
        classification=classification,
        failed=harmful(classification, rule),
        reason=m.reason,
        **common,
    )


def score_of(results: Sequence[MetricResult]) -> tuple[int, int, float]:
    """(judged, passed, score 0-100); no judged metric scores 0."""
    judged = [r for r in results if r.classification != "NoData"]
    passed = sum(1 for r in judged if not r.failed)
    score = 100.0 * passed / len(judged) if judged else 0.0
    return len(judged), passed, score


def verdict_of(
    score: float, critical_failed: bool, judged: int, config: CompareConfig
) -> CompareVerdict:
    """Pass / Marginal / Fail from the score; a failed critical metric, or nothing judged, fails."""
    if critical_failed or judged == 0:
        return "Fail"
    if score >= config.thresholds.pass_:
        return "Pass"
    if score >= config.thresholds.marginal:
        return "Marginal"
    return "Fail"
