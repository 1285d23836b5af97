"""Recovery time: how long after a fault ends the run is healthy again, and what that meant.

`recovery_s` of a fault is `s - end_s`, where `s` is the first whole second at or after
the fault's end from which every recovery *condition* holds in `hold_s` consecutive
one-second windows (5 by default). A window with no requests, or a second missing from
the windows, does not hold. The conditions are, first found:

1. the fault's own `recovery:` block (`conditions`, `hold`);
2. the experiment's `recovery:` block;
3. the experiment's SLOs outside `during:` phases (those are tolerances while a fault is
   on) on a metric one window has (`harness.spec.recovery.WINDOW_METRICS` but rps:
   error_rate, max_error_rate_1s judged as the window's error_rate, p50/p90/p99/p999_ms,
   corrected_p99_ms), each applied to every window, their phase dropped; with
   `error_rate < 0.01` added when none of them is on errors;
4. without any: `error_rate < 0.01` alone (`DEFAULT_CRITERIA`).

`Recovery.explain()` says which conditions held from when ("recovered: error_rate < 0.01
and p99_ms < 100 held for 5 s from 31.0 s, ..."), or which still failed ("not judged: ..."
when fewer seconds with requests followed the fault than the hold), and says so when
latency was not among them; the summary puts it in the phase's notes and the verdict in
its reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.spec.experiment import Experiment
from harness.spec.recovery import (
    ERROR_METRICS,
    HOLD_S,
    LATENCY_METRICS,
    WINDOW_METRICS,
    RecoverySpec,
)
from harness.spec.slo import OPERATORS, SLO

FROM_SLOS = "the run's SLOs outside during: phases"
FROM_DEFAULT = "the default, as the run has no error or latency SLO outside during: phases"
NO_LATENCY = "latency was not checked (no latency condition; name one under recovery:)"


@dataclass(frozen=True)
class Criteria:
    """What must hold, for how many one-second windows in a row, and where it came from."""

    conditions: tuple[SLO, ...]
    hold_s: int = HOLD_S
    source: str = FROM_SLOS

    def describe(self) -> str:
        """'error_rate < 0.01 and p99_ms < 100'."""
        return " and ".join(c.describe() for c in self.conditions)

    @property
    def checks_latency(self) -> bool:
        return any(c.metric in LATENCY_METRICS for c in self.conditions)


DEFAULT_ERROR = SLO(metric="error_rate", op="<", threshold=0.01)
DEFAULT_CRITERIA = Criteria((DEFAULT_ERROR,), HOLD_S, FROM_DEFAULT)


def recovery_criteria(
    slos: Sequence[SLO], spec: RecoverySpec | None = None, source: str = ""
) -> Criteria:
    """The conditions of a `recovery:` block, else those the SLOs give (with the default
    error condition when none of them is on errors), else the default."""
    if spec is not None:
        return Criteria(tuple(spec.conditions), spec.hold_s, source or "recovery:")
    chosen: dict[tuple[str, str, float], SLO] = {}
    for slo in slos:
        if slo.metric in WINDOW_METRICS and slo.metric != "rps" and slo.phase.kind != "during":
            key = (slo.metric, slo.op, slo.threshold)
            chosen.setdefault(key, SLO(metric=slo.metric, op=slo.op, threshold=slo.threshold))
    conditions = tuple(chosen.values())
    if not conditions:
        return DEFAULT_CRITERIA
    if not any(c.metric in ERROR_METRICS for c in conditions):
        source = f"{FROM_SLOS}, plus the default {DEFAULT_ERROR.describe()}"
        return Criteria((*conditions, DEFAULT_ERROR), HOLD_S, source)
    return Criteria(conditions)


def experiment_criteria(experiment: Experiment) -> dict[str, Criteria]:
    """Each fault's criteria: its own `recovery:`, the experiment's, or its SLOs'."""
    out = {}
    for index, fault in enumerate(experiment.faults):
        if fault.recovery is not None:
            source = f"faults[{index}].recovery"
            out[fault.name] = recovery_criteria((), fault.recovery, source)
        elif experiment.recovery is not None:
            out[fault.name] = recovery_criteria(
                (), experiment.recovery, "the experiment's recovery:"
            )
        else:
            out[fault.name] = recovery_criteria(experiment.slos)
    return out


def condition_holds(windows: pd.DataFrame, condition: SLO) -> pd.Series:
    """Per window (indexed by second): does `condition` hold? No request: no."""
    values = windows[WINDOW_METRICS[condition.metric]].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        holds = ~np.isnan(values) & OPERATORS[condition.op](values, condition.threshold)
    holds &= windows["requests"].to_numpy() > 0
    return pd.Series(holds, index=windows["second"].to_numpy())


def healthy_windows(windows: pd.DataFrame, criteria: Criteria) -> pd.Series:
    """Per window (indexed by second): do all criteria hold?"""
    ok = pd.Series(windows["requests"].to_numpy() > 0, index=windows["second"].to_numpy())
    for condition in criteria.conditions:
        ok &= condition_holds(windows, condition)
    return ok


@dataclass(frozen=True)
class Recovery:
    """What the recovery check after one fault found."""

    criteria: Criteria
    fault_end_s: float
    seconds: float | None
    """recovery_s; None when the conditions never held long enough."""
    from_s: int | None = None
    """The first second of the run of windows that held."""
    measured_s: int = 0
    """Seconds with requests after the fault ended."""
    failed: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """Condition -> (windows after the fault's end where it failed, the last such second)."""

    def explain(self) -> str:
        """One line: what was checked and what it found (see the module docstring)."""
        wanted = self.criteria.describe()
        if self.seconds is not None and self.from_s is not None:
            text = (
                f"recovered: {wanted} held for {self.criteria.hold_s} s from {self.from_s:.1f} s,"
                f" {self.seconds:.1f} s after the fault ended at {self.fault_end_s:.1f} s"
            )
        elif not self.measured_s:
            text = f"did not recover: no request was measured after the fault ended ({wanted})"
        elif self.measured_s < self.criteria.hold_s:
            # A run that ends too soon after the fault says nothing about recovery either way.
            text = (
                f"not judged: {self.measured_s} s with requests after the fault ended, fewer"
                f" than the {self.criteria.hold_s} s hold: {self._failures()}"
            )
        else:
            text = (
                f"did not recover: {wanted} never held {self.criteria.hold_s} s in a row in the"
                f" {self.measured_s} s with requests after the fault ended: {self._failures()}"
            )
        text += f" (conditions: {self.criteria.source})"
        return text if self.criteria.checks_latency else f"{text}; {NO_LATENCY}"

    def _failures(self) -> str:
        """'p99_ms < 100 failed in 12 s (last at 53 s), error_rate < 0.01 held'."""
        parts = []
        for condition in self.criteria.conditions:
            name = condition.describe()
            count, last = self.failed.get(name, (0, -1))
            parts.append(
                f"{name} failed in {count} s (last at {last} s)" if count else f"{name} held"
            )
        return ", ".join(parts)


def recover(
    windows: pd.DataFrame, fault_end_s: float, criteria: Criteria = DEFAULT_CRITERIA
) -> Recovery:
    """The recovery after a fault that ended at `fault_end_s` (seconds since t0)."""
    first = math.ceil(fault_end_s)
    if windows.empty:
        return Recovery(criteria, fault_end_s, None)
    last = int(windows["second"].max())
    seconds = range(first, last + 1)
    healthy = healthy_windows(windows, criteria).reindex(seconds, fill_value=False)
    measured = int(((windows["second"] >= first) & (windows["requests"] > 0)).sum())
    run = 0
    for second, good in healthy.items():
        run = run + 1 if good else 0
        if run == criteria.hold_s:
            start = int(second) - criteria.hold_s + 1
            return Recovery(criteria, fault_end_s, float(start - fault_end_s), start, measured)
    failed = {}
    for condition in criteria.conditions:
        holds = condition_holds(windows, condition).reindex(seconds, fill_value=False)
        bad = holds.index[~holds.to_numpy()]
        failed[condition.describe()] = (len(bad), int(bad.max()) if len(bad) else -1)
    return Recovery(criteria, fault_end_s, None, None, measured, failed)


def recovery_seconds(
    windows: pd.DataFrame, fault_end_s: float, criteria: Criteria = DEFAULT_CRITERIA
) -> float | None:
    """Seconds from `fault_end_s` until the criteria hold for their hold; None if never."""
    return recover(windows, fault_end_s, criteria).seconds
