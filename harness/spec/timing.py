"""Is the run long enough? The warm-up, every fault's window and each recovery check.

Times are seconds since the start of warm-up (`t0`), as the run's. A fault whose
`recovery_s` an SLO judges needs, after its planned end, its recovery hold (5 s unless its
`recovery:` says otherwise) plus one second: recovery is counted from the first whole
second after the fault is off, and the revert itself takes a moment. A fault with a
duration must last at least one one-second window. An SLO of phase `after` (or
`after:<fault>`) needs every fault (that fault) to end before the load does. `meshproof run --duration D` scales
the whole timeline by one factor (`harness.engine.timeline.scale_experiment`), so the
holds, which do not scale, decide the shortest `D` that works. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.spec.experiment import Experiment
from harness.spec.faults import FaultSpec
from harness.spec.phase import Phase
from harness.spec.recovery import HOLD_S

MIN_FAULT_S = 1.0
"""A fault shorter than one one-second window cannot be told apart in the windows."""
REVERT_S = 1.0
"""Room for the revert and the wait for the next whole second before the hold starts."""


@dataclass(frozen=True)
class RecoveryNeed:
    """A fault whose recovery is judged: its planned end and the room the check needs after."""

    fault: str
    end_s: float
    room_s: float


def recovery_needs(experiment: Experiment) -> list[RecoveryNeed]:
    """The faults whose `recovery_s` an SLO judges (`during:x`/`after:x`: that fault;
    `whole`/`after`: every fault with a duration that ends before the load does)."""
    judged: set[str] = set()
    for slo in experiment.slos:
        if slo.metric != "recovery_s":
            continue
        fault = slo.phase.fault
        judged |= {fault} if fault else {f.name for f in _ending(experiment)}
    return [
        RecoveryNeed(f.name, _end(experiment, f), hold_of(experiment, f) + REVERT_S)
        for f in experiment.faults
        if f.name in judged and f.duration is not None
    ]


def hold_of(experiment: Experiment, fault: FaultSpec) -> float:
    """How long the recovery conditions must hold after `fault`, in seconds."""
    spec = fault.recovery or experiment.recovery
    return float(spec.hold_s if spec is not None else HOLD_S)


def _ending(experiment: Experiment) -> list[FaultSpec]:
    total = experiment.load.total_duration
    return [f for f in experiment.faults if f.duration is not None and _end(experiment, f) < total]


def _end(experiment: Experiment, fault: FaultSpec) -> float:
    return experiment.load.warmup + fault.at + (fault.duration or 0.0)


def timeline_problem(experiment: Experiment) -> tuple[str, str] | None:
    """(field path, problem) when the file's own timeline cannot hold a fault or a recovery
    check; None when it can."""
    total = experiment.load.total_duration
    field = "load.stages" if experiment.load.stages else "load.duration"
    for index, fault in enumerate(experiment.faults):
        if fault.duration is not None and fault.duration < MIN_FAULT_S:
            return (
                f"faults[{index}].duration",
                f"{_s(fault.duration)} is shorter than one one-second window; use at least 1s",
            )
    for index, slo in enumerate(experiment.slos):
        problem = _after_problem(experiment, slo.phase)
        if problem:
            return f"slos[{index}]", f"{slo.name!r}: {problem}"
    for need in recovery_needs(experiment):
        if need.end_s + need.room_s <= total + 1e-9:
            continue
        longer = experiment.load.measured_duration + (need.end_s + need.room_s - total)
        return (
            field,
            f"{_s(experiment.load.measured_duration)} leaves no room to judge recovery_s:"
            f" fault {need.fault!r} ends at {_s(need.end_s)} and the recovery check needs"
            f" {_s(need.room_s)} more ({_room(need)}); make {field} last at least"
            f" {_s(math.ceil(longer - 1e-9))}",
        )
    return None


def _after_problem(experiment: Experiment, phase: Phase) -> str:
    """Why an `after` / `after:<fault>` phase would never begin ('' when it does)."""
    name = phase.fault
    if phase.kind != "after":
        return ""
    total = experiment.load.total_duration
    faults = [f for f in experiment.faults if not name or f.name == name]
    for fault in faults:
        if fault.duration is None or _end(experiment, fault) >= total:
            return (
                f"fault {fault.name!r} stays on until the load ends ({_s(total)}),"
                f" so phase {str(phase)!r} never begins"
                + ("; judge after:<fault> of the faults that end" if not name else "")
            )
    return ""


def shortest_total(experiment: Experiment) -> float:
    """The shortest whole-run length (warm-up included) the timeline can be scaled to."""
    total = experiment.load.total_duration
    needs = [_need_total(n, total) for n in recovery_needs(experiment)]
    faults = [MIN_FAULT_S * total / f.duration for f in experiment.faults if f.duration]
    return max([_measured_total(experiment), *needs, *faults])


def _measured_total(experiment: Experiment) -> float:
    """The shortest run whose measured part (after the warm-up) is one one-second window:
    shorter, the SLOs would judge less than a window of requests."""
    load = experiment.load
    measured = load.measured_duration
    return MIN_FAULT_S * load.total_duration / measured if measured > 0 else 0.0


def _need_total(need: RecoveryNeed, total: float) -> float:
    """The shortest run whose scaled timeline leaves `need.room_s` after the fault's end."""
    share = need.end_s / total
    return need.room_s / (1 - share) if share < 1 else math.inf


def scaled_problem(experiment: Experiment, total_s: float) -> str | None:
    """Why the timeline scaled to `total_s` cannot hold its faults and recovery checks, with
    the shortest length that works; None when it can."""
    total = experiment.load.total_duration
    shortest = shortest_total(experiment)
    if total_s + 1e-9 >= shortest:
        return None
    factor = total_s / total
    use = f"use at least {_s(math.ceil(shortest - 1e-9))}"
    for need in recovery_needs(experiment):
        if _need_total(need, total) >= shortest - 1e-9:
            return (
                f"{_s(total_s)} is too short: scaled to it, fault {need.fault!r} ends at"
                f" {_s(need.end_s * factor)} and the recovery check needs"
                f" {_s(need.room_s)} more ({_room(need)}); {use}"
            )
    if _measured_total(experiment) >= shortest - 1e-9:
        return (
            f"{_s(total_s)} is too short: scaled to it, the measured part (after the"
            f" warm-up) lasts {_s(experiment.load.measured_duration * factor)}, less than one"
            f" one-second window; {use}"
        )
    fault = min((f for f in experiment.faults if f.duration), key=lambda f: f.duration or 0.0)
    return (
        f"{_s(total_s)} is too short: scaled to it, fault {fault.name!r} lasts"
        f" {_s((fault.duration or 0.0) * factor)}, less than one one-second window; {use}"
    )


def _room(need: RecoveryNeed) -> str:
    return f"{_s(need.room_s - REVERT_S)} holding, from the next whole second"


def _s(seconds: float) -> str:
    """'35s', '17.5s', '0.23s'."""
    return f"{round(seconds, 2):g}s"
