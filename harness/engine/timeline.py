"""The run's timeline as data: which fault is applied or reverted when. Pure.

Times are seconds since `t0`, the start of warm-up (DEVELOPING.md, "Timebase"): the
moment the load driver's schedule starts, picked by the driver once every Locust worker
is ready, so faults, phases and the load schedule share one origin. A fault is applied at
`warmup + at` and reverted `duration` after it actually went on (`after_apply`: a fault
applied late, on a busy host, still lasts its duration; `shortfalls` names any that
could not). A fault without a duration,
or whose end falls at or after the end of the load, gets no revert action: it stays in
effect until the end of the run, where the fault ledger rolls back everything still
pending, newest first (so stacked changes to one policy unwind in order).

`scale_experiment` stretches or shrinks the whole timeline to a new total length, so a
long experiment keeps its shape in a short CI smoke run (`meshproof run --duration 30s`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from harness.analysis.phases import unapplied
from harness.spec.experiment import Experiment
from harness.spec.load import LoadSpec
from harness.store.model import FaultEvent

ActionKind = Literal["apply", "revert", "end"]

# At one instant: reverts first (so a fault's slot is free before the next one takes
# it), then applies in the order the file lists them, then the end of the load.
_ORDER: dict[ActionKind, int] = {"revert": 0, "apply": 1, "end": 2}


@dataclass(frozen=True)
class Action:
    """One step of the timeline: `kind` of fault `fault` at `at_s` seconds since t0."""

    at_s: float
    kind: ActionKind
    fault: str = ""

    def describe(self) -> str:
        if self.kind == "end":
            return f"{self.at_s:7.2f}s  end of load"
        return f"{self.at_s:7.2f}s  {self.kind} {self.fault}"


def plan_actions(experiment: Experiment) -> list[Action]:
    """Every timed action of a run of `experiment`, in the order they are to happen."""
    warmup = experiment.load.warmup
    end = experiment.load.total_duration
    keyed: list[tuple[float, int, int, Action]] = []
    for index, fault in enumerate(experiment.faults):
        start = warmup + fault.at
        keyed.append((start, _ORDER["apply"], index, Action(start, "apply", fault.name)))
        if fault.duration is not None and start + fault.duration < end:
            stop = start + fault.duration
            keyed.append((stop, _ORDER["revert"], index, Action(stop, "revert", fault.name)))
    keyed.append((end, _ORDER["end"], len(experiment.faults), Action(end, "end")))
    # Times to the millisecond: a scaled run's (at + duration) * f and a later at * f may
    # differ by a rounding error, and a revert must still come before an apply at one instant.
    keyed.sort(key=lambda item: (round(item[0], 3), item[1], item[2]))
    return [item[3] for item in keyed]


def after_apply(remaining: Sequence[Action], applied: Action, late_s: float) -> list[Action]:
    """The actions still to come once `applied` went on `late_s` seconds after its time:
    its revert moves as much later, so the fault lasts its whole duration, but never past
    an apply planned at or after the revert's own time (the next step of a canary, or any
    fault that follows it, finds the slot free: the late one is cut short and `shortfalls`
    says so when that matters). A revert that would then fall at or after the end of the
    load is dropped, as `plan_actions` drops it: the fault stays on until the end."""
    if late_s <= 0:
        return list(remaining)
    end = next((a.at_s for a in remaining if a.kind == "end"), None)
    moved: list[Action] = []
    for action in remaining:
        if action.kind == "revert" and action.fault == applied.fault:
            due = round(action.at_s, 3)
            next_applies = (
                a.at_s for a in remaining if a.kind == "apply" and round(a.at_s, 3) >= due
            )
            at = min([action.at_s + late_s, *next_applies])
            if end is not None and at >= end:
                continue
            action = Action(at, "revert", action.fault)
        moved.append(action)
    # stable: at one instant the planned order (reverts, applies, end) is kept
    return sorted(moved, key=lambda a: (round(a.at_s, 3), _ORDER[a.kind]))


SHORTFALL_S = 0.25
"""A fault that lasted this much less than its duration is named by `shortfalls`."""


LATE_LOAD_MIN_S = 1.0
"""A readiness this long after t0 or less is normal (the workers' first status files)."""
LATE_LOAD_SHARE = 0.2
"""...or this share of the warm-up, when that is longer: the warm-up still does its job."""


def late_load_note(ready_s: float, warmup_s: float) -> str | None:
    """A note when Locust became ready so long after t0 that the load it skipped (requests
    due before a worker is ready are not sent) took a real part of the warm-up, or of the
    measured window; None for the few tenths of a second every start takes."""
    if ready_s < max(LATE_LOAD_MIN_S, LATE_LOAD_SHARE * warmup_s):
        return None
    if ready_s < warmup_s:
        return (
            f"Locust was ready {ready_s:.1f}s into the {warmup_s:g}s warm-up (a busy "
            "machine?): requests due before a worker was ready were not sent"
        )
    return (
        f"Locust was ready {ready_s:.1f}s after t0, past the {warmup_s:g}s warm-up (a busy "
        f"machine?): the measured window's first {ready_s - warmup_s:.1f}s lacks the load due "
        "before a worker was ready"
    )


def shortfalls(experiment: Experiment, faults: Sequence[FaultEvent], end_s: float) -> list[str]:
    """Why each fault of the run did not last its `duration` (went on late and was cut by
    the end of the load, or ended early), or was never applied though its time came; one
    sentence each, for the run's notes. `end_s` is where the run ended: a fault whose
    planned window runs past it is owed only the part before it."""
    warmup = experiment.load.warmup
    seen = {f.name: f for f in faults}
    out = [
        f"fault {name} was due at {planned:.1f}s but never went on: `before` ends at its"
        " planned time"
        for name, planned in unapplied(experiment, faults, end_s).items()
    ]
    for spec in experiment.faults:
        planned = warmup + spec.at
        event = seen.get(spec.name)
        if event is None or event.start_s >= end_s or spec.duration is None:
            continue
        lasted = min(event.end_s if event.end_s is not None else end_s, end_s) - event.start_s
        due = min(spec.duration, end_s - planned)  # a planned end past the load's is cut
        if lasted < due - SHORTFALL_S:
            late = event.start_s - planned
            why = f"it went on {late:.1f}s late" if late > SHORTFALL_S else "it ended early"
            out.append(
                f"fault {spec.name} lasted {max(lasted, 0.0):.2f}s of its {spec.duration:g}s:"
                f" {why} (planned at {planned:.1f}s, on at {event.start_s:.1f}s,"
                f" load ends at {end_s:.1f}s)"
            )
    return out


def scale_factor(experiment: Experiment, total_s: float) -> float:
    """How much the timeline must stretch so that the run lasts `total_s` (warm-up included)."""
    return total_s / experiment.load.total_duration


def scale_experiment(experiment: Experiment, total_s: float) -> Experiment:
    """The same experiment with warm-up, load, stages and every fault's `at` and `duration`
    scaled so that the whole run lasts `total_s` seconds; rates and SLOs are unchanged."""
    if total_s <= 0:
        raise ValueError("the scaled duration must be longer than 0s")
    factor = scale_factor(experiment, total_s)
    faults = [
        fault.model_copy(
            update={
                "at": fault.at * factor,
                "duration": None if fault.duration is None else fault.duration * factor,
            }
        )
        for fault in experiment.faults
    ]
    return experiment.model_copy(
        update={"load": scale_load(experiment.load, factor), "faults": faults}
    )


def scale_load(load: LoadSpec, factor: float) -> LoadSpec:
    """Warm-up, measured duration and each stage's duration multiplied by `factor`."""
    stages = [
        stage.model_copy(update={"duration": stage.duration * factor}) for stage in load.stages
    ]
    return load.model_copy(
        update={
            "warmup": load.warmup * factor,
            "duration": load.duration * factor,
            "stages": stages,
        }
    )
