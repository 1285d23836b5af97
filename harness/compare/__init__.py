"""Baseline vs candidate: recorded runs judged statistically, as Kayenta does (the runs of
`meshproof validate-upgrade` are made by harness.upgrade; this package only judges).

result = compare_runs("reports/<baseline>", "reports/<candidate>")
result.verdict, result.score, [m.metric for m in result.failed_metrics()]
"""

from harness.compare.compare import compare_run_sets, compare_runs
from harness.compare.config import CompareConfig, MetricRule, load_compare_config
from harness.compare.model import ComparisonResult, MetricResult

__all__ = [
    "CompareConfig",
    "ComparisonResult",
    "MetricResult",
    "MetricRule",
    "compare_run_sets",
    "compare_runs",
    "load_compare_config",
]
