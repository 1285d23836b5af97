"""The run's timeline as data: which fault is applied or reverted when. Pure.

Times are seconds since `t0`, the start of warm-up (DEVELOPING.md, "Timebase"). A fault
is applied at `warmup + at` and reverted `duration` later. A fault without a duration,
or whose end falls at or after the end of the load, gets no revert action: it stays in
effect until the end of the run, where the fault ledger rolls back everything still
pending, newest first (so stacked changes to one policy unwind in order).

`scale_experiment` stretches or shrinks the whole timeline to a new total length, so a
long experiment keeps its shape in a short CI smoke run (`meshproof run --duration 30s`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.spec.experiment import Experiment
from harness.spec.load import LoadSpec

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
