"""The result of a comparison (pydantic): what `compare_runs` returns and `--json` prints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from harness.compare.config import Direction

Classification = Literal["High", "Low", "Pass", "NoData"]
CompareVerdict = Literal["Pass", "Marginal", "Fail", "Inconclusive"]
"""`Inconclusive`: the verdict would differ had the hosts been quiet (`harness.compare.noise`)."""


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
    sample_unit: str = ""
    """What the test counted as one sample: '1 s windows' (latency), 'requests' (error
    rate), '1 s samples' (sidecar CPU), 'runs' (recovery)."""
    baseline_n: int = 0
    candidate_n: int = 0
    """How many of `sample_unit` each side had."""
    request_shift: float | None = None
    """Latency only: the Hodges-Lehmann shift over every request, for comparison with
    `delta` (the windows'); never judged."""
    direction: Direction = "increase"
    tolerance: float = 0.0
    """The absolute change below which the metric passes."""
    tolerance_source: str = ""
    """Where `tolerance` came from: 'calibration of 5 runs on 2026-12-03', 'default (5 %
    or 1 ms)', 'config file (...)' (`harness.compare.tolerance`)."""
    critical: bool = False
    classification: Classification = "NoData"
    failed: bool = False
    """Classified High or Low in the harmful direction (never when inconclusive)."""
    reason: str = ""
    inconclusive: bool = False
    """Latency: the hosts' disturbance could flip whether it fails (`harness.compare.noise`)."""
    disturbance: str = ""
    """What each side's host did and may have added to this latency metric."""

    def unit_text(self) -> str:
        """'unit: 1 s windows, n=20 vs 20' ('' when the metric has no samples)."""
        if not self.sample_unit:
            return ""
        return f"unit: {self.sample_unit}, n={self.baseline_n} vs {self.candidate_n}"


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
    calibration: str = ""
    """The calibration whose spreads served as tolerances ('calibration of 5 runs on
    2026-12-03 (reports/calibration/x.json)'), or '' when there was none."""

    def failed_metrics(self) -> list[MetricResult]:
        return [m for m in self.metrics if m.failed]
