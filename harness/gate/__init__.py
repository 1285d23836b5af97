"""The nightly CI gate: a run's SLOs and its history (E-divisive change points, outliers).

result = gate_run(Path("reports/<run>"), None, GateSettings())
result.passed, result.failures
"""

from harness.gate.edivisive import ChangePoint, e_divisive
from harness.gate.gate import HEADLINE_RULES, GateResult, MetricGate, gate_records, gate_run
from harness.gate.regression import GateRule, GateSettings, SeriesJudgment, judge_series

__all__ = [
    "HEADLINE_RULES",
    "ChangePoint",
    "GateResult",
    "GateRule",
    "GateSettings",
    "MetricGate",
    "SeriesJudgment",
    "e_divisive",
    "gate_records",
    "gate_run",
    "judge_series",
]
