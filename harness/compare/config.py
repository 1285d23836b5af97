"""The comparison's configuration file (YAML): per-metric rules, thresholds, alpha.

    alpha: 0.05                      # significance level of every test
    seed: 1                          # bootstraps and pair sampling are seeded
    thresholds: {pass: 90, marginal: 75}
    metrics:
      latency_ms: {direction: increase, tolerance: 30%, floor: 2, critical: true}
      "latency_ms{route=catalog}": {tolerance: 10%}
      sidecar_rss_mb: {enabled: false}

A metric keyed `name{label=value}` (e.g. one route's latency) falls back to the rule of
`name`; every field left out keeps the built-in default (`DEFAULT_RULES`). A `tolerance`
or `floor` written here wins over a stored calibration (`harness.compare.tolerance`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from mesh_runtime.errors import InvalidInput
from mesh_runtime.units import parse_percentage
from mesh_runtime.validation import load_model

Direction = Literal["increase", "decrease", "either"]


def _fraction(value: Any) -> Any:
    """'5%' -> 0.05; a plain number is already a fraction."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return parse_percentage(value) / 100
    return value


Fraction = Annotated[float, BeforeValidator(_fraction), Field(ge=0)]


class MetricRule(BaseModel):
    """How one metric is judged; see `harness.compare.judge`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: Direction = "increase"
    """Which change harms: `increase` (latency), `decrease` (trace completeness), `either`."""
    tolerance: Fraction = 0.05
    """A change smaller than this share of the baseline value passes, significant or not."""
    floor: float = Field(default=0.0, ge=0)
    """...and so does one smaller than this absolute amount (in the metric's unit)."""
    critical: bool = False
    """A failed critical metric fails the whole comparison."""
    enabled: bool = True


class RulePatch(BaseModel):
    """A rule as written in a file: only the fields given override the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: Direction | None = None
    tolerance: Fraction | None = None
    floor: float | None = Field(default=None, ge=0)
    critical: bool | None = None
    enabled: bool | None = None


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    pass_: float = Field(default=90.0, alias="pass", ge=0, le=100)
    marginal: float = Field(default=75.0, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.marginal > self.pass_:
            raise ValueError("marginal must not be above pass")
        return self


DEFAULT_RULES: dict[str, MetricRule] = {
    "latency_ms": MetricRule(tolerance=0.30, floor=2.0, critical=True),
    "p50_ms": MetricRule(tolerance=0.30, floor=2.0),
    "p99_ms": MetricRule(tolerance=0.50, floor=5.0),
    "error_rate": MetricRule(tolerance=0.10, floor=0.001, critical=True),
    "trace_completeness": MetricRule(
        direction="decrease", tolerance=0.0, floor=0.001, critical=True
    ),
    "sidecar_cpu_per_krps": MetricRule(tolerance=0.25, floor=0.02),
    "sidecar_rss_mb": MetricRule(tolerance=0.10, floor=2.0),
    "retries_per_krequests": MetricRule(tolerance=0.10, floor=1.0),
    "ejections_per_krequests": MetricRule(tolerance=0.10, floor=0.5),
    "recovery_s": MetricRule(tolerance=0.20, floor=1.0),
}
"""The tolerances used when neither the config file nor a calibration gives one. Latency
and sidecar CPU hold on a quiet 2-core host: two back-to-back runs of one experiment there
differ by up to about 15 % in p50 (7.2 vs 8.3 ms, 8.9 vs 10.3 ms) and 12 % in sidecar CPU
(0.56 vs 0.63 per 1000 proxied RPS), so the defaults are about twice that. A busier host
needs `meshproof calibrate`."""


class CompareConfig(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(default=0.05, gt=0, lt=1)
    seed: int = Field(default=1, ge=0)
    """Seeds numpy's generator, which takes no negative seed."""
    thresholds: Thresholds = Thresholds()
    metrics: dict[str, RulePatch] = {}

    @model_validator(mode="after")
    def _known(self) -> CompareConfig:
        for key in self.metrics:
            if key.partition("{")[0] not in DEFAULT_RULES:
                known = ", ".join(DEFAULT_RULES)
                raise ValueError(f"metrics: unknown metric {key!r} (known: {known})")
        return self

    def sets_tolerance(self, metric: str) -> bool:
        """The file gives `metric` (or its base name) a tolerance or a floor of its own."""
        patches = [self.metrics.get(key) for key in (metric.partition("{")[0], metric)]
        return any(p is not None and (p.tolerance, p.floor) != (None, None) for p in patches)

    def rule(self, metric: str) -> MetricRule:
        """The rule for `metric` (a `name{label=value}` key falls back to `name`)."""
        base = metric.partition("{")[0]
        rule = DEFAULT_RULES.get(base, MetricRule())
        for key in (base, metric):
            patch = self.metrics.get(key)
            if patch is not None:
                rule = rule.model_copy(update=patch.model_dump(exclude_none=True))
        return rule


def load_compare_config(path: str | Path | None) -> CompareConfig:
    """The configuration in `path`, or the defaults when None."""
    if path is None:
        return CompareConfig()
    return load_model(path, CompareConfig, InvalidInput)
