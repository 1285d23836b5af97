"""How large a change a metric tolerates, and where that number comes from. Pure.

In this order:
1. a `tolerance` or `floor` written for the metric in the comparison's config file: the
   user said so;
2. the experiment's stored calibration (`meshproof calibrate`), when it measured the
   metric in at least `MIN_RUNS` runs with some spread: the bound that two runs of the
   unchanged experiment on this host stayed within (`harness.calibrate.spread`);
3. the built-in rule, `max(tolerance x |baseline|, floor)` (`DEFAULT_RULES`), chosen so
   that two back-to-back runs on a quiet 2-core host compare as Pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.calibrate.model import Calibration
from harness.compare.config import CompareConfig, MetricRule


@dataclass(frozen=True)
class Tolerance:
    value: float
    """The absolute change (in the metric's unit) that still passes."""
    source: str
    """'calibration of 5 runs on 2026-12-03', 'default (5 % or 1 ms)', 'config file'."""


def rule_text(rule: MetricRule, unit: str) -> str:
    """'5 % or 1 ms' (the larger of the two applies)."""
    parts = []
    if rule.tolerance:
        parts.append(f"{rule.tolerance * 100:g} %")
    if rule.floor:
        parts.append(f"{rule.floor:g} {unit}".strip())
    return " or ".join(parts) or "none"


def rule_tolerance(rule: MetricRule, baseline: float) -> float:
    """The rule's absolute change that still passes."""
    return max(rule.tolerance * abs(baseline), rule.floor)


def select_tolerance(
    metric: str,
    unit: str,
    baseline: float,
    config: CompareConfig,
    calibration: Calibration | None,
) -> Tolerance:
    """The tolerance of `metric` (see the module docstring for the order)."""
    rule = config.rule(metric)
    if config.sets_tolerance(metric):
        return Tolerance(rule_tolerance(rule, baseline), f"config file ({rule_text(rule, unit)})")
    spread = calibration.spread(metric) if calibration is not None else None
    if calibration is not None and spread is not None:
        return Tolerance(spread.tolerance, calibration.describe())
    return Tolerance(rule_tolerance(rule, baseline), f"default ({rule_text(rule, unit)})")
