"""`slos:` — thresholds in k6's spirit: 'p99_ms < 250', 'error_rate < 0.001 during:x'.

An SLO is written as a string `<metric> <op> <number> [<phase>]` or as a mapping with
the same parts. Phases: `whole` (the default: everything after warm-up), `before` (until
the first fault), `during:<fault name>`, `after` (from the end of the last fault),
`after:<fault name>` (from the end of that fault to the end of the run).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from harness.spec.phase import EXPECTED, WHOLE, Phase

METRICS: dict[str, str] = {
    "rps": "requests per second answered (the achieved rate: answers that arrived in the phase)",
    "target_rps": "requests per second the schedule intended in the phase",
    "late_share": "share of requests that left more than 10 ms after their intended time",
    "max_send_lag_ms": "largest delay of a request's send after its intended time, ms",
    "error_rate": "share of requests that failed (status >= 500 or no answer)",
    "p50_ms": "median latency from the actual send (service time), ms",
    "p90_ms": "90th percentile service time, ms",
    "p99_ms": "99th percentile service time, ms",
    "p999_ms": "99.9th percentile service time, ms",
    "corrected_p50_ms": "median latency from the intended send (coordinated omission corrected)",
    "corrected_p90_ms": "90th percentile latency from the intended send, ms",
    "corrected_p99_ms": "99th percentile latency from the intended send, ms",
    "corrected_p999_ms": "99.9th percentile latency from the intended send, ms",
    "max_error_rate_1s": "highest error rate of any one-second window",
    "shed_p99_ms": "99th percentile latency of requests answered 503 (load shed), ms",
    "trace_completeness": "share of requests whose trace holds every span the call graph implies",
    "recovery_s": "seconds after a fault ends until the other SLOs of the run hold again for 5 s",
    "sidecar_cpu_per_krps": (
        "sidecar CPU cores per 1000 requests per second through the sidecars (Istio's measure:"
        " summed over sidecars, divided by the requests they proxied)"
    ),
    "sidecar_rps": "requests per second through the sidecars (istio_requests_total, all series)",
    "sidecar_rss_mb": "largest resident memory of any sidecar, MB",
    "retries_per_krequests": "mesh retries per 1000 user requests",
    "ejections": "outlier ejections in the phase",
    "overflows": "circuit-breaker overflows in the phase",
    "overhead_p99_ms": "p99 with the mesh minus p99 without it (mesh-overhead experiments)",
}

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}

_TEXT = re.compile(
    r"^\s*(?P<metric>[a-z0-9_]+)\s*(?P<op><=|>=|==|<|>)\s*(?P<threshold>-?\d+(?:\.\d+)?(?:e-?\d+)?)"
    r"(?:\s+(?P<phase>\S+))?\s*$"
)


class SLO(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    op: Literal["<", "<=", ">", ">=", "=="]
    threshold: float
    phase: Phase = WHOLE
    name: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        match = _TEXT.match(data)
        if not match:
            raise ValueError(
                f"expected an SLO like 'p99_ms < 250' or 'error_rate < 0.001 during:name', got {data!r}"
            )
        parts = match.groupdict()
        return {k: v for k, v in parts.items() if v is not None}

    @model_validator(mode="after")
    def _known(self) -> SLO:
        if self.metric not in METRICS:
            raise ValueError(
                f"unknown metric {self.metric!r} (known: {', '.join(sorted(METRICS))})"
            )
        if not self.phase.judged:
            raise ValueError(f"phase {str(self.phase)!r} is never judged ({EXPECTED})")
        if not self.name:
            object.__setattr__(self, "name", self.describe())
        return self

    def describe(self) -> str:
        text = f"{self.metric} {self.op} {self.threshold:g}"
        return text if self.phase == WHOLE else f"{text} {self.phase}"

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)
