"""The result of a comparison (pydantic): what `compare_runs` returns and `--json` prints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from harness.compare.config import Direction

Classification = Literal["High", "Low", "Pass", "NoData"]
CompareVerdict = Literal["Pass", "Marginal", "Fail"]


class MetricResult(BaseModel):
    """One metric judged: both sides' values, the change, its band, and the classification."""

    model_config = ConfigDict(frozen=True)

    metric: str
    """e.g. `latency_ms`, `latency_ms{route=catalog}`, `error_rate`, `recovery_s{fault=x}`."""
    unit: str
    baseline: float | None
    """The side's typical value: the median for distributions, the rate for rates."""
    candidate: float | None
    delta: float | None
    """Candidate minus baseline (Hodges-Lehmann shift for distributions)."""
    low: float | None = None
    high: float | None = None
    """The confidence band of `delta` at 1 - alpha."""
    p_value: float | None = None
    """None: not tested (one value per side), judged by the tolerance alone."""
    method: str = ""
    baseline_n: int = 0
    candidate_n: int = 0
    direction: Direction = "increase"
    tolerance: float = 0.0
    """The absolute change below which the metric passes: max(relative x baseline, floor)."""
    critical: bool = False
    classification: Classification = "NoData"
    failed: bool = False
    """Classified High or Low in the harmful direction."""
    reason: str = ""


class ComparisonResult(BaseModel):
    """Baseline vs candidate: every metric, the score (Kayenta's) and the verdict."""

    model_config = ConfigDict(frozen=True)

    experiment: str
    baseline_runs: list[str]
    candidate_runs: list[str]
    baseline_sidecar: str = ""
    candidate_sidecar: str = ""
    alpha: float
    metrics: list[MetricResult]
    judged: int
    passed: int
    score: float
    """100 x passed / judged (NoData metrics are not judged)."""
    verdict: CompareVerdict
    critical_failures: list[str] = []
    notes: list[str] = []

    def failed_metrics(self) -> list[MetricResult]:
        return [m for m in self.metrics if m.failed]
