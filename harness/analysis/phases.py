"""The run's phases, from the timeline and the faults actually applied.

All times are seconds since `t0` (the start of warm-up). Intervals are half-open,
`[start_s, end_s)`:

- `warmup`           `[0, warmup)`, never judged;
- `before`           from the end of warm-up to the first fault's start (the whole
                     measured run when the experiment has no fault); a planned fault
                     whose time came within the run but that has no applied event (it
                     failed before it was recorded, or its event lies past the end)
                     ends `before` at its planned time, never silently the whole run;
- `during:<fault>`   each applied fault's window; faults may overlap; a fault without an
                     end lasts until the run ends;
- `after`            from the end of the last fault to the end of the run (absent when a
                     fault lasts until the end);
- `after:<fault>`    from the end of that fault to the end of the run (absent when it
                     lasts until the end): recovery from one fault while others stay on;
- `whole`            everything after warm-up.

Each request gets one *primary* phase (by its intended send time) for the `phase`
column: `warmup`, `before`, the earliest-started fault it falls in, `between` (after one
fault ended and before the next began), or `after`. Per-phase summaries select requests
by interval, so a request in two overlapping faults counts in both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from harness.spec.experiment import Experiment
from harness.spec.phase import AFTER, BEFORE, BETWEEN, WARMUP, WHOLE, Phase
from harness.store.model import FaultEvent, PhaseRecord


def interval(phase: Phase, start_s: float, end_s: float) -> PhaseRecord:
    """`phase` from `start_s` to `end_s`, as run.json keeps it (its name is its text)."""
    return PhaseRecord(name=str(phase), start_s=start_s, end_s=end_s)


def phase_intervals(
    warmup_s: float,
    end_s: float,
    faults: Sequence[FaultEvent],
    unapplied_s: Sequence[float] = (),
) -> list[PhaseRecord]:
    """The phases of a run that measured from `warmup_s` to `end_s`; `unapplied_s` the
    planned starts of faults that have no applied event (`before` ends by then). A run
    stopped in its warm-up (`end_s` before `warmup_s`) warmed up until it stopped and
    measured nothing: its other phases are empty at `end_s`, none ends before it starts
    (one stopped before its load's t0, picked ahead, ends at 0)."""
    end_s = max(0.0, end_s)
    warmup_s = min(warmup_s, end_s)
    phases = [interval(WARMUP, 0.0, warmup_s)]
    windows = fault_windows([f for f in faults if f.start_s < end_s], end_s)
    first_start = min([start for _, start, _ in windows] + list(unapplied_s), default=end_s)
    first_start = min(first_start, end_s)
    phases.append(interval(BEFORE, warmup_s, max(warmup_s, first_start)))
    for name, start, end in windows:
        phases.append(interval(Phase.during(name), start, end))
    for name, _, end in windows:
        if end < end_s:
            phases.append(interval(Phase.after(name), end, end_s))
    if windows:
        last_end = max(end for _, _, end in windows)
        if last_end < end_s:
            phases.append(interval(AFTER, last_end, end_s))
    phases.append(interval(WHOLE, warmup_s, end_s))
    return phases


def experiment_phases(
    experiment: Experiment, faults: Sequence[FaultEvent], end_s: float | None = None
) -> list[PhaseRecord]:
    """The phases of a run of `experiment`; `end_s` overrides the planned end (aborted runs)."""
    end = experiment.load.total_duration if end_s is None else end_s
    return phase_intervals(
        experiment.load.warmup, end, faults, list(unapplied(experiment, faults, end).values())
    )


def unapplied(
    experiment: Experiment, faults: Sequence[FaultEvent], end_s: float
) -> dict[str, float]:
    """The experiment's faults whose time (`warmup + at`) came before `end_s` but that have
    no applied event within the run, with that planned start."""
    applied = {f.name for f in faults if f.start_s < end_s}
    warmup = experiment.load.warmup
    return {
        f.name: warmup + f.at
        for f in experiment.faults
        if f.name not in applied and warmup + f.at < end_s
    }


def fault_windows(faults: Sequence[FaultEvent], end_s: float) -> list[tuple[str, float, float]]:
    """(name, start, end) of each fault, ordered by start; open-ended faults end at `end_s`."""
    windows = [
        (f.name, f.start_s, end_s if f.end_s is None else min(f.end_s, end_s)) for f in faults
    ]
    return sorted(windows, key=lambda w: (w[1], w[2]))


def label_phases(times: pd.Series, phases: Sequence[PhaseRecord]) -> pd.Series:
    """The primary phase of each time (see the module docstring) as a string Series.

    Labelled as small codes and made text once, in Arrow: a run of millions of requests
    gets no Python object per request."""
    by_name = {p.name: p for p in phases}
    values = times.to_numpy(dtype="float64")
    faults = [p for p in phases if Phase.parse(p.name).kind == "during"]
    names = [str(AFTER if faults else BEFORE)]
    codes = np.zeros(values.shape, dtype="int16")

    def label(where: np.ndarray, name: str) -> None:
        if name not in names:
            names.append(name)
        codes[where] = names.index(name)

    if faults:
        label(values >= min(p.start_s for p in faults), str(BETWEEN))
        label(values >= max(p.end_s for p in faults), str(AFTER))
        # Latest-started first, so the earliest-started fault wins where they overlap.
        for phase in sorted(faults, key=lambda p: p.start_s, reverse=True):
            label((values >= phase.start_s) & (values < phase.end_s), phase.name)
    before = by_name.get(str(BEFORE))
    if before is not None:
        label((values >= before.start_s) & (values < before.end_s), str(BEFORE))
    warmup = by_name.get(str(WARMUP))
    if warmup is not None:
        label(values < warmup.end_s, str(WARMUP))
    text = pa.array(names, pa.large_string())
    labels = pa.DictionaryArray.from_arrays(pa.array(codes), text).cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(labels), index=times.index).astype("string")


def in_phase(times: pd.Series, phase: PhaseRecord) -> pd.Series:
    """Boolean mask of the times inside the phase's half-open interval."""
    return (times >= phase.start_s) & (times < phase.end_s)


def with_phase(requests: pd.DataFrame, phases: Sequence[PhaseRecord]) -> pd.DataFrame:
    """The requests with their primary `phase` column (by intended send time)."""
    out = requests.copy(deep=False)  # copy-on-write: the new column leaves `requests` alone
    out["phase"] = label_phases(out["intended_s"], phases)
    return out
