"""Phase intervals and each request's primary phase (harness.analysis.phases)."""

from __future__ import annotations

import pandas as pd

from harness.analysis.phases import experiment_phases, label_phases, phase_intervals, with_phase
from harness.spec import Experiment
from harness.store.model import FaultEvent


def fault(name: str, start: float, end: float | None) -> FaultEvent:
    return FaultEvent(name=name, kind="toxic", target="frontend->catalog", start_s=start, end_s=end)


def by_name(phases: list) -> dict[str, tuple[float, float]]:
    return {p.name: (p.start_s, p.end_s) for p in phases}


def test_one_fault_gives_before_during_after_and_whole() -> None:
    """warmup, before, during:x, after and whole cover the timeline."""
    phases = by_name(phase_intervals(5.0, 65.0, [fault("x", 20.0, 35.0)]))
    assert phases == {
        "warmup": (0.0, 5.0),
        "before": (5.0, 20.0),
        "during:x": (20.0, 35.0),
        "after:x": (35.0, 65.0),
        "after": (35.0, 65.0),
        "whole": (5.0, 65.0),
    }


def test_after_a_fault_while_another_stays_on() -> None:
    """after:<fault> runs from that fault's end, even when an open-ended fault leaves no after."""
    phases = by_name(
        phase_intervals(5.0, 60.0, [fault("setup", 5.0, None), fault("x", 20.0, 30.0)])
    )
    assert phases["after:x"] == (30.0, 60.0)
    assert "after:setup" not in phases
    assert "after" not in phases


def test_without_faults_before_is_the_measured_run_and_there_is_no_after() -> None:
    """A fault-free run has before == whole and no after phase."""
    phases = by_name(phase_intervals(5.0, 30.0, []))
    assert phases["before"] == phases["whole"] == (5.0, 30.0)
    assert "after" not in phases


def test_a_run_stopped_in_its_warmup_has_no_phase_that_ends_before_it_starts() -> None:
    """Stopped at 2 s of a 5 s warm-up: it warmed up until it stopped and measured nothing;
    stopped before its load's t0 (a negative end), every phase is empty at 0."""
    phases = by_name(phase_intervals(5.0, 2.0, []))
    assert phases == {"warmup": (0.0, 2.0), "before": (2.0, 2.0), "whole": (2.0, 2.0)}
    phases = by_name(phase_intervals(5.0, -0.3, [fault("x", 1.0, None)]))
    assert all(start <= end for start, end in phases.values())
    assert phases["warmup"] == phases["whole"] == (0.0, 0.0)


def test_open_ended_fault_lasts_until_the_end_and_leaves_no_after() -> None:
    """A fault without an end runs to the end of the run."""
    phases = by_name(phase_intervals(5.0, 30.0, [fault("x", 10.0, None)]))
    assert phases["during:x"] == (10.0, 30.0)
    assert "after" not in phases


def test_overlapping_faults_each_get_their_window() -> None:
    """Two overlapping faults: both during phases; after starts at the later end."""
    phases = by_name(phase_intervals(0.0, 60.0, [fault("b", 15.0, 40.0), fault("a", 10.0, 20.0)]))
    assert phases["during:a"] == (10.0, 20.0)
    assert phases["during:b"] == (15.0, 40.0)
    assert phases["before"] == (0.0, 10.0)
    assert phases["after"] == (40.0, 60.0)


def test_labels_pick_the_earliest_fault_and_name_gaps_between() -> None:
    """Primary phase: earliest-started fault wins an overlap; gaps are 'between'."""
    phases = phase_intervals(
        5.0, 60.0, [fault("a", 10.0, 20.0), fault("b", 15.0, 25.0), fault("c", 30.0, 35.0)]
    )
    times = pd.Series([1.0, 5.0, 12.0, 17.0, 22.0, 27.0, 31.0, 40.0, 99.0])
    assert label_phases(times, phases).tolist() == [
        "warmup",
        "before",
        "during:a",
        "during:a",
        "during:b",
        "between",
        "during:c",
        "after",
        "after",
    ]


def test_experiment_phases_use_warmup_and_total_duration() -> None:
    """Phases of an experiment end at warm-up + measured duration unless told otherwise."""
    experiment = Experiment.model_validate(
        {
            "title": "t",
            "target": {"topology": "t.yaml"},
            "load": {"duration": "60s", "warmup": "5s"},
        }
    )
    assert by_name(experiment_phases(experiment, []))["whole"] == (5.0, 65.0)
    assert by_name(experiment_phases(experiment, [], end_s=30.0))["whole"] == (5.0, 30.0)


def abort_experiment() -> Experiment:
    """experiments/external-istio-abort.yaml's timeline: warm-up 5s, a fault at 10s for 20s."""
    return Experiment.model_validate(
        {
            "title": "t",
            "target": {"topology": "t.yaml"},
            "load": {"duration": "45s", "warmup": "5s"},
            "faults": [
                {
                    "name": "x",
                    "kind": "service_behaviour",
                    "target": "catalog-0",
                    "at": "10s",
                    "duration": "20s",
                    "params": {"error_rate": 0.1},
                }
            ],
        }
    )


def test_a_fault_without_an_applied_event_does_not_make_before_the_whole_run() -> None:
    """The fault's time came but it has no applied event (or one that lies past the end):
    `before` ends at its planned start (15s), not at the end of the run (50s)."""
    experiment = abort_experiment()
    assert by_name(experiment_phases(experiment, []))["before"] == (5.0, 15.0)
    late = [fault("x", 60.0, 80.0)]  # mis-timed: measured from another origin
    assert by_name(experiment_phases(experiment, late))["before"] == (5.0, 15.0)
    applied = by_name(experiment_phases(experiment, [fault("x", 15.02, 35.02)]))
    assert applied["before"] == (5.0, 15.02)
    assert applied["during:x"] == (15.02, 35.02)
    # an aborted run that stopped before the fault's time: `before` is all it measured
    assert by_name(experiment_phases(experiment, [], end_s=12.0))["before"] == (5.0, 12.0)


def test_with_phase_leaves_the_requests_it_was_given_alone() -> None:
    """The phase column is on the returned frame only (it shares, not copies, the rest)."""
    requests = pd.DataFrame({"intended_s": [0.5, 7.0, 30.0], "status": [200, 503, 200]})
    phases = phase_intervals(5.0, 40.0, [])
    labelled = with_phase(requests, phases)
    assert list(labelled["phase"]) == ["warmup", "before", "before"]
    assert "phase" not in requests.columns
    labelled.loc[0, "status"] = 0
    assert requests.loc[0, "status"] == 200
