"""`recovery:` — what "recovered" means for `recovery_s`, for the experiment or one fault.

```yaml
recovery:                 # the experiment's (every fault's), or under one fault its own
  conditions:             # each checked on every one-second window after the fault ends
    - error_rate < 0.01
    - p99_ms < 250
  hold: 5s                # how long all of them must hold in a row (whole seconds)
```

A condition is an SLO without a phase (`<metric> <op> <number>`) on a metric that a
one-second window has: `WINDOW_METRICS`. Without a `recovery:` block the conditions are
the experiment's SLOs on those metrics outside `during:` phases (see
`harness.analysis.recovery`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.spec.phase import WHOLE
from harness.spec.slo import SLO
from mesh_runtime.units import Duration

HOLD_S = 5
"""Default: seconds in a row the conditions must hold."""

WINDOW_METRICS: dict[str, str] = {
    "error_rate": "error_rate",
    "max_error_rate_1s": "error_rate",
    "p50_ms": "p50_ms",
    "p90_ms": "p90_ms",
    "p99_ms": "p99_ms",
    "p999_ms": "p999_ms",
    "corrected_p99_ms": "corrected_p99_ms",
    "rps": "rps",
}
"""SLO metric -> the column of windows.parquet that holds it per one-second window."""

LATENCY_METRICS = frozenset(m for m in WINDOW_METRICS if m.endswith("_ms"))
ERROR_METRICS = frozenset({"error_rate", "max_error_rate_1s"})


class RecoverySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    conditions: list[SLO] = Field(min_length=1)
    hold: Duration = float(HOLD_S)

    @field_validator("conditions")
    @classmethod
    def _per_window(cls, value: list[SLO]) -> list[SLO]:
        for slo in value:
            if slo.metric not in WINDOW_METRICS:
                known = ", ".join(sorted(WINDOW_METRICS))
                raise ValueError(
                    f"{slo.metric!r} is not measured per one-second window (use one of {known})"
                )
            if slo.phase != WHOLE:
                raise ValueError(
                    f"{slo.describe()!r}: a recovery condition has no phase; it is checked on"
                    " each one-second window after the fault ends"
                )
        return value

    @field_validator("hold")
    @classmethod
    def _whole_seconds(cls, value: float) -> float:
        if value < 1 or not float(value).is_integer():
            raise ValueError("expected whole seconds of one-second windows, like 5s")
        return value

    @property
    def hold_s(self) -> int:
        return int(self.hold)
