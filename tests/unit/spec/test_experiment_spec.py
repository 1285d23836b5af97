"""The experiment model: SLO grammar, fault kinds, timeline checks."""

import pytest

from harness.errors import ExperimentError
from harness.spec import SLO, Experiment
from harness.spec.phase import AFTER, Phase
from mesh_runtime.validation import model_from_data

BASE = {"title": "t", "target": {"topology": "topologies/shop.yaml"}, "load": {"duration": "20s"}}


def parse(**extra: object) -> Experiment:
    return model_from_data({**BASE, **extra}, Experiment, "x.yaml", ExperimentError)


def test_slo_text_forms() -> None:
    """'metric op number [phase]' parses; the object form gives the same SLO."""
    slo = SLO.model_validate("p99_ms < 250 during:flaky")
    during = Phase.during("flaky")
    assert (slo.metric, slo.op, slo.threshold, slo.phase) == ("p99_ms", "<", 250.0, during)
    assert slo == SLO.model_validate(
        {"metric": "p99_ms", "op": "<", "threshold": 250, "phase": "during:flaky"}
    )
    assert SLO.model_validate("error_rate < 1e-3").threshold == 0.001
    assert SLO.model_validate("trace_completeness >= 0.999").holds(1.0)
    assert not SLO.model_validate("p99_ms < 250").holds(250.0)


def test_faults_parse_by_kind() -> None:
    """Each fault's params are validated by the model of its kind."""
    experiment = parse(
        faults=[
            {
                "name": "lat",
                "kind": "toxic",
                "target": "frontend->catalog-1",
                "at": "5s",
                "duration": "5s",
                "params": {"type": "latency", "attributes": {"latency": 100, "jitter": 10}},
            },
            {
                "name": "abort",
                "kind": "mesh_fault",
                "target": "catalog",
                "at": "1s",
                "params": {"abort": {"httpStatus": 503, "percentage": 30}},
            },
            {"name": "kill", "kind": "process_kill", "target": "sidecar:catalog-0", "at": "2s"},
        ],
        slos=["error_rate < 0.01 during:lat"],
    )
    kinds = [f.kind for f in experiment.faults]
    assert kinds == ["toxic", "mesh_fault", "process_kill"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"slos": ["p99 < 3"]}, "slos[0]: unknown metric 'p99'"),
        ({"slos": ["p99_ms < 3 during:nothing"]}, "names no fault"),
        ({"slos": ["p99_ms lt 3"]}, "expected an SLO like"),
        ({"load": {"duration": "abc"}}, "load.duration: expected a duration"),
        ({"load": {"duration": "0s"}}, "load: duration: the load must last longer than 0s"),
        ({"load": {"duration": "9000h"}}, "load.duration: expected a duration of at most"),
        (
            {"faults": [{"name": "x", "kind": "nope", "target": "a"}]},
            "faults[0]: unknown kind 'nope'",
        ),
        (
            {
                "faults": [
                    {"name": "x", "kind": "toxic", "target": "bad", "params": {"type": "latency"}}
                ]
            },
            "faults[0].target: expected an edge",
        ),
        (
            {
                "faults": [
                    {
                        "name": "x",
                        "kind": "toxic",
                        "target": "a->b",
                        "at": "30s",
                        "params": {"type": "latency"},
                    }
                ]
            },
            "faults[0].at: starts at 30s, after the load ends (20s)",
        ),
        (
            {
                "faults": [
                    {"name": "x", "kind": "proxy_down", "target": "a->b"},
                    {"name": "x", "kind": "proxy_down", "target": "a->c"},
                ]
            },
            "fault names must be distinct",
        ),
        ({"colour": "red"}, "colour: unknown field"),
    ],
)
def test_bad_experiment_is_one_clear_line(extra: dict[str, object], message: str) -> None:
    """Each bad experiment names the file, the field path and the problem on one line."""
    with pytest.raises(ExperimentError) as caught:
        parse(**extra)
    line = str(caught.value)
    assert line.startswith("x.yaml")
    assert "\n" not in line
    assert message in line


def test_after_fault_phase_needs_a_fault_with_a_duration() -> None:
    """'after:<fault>' parses for a fault with a duration and is refused for an open-ended one."""
    behaviour = {"kind": "service_behaviour", "target": "catalog-1", "params": {"error_rate": 1}}
    faults = [{"name": "x", "duration": "5s", **behaviour}, {"name": "open", **behaviour}]
    assert parse(faults=faults, slos=["error_rate < 0.001 after:x"]).slos[0].phase == Phase.after(
        "x"
    )
    with pytest.raises(ExperimentError, match="has no duration"):
        parse(faults=faults, slos=["error_rate < 0.001 after:open"])


def test_plain_after_phase_needs_no_fault_name() -> None:
    """'after' alone (the end of the last fault) is still accepted."""
    behaviour = {"kind": "service_behaviour", "target": "catalog-1", "params": {"error_rate": 1}}
    faults = [{"name": "x", "duration": "5s", **behaviour}]
    assert parse(faults=faults, slos=["error_rate < 0.001 after"]).slos[0].phase == AFTER
