"""The timeline planner and --duration scaling: order of actions, proportional shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.analysis.phases import experiment_phases, label_phases
from harness.engine.progress import phase_at
from harness.engine.timeline import (
    Action,
    after_apply,
    late_load_note,
    plan_actions,
    scale_experiment,
    shortfalls,
)
from harness.errors import ExperimentError
from harness.spec import Experiment
from harness.spec.check import check_experiment
from harness.store.model import FaultEvent, PhaseRecord
from mesh_runtime.validation import model_from_data


def experiment(**extra: Any) -> Experiment:
    data: dict[str, Any] = {
        "title": "t",
        "target": {"topology": "topologies/shop.yaml"},
        "load": {"rps": 50, "warmup": "10s", "duration": "60s"},
        **extra,
    }
    return model_from_data(data, Experiment, "x.yaml", ExperimentError)


def behaviour(name: str, at: str, duration: str | None = None) -> dict[str, Any]:
    fault: dict[str, Any] = {
        "name": name,
        "kind": "service_behaviour",
        "target": "catalog-0",
        "at": at,
        "params": {"error_rate": 0.3},
    }
    if duration is not None:
        fault["duration"] = duration
    return fault


def test_no_fault_is_only_the_end() -> None:
    """Without faults the timeline is the end of the load at warm-up plus duration."""
    assert plan_actions(experiment()) == [Action(70.0, "end")]


def test_fault_applied_after_warmup_and_reverted_after_duration() -> None:
    """A fault's `at` counts from the end of warm-up; its revert comes `duration` later."""
    actions = plan_actions(experiment(faults=[behaviour("f", "20s", "15s")]))
    assert actions == [Action(30.0, "apply", "f"), Action(45.0, "revert", "f"), Action(70.0, "end")]


def test_actions_sorted_by_time_across_faults() -> None:
    """Overlapping faults interleave by time, whatever order the file lists them in."""
    faults = [behaviour("late", "30s", "10s"), behaviour("early", "5s", "40s")]
    kinds = [(a.kind, a.fault) for a in plan_actions(experiment(faults=faults))]
    assert kinds == [
        ("apply", "early"),
        ("apply", "late"),
        ("revert", "late"),
        ("revert", "early"),
        ("end", ""),
    ]


def test_revert_before_apply_at_the_same_instant() -> None:
    """When one fault ends as the next begins, the revert runs first."""
    faults = [behaviour("b", "20s", "10s"), behaviour("a", "10s", "10s")]
    at_30 = [(a.kind, a.fault) for a in plan_actions(experiment(faults=faults)) if a.at_s == 30.0]
    assert at_30 == [("revert", "a"), ("apply", "b")]


def test_applies_at_one_instant_keep_file_order() -> None:
    """Faults starting together are applied in the order the file lists them."""
    faults = [behaviour("second", "10s"), behaviour("first", "10s")]
    names = [a.fault for a in plan_actions(experiment(faults=faults)) if a.kind == "apply"]
    assert names == ["second", "first"]


def test_open_ended_and_overrunning_faults_have_no_revert() -> None:
    """A fault without duration, or lasting past the load, is left to the final rollback."""
    faults = [behaviour("open", "10s"), behaviour("long", "50s", "30s")]
    actions = plan_actions(experiment(faults=faults))
    assert [a.kind for a in actions] == ["apply", "apply", "end"]


def test_scaling_keeps_relative_places() -> None:
    """--duration scales warm-up, duration and each fault's at and duration by one factor."""
    original = experiment(faults=[behaviour("f", "20s", "15s")])
    scaled = scale_experiment(original, 14.0)  # 70 s -> 14 s: factor 0.2
    assert scaled.load.warmup == pytest.approx(2.0)
    assert scaled.load.duration == pytest.approx(12.0)
    assert scaled.load.total_duration == pytest.approx(14.0)
    assert scaled.faults[0].at == pytest.approx(4.0)
    assert scaled.faults[0].duration == pytest.approx(3.0)
    times = [a.at_s for a in plan_actions(scaled)]
    assert times == pytest.approx([a.at_s * 0.2 for a in plan_actions(original)])


def test_scaling_stages_and_keeping_rates_and_slos() -> None:
    """Stages are scaled in duration only; rates and SLO thresholds stay as written."""
    original = experiment(
        load={
            "rps": 20,
            "warmup": "5s",
            "stages": [{"duration": "20s", "rps": 100}, {"duration": "15s", "rps": 100}],
        },
        slos=["p99_ms < 250"],
    )
    scaled = scale_experiment(original, 80.0)  # 40 s -> 80 s
    assert [s.duration for s in scaled.load.stages] == pytest.approx([40.0, 30.0])
    assert [s.rps for s in scaled.load.stages] == [100.0, 100.0]
    assert scaled.load.rps == 20.0
    assert scaled.slos == original.slos


def test_scaling_leaves_open_ended_faults_open() -> None:
    """A fault without a duration stays without one after scaling."""
    scaled = scale_experiment(experiment(faults=[behaviour("open", "30s")]), 35.0)
    assert scaled.faults[0].duration is None
    assert scaled.faults[0].at == pytest.approx(15.0)


def test_scaling_to_zero_is_refused() -> None:
    """A scaled length of zero is a ValueError, not a run of nothing."""
    with pytest.raises(ValueError, match="longer than 0s"):
        scale_experiment(experiment(), 0.0)


def test_scaled_revert_still_comes_before_apply_at_one_instant() -> None:
    """Scaling by a factor whose float products differ in the last bit keeps revert first."""
    from harness.engine.timeline import plan_actions, scale_experiment
    from harness.spec.experiment import Experiment

    steps = [
        {"name": f"s{i}", "kind": "traffic_split", "target": "catalog", "at": f"{15 * i}s",
         "duration": "15s", "params": {"v1": 50, "v2": 50}}
        for i in range(4)
    ]  # fmt: skip
    experiment = Experiment.model_validate(
        {"title": "t", "target": {"topology": "x.yaml"}, "faults": steps,
         "load": {"warmup": "5s", "duration": "60s"}}
    )  # fmt: skip
    for total in (20.0, 23.0, 30.0, 35.0, 41.0):
        actions = plan_actions(scale_experiment(experiment, total))
        for i in (1, 2, 3):
            names = [(a.kind, a.fault) for a in actions]
            assert names.index(("revert", f"s{i - 1}")) < names.index(("apply", f"s{i}"))


def test_a_late_apply_moves_its_revert_as_much_later() -> None:
    """A fault that went on 3s late is reverted 3s later, so it lasts its duration; the
    other faults' actions stay where they were."""
    actions = plan_actions(
        experiment(faults=[behaviour("f", "20s", "15s"), behaviour("g", "22s", "5s")])
    )
    apply_f, rest = actions[0], actions[1:]
    assert after_apply(rest, apply_f, 3.0) == [
        Action(32.0, "apply", "g"),
        Action(37.0, "revert", "g"),
        Action(48.0, "revert", "f"),
        Action(70.0, "end"),
    ]
    assert after_apply(rest, apply_f, 0.0) == rest


def test_a_late_revert_never_passes_the_next_step() -> None:
    """Back-to-back steps (a canary's 10 % then 50 %): the first went on 65 ms late, yet
    its revert still comes before the next step's apply, or its rollback would undo the
    step that follows it (canary-shift's 50 % step then served v2 nothing)."""
    actions = plan_actions(
        experiment(faults=[behaviour("a", "0s", "15s"), behaviour("b", "15s", "15s")])
    )
    apply_a, rest = actions[0], actions[1:]
    after = after_apply(rest, apply_a, 0.065)
    names = [(a.kind, a.fault) for a in after]
    assert names.index(("revert", "a")) < names.index(("apply", "b"))
    assert after[0] == Action(rest[0].at_s, "revert", "a")


def test_a_revert_pushed_past_the_end_is_dropped() -> None:
    """Late enough that its duration reaches the end of the load: the fault stays on until
    the end (the ledger rolls it back), never reverted before its time is up."""
    actions = plan_actions(experiment(faults=[behaviour("f", "20s", "15s")]))
    assert after_apply(actions[1:], actions[0], 30.0) == [Action(70.0, "end")]


def fault_event(name: str, start: float, end: float | None) -> FaultEvent:
    return FaultEvent(
        name=name, kind="service_behaviour", target="catalog-0", start_s=start, end_s=end
    )


def test_shortfalls_name_a_squeezed_fault_and_one_never_applied() -> None:
    """A fault that went on 3s late and lasted 30 ms is named with why; one that lasted its
    duration is not; one whose time came without an applied event is named too."""
    exp = experiment(
        faults=[behaviour("f", "20s", "15s"), behaviour("g", "30s", "5s"), behaviour("h", "40s")]
    )
    notes = shortfalls(exp, [fault_event("f", 33.0, 33.03), fault_event("h", 50.0, None)], 70.0)
    assert len(notes) == 2
    assert any(n.startswith("fault f lasted 0.03s of its 15s: it went on 3.0s late") for n in notes)
    assert any(n.startswith("fault g was due at 40.0s but never went on") for n in notes)
    assert (
        shortfalls(
            exp,
            [
                fault_event("f", 30.0, 45.1),
                fault_event("g", 40.0, 45.0),
                fault_event("h", 50.0, None),
            ],
            70.0,
        )
        == []
    )
    # an aborted run that ended before a fault's time does not blame the fault
    assert shortfalls(exp, [fault_event("f", 30.0, None)], 35.0) == []


def test_scaled_network_partition_phases_are_the_unscaled_in_proportion(repo_root: Path) -> None:
    """`--duration 40s` on network-partition (60 s) gives every phase at 2/3 of its own
    times; `after:<fault>` runs from that fault's end to the end of the run at any scale
    (it overlaps the later fault's `during:`, as documented), and the requests' (and the
    live line's) phase in the gap between the faults is `between`, not `after`."""
    own = check_experiment(repo_root / "experiments" / "network-partition.yaml").experiment
    scaled = scale_experiment(own, 40.0)

    def phases(e: Experiment) -> dict[str, tuple[float, float]]:
        events = [
            FaultEvent(
                name=f.name,
                kind=f.kind,
                target=f.target,
                start_s=e.load.warmup + f.at,
                end_s=e.load.warmup + f.at + (f.duration or 0.0),
            )
            for f in e.faults
        ]
        return {p.name: (p.start_s, p.end_s) for p in experiment_phases(e, events)}

    unscaled, small = phases(own), phases(scaled)
    assert unscaled["after:catalog-1-partitioned"] == (30.0, 60.0)
    assert unscaled["during:catalog-1-resets"] == (35.0, 50.0)
    assert small.keys() == unscaled.keys()
    for name, (start, end) in unscaled.items():
        assert small[name] == pytest.approx((start * 2 / 3, end * 2 / 3)), name
    records = [PhaseRecord(name=n, start_s=s, end_s=e) for n, (s, e) in small.items()]
    gap = (small["during:catalog-1-partitioned"][1] + small["during:catalog-1-resets"][0]) / 2
    assert list(label_phases(pd.Series([gap, 35.0]), records)) == ["between", "after"]
    assert phase_at(gap, scaled.load.warmup, [], 1, len(scaled.faults)) == "between"
    assert phase_at(35.0, scaled.load.warmup, [], 2, len(scaled.faults)) == "after"


def test_late_load_note_ignores_a_normal_start_and_never_says_zero() -> None:
    """A readiness a few tenths of a second after t0 is every start's; no note for it."""
    assert late_load_note(0.0, 5.0) is None
    assert late_load_note(0.04, 5.0) is None
    assert late_load_note(0.9, 5.0) is None
    assert late_load_note(1.9, 10.0) is None  # under a fifth of a 10s warm-up


def test_late_load_note_names_a_start_that_took_part_of_the_warm_up() -> None:
    """Late by a share of the warm-up: the note says how late, of which warm-up, and why it matters."""
    note = late_load_note(1.5, 5.0)
    assert note is not None
    assert "1.5s into the 5s warm-up" in note and "not sent" in note
    short = late_load_note(1.0, 2.0)  # a short warm-up: one second is the floor
    assert short is not None and "1.0s into the 2s warm-up" in short


def test_late_load_note_past_the_warm_up_names_the_measured_time_lost() -> None:
    """Ready after the warm-up ended: the note says how much of the measured window lacks load."""
    note = late_load_note(7.25, 5.0)
    assert note is not None
    assert "past the 5s warm-up" in note and "first 2.2s" in note
