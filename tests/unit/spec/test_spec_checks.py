"""What validate and run refuse or warn about before deploying: the timeline's room for each
recovery check (as written and scaled to --duration), the `recovery:` block, and warnings
about SLOs a mesh_fault rules out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.errors import ExperimentError
from harness.spec import Experiment
from harness.spec.lint import experiment_warnings
from harness.spec.timing import scaled_problem, shortest_total, timeline_problem
from mesh_runtime.validation import model_from_data
from tests.fixtures.make_run import SHOP

BEHAVIOUR = {"kind": "service_behaviour", "target": "catalog-1", "params": {"error_rate": 1}}


def parse(**extra: object) -> Experiment:
    base = {"title": "t", "target": {"topology": "topologies/shop.yaml"}}
    return model_from_data({**base, **extra}, Experiment, "x.yaml", ExperimentError)


def recovering(duration: str = "30s", **extra: object) -> Experiment:
    """Warm-up 5s, a fault from 10s to 30s of the measured run (ends at 35s), recovery_s judged."""
    fault = {"name": "down", "at": "10s", "duration": "20s", **BEHAVIOUR}
    return parse(
        load={"warmup": "5s", "duration": duration},
        faults=[fault],
        slos=["recovery_s < 10"],
        **extra,
    )


def test_the_file_must_leave_room_for_the_recovery_check() -> None:
    """A fault ending at 35s needs 35 + 5 hold + 1 = 41s of run: load.duration 36s, not 32s."""
    assert timeline_problem(recovering("36s")) is None
    path, problem = timeline_problem(recovering("32s")) or ("", "")
    assert path == "load.duration"
    assert problem == (
        "32s leaves no room to judge recovery_s: fault 'down' ends at 35s and the recovery"
        " check needs 6s more (5s holding, from the next whole second); make load.duration"
        " last at least 36s"
    )


def test_an_after_phase_that_never_begins_is_refused() -> None:
    """'after' with a fault left on to the end, or 'after:x' of a fault lasting past the
    load, would be no data after deploy: refused naming the SLO."""
    setup = {"name": "setup", "at": "0s", **BEHAVIOUR}
    down = {"name": "down", "at": "10s", "duration": "20s", **BEHAVIOUR}
    both = parse(load={"duration": "40s"}, faults=[setup, down], slos=["error_rate < 0.1 after"])
    assert timeline_problem(both) == (
        "slos[0]",
        "'error_rate < 0.1 after': fault 'setup' stays on until the load ends (45s), so phase"
        " 'after' never begins; judge after:<fault> of the faults that end",
    )
    ok = parse(load={"duration": "40s"}, faults=[setup, down], slos=["error_rate < 0.1 after:down"])
    assert timeline_problem(ok) is None
    long = parse(load={"duration": "25s"}, faults=[down], slos=["error_rate < 0.1 after:down"])
    assert (
        "fault 'down' stays on until the load ends (30s)" in (timeline_problem(long) or ("", ""))[1]
    )


def test_a_recovery_hold_of_its_own_needs_its_own_room() -> None:
    """A fault's `recovery: {hold: 10s}` needs 11s after its end."""
    fault = {
        "name": "down",
        "at": "10s",
        "duration": "20s",
        "recovery": {"conditions": ["error_rate < 0.01"], "hold": "10s"},
        **BEHAVIOUR,
    }
    experiment = parse(
        load={"warmup": "5s", "duration": "36s"}, faults=[fault], slos=["recovery_s < 10"]
    )
    assert "make load.duration last at least 41s" in (timeline_problem(experiment) or ("", ""))[1]


def test_no_recovery_slo_needs_no_room() -> None:
    """Without a recovery_s SLO a fault may end with the load."""
    fault = {"name": "down", "at": "10s", "duration": "20s", **BEHAVIOUR}
    experiment = parse(load={"duration": "30s"}, faults=[fault], slos=["error_rate < 0.1"])
    assert timeline_problem(experiment) is None
    assert scaled_problem(experiment, 2.0) is None


def test_scaled_duration_too_short_names_the_shortest_that_works() -> None:
    """Scaled to 20s, the fault ends at 17.5s of 20s: refused with the shortest length (48s)."""
    experiment = recovering("35s")  # run 40s, fault ends at 35s: 7/8 of the way
    assert shortest_total(experiment) == pytest.approx(48.0)
    assert scaled_problem(experiment, 48.0) is None
    assert scaled_problem(experiment, 20.0) == (
        "20s is too short: scaled to it, fault 'down' ends at 17.5s and the recovery check"
        " needs 6s more (5s holding, from the next whole second); use at least 48s"
    )


def test_scaled_measured_part_shorter_than_a_window_is_refused() -> None:
    """No fault: `baseline --duration 500ms` judged its 5 SLOs on 46 requests, under one
    one-second window after the warm-up. The measured part must hold one window."""
    experiment = parse(load={"warmup": "5s", "duration": "60s"}, slos=["error_rate < 0.1"])
    assert shortest_total(experiment) == pytest.approx(65 / 60)
    assert scaled_problem(experiment, 1.1) is None
    assert scaled_problem(experiment, 0.5) == (
        "0.5s is too short: scaled to it, the measured part (after the warm-up) lasts 0.46s,"
        " less than one one-second window; use at least 2s"
    )


def test_scaled_fault_shorter_than_a_window_is_refused() -> None:
    """A 2s fault in a 60s run scaled to 10s would last 0.33s: at least 30s is needed."""
    fault = {"name": "blip", "at": "10s", "duration": "2s", **BEHAVIOUR}
    experiment = parse(load={"warmup": "0s", "duration": "60s"}, faults=[fault])
    assert scaled_problem(experiment, 10.0) == (
        "10s is too short: scaled to it, fault 'blip' lasts 0.33s, less than one one-second"
        " window; use at least 30s"
    )


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        ("recovery_s < 10 before", "recovery_s is measured after a fault ends"),
        ("recovery_s < 10 during:open", "fault 'open' has no duration, so no recovery"),
    ],
)
def test_recovery_slo_needs_a_fault_that_ends(slo: str, message: str) -> None:
    """recovery_s before any fault, or of a fault that never ends, is refused."""
    faults = [{"name": "open", **BEHAVIOUR}]
    with pytest.raises(ExperimentError, match=message):
        parse(faults=faults, slos=[slo])
    with pytest.raises(ExperimentError, match="recovery_s needs a fault with a duration"):
        parse(faults=faults, slos=["recovery_s < 10"])


def test_recovery_block_parses_conditions_and_hold() -> None:
    """`recovery: {conditions, hold}` on the experiment and on a fault."""
    experiment = recovering(
        "36s", recovery={"conditions": ["error_rate < 0.01", "p99_ms < 250"], "hold": "3s"}
    )
    assert experiment.recovery is not None
    assert [c.describe() for c in experiment.recovery.conditions] == [
        "error_rate < 0.01",
        "p99_ms < 250",
    ]
    assert experiment.recovery.hold_s == 3


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"conditions": ["trace_completeness > 0.9"]}, "recovery.conditions: 'trace_completeness'"
         " is not measured per one-second window"),
        ({"conditions": ["p99_ms < 250 after"]}, "recovery.conditions: 'p99_ms < 250 after': a"
         " recovery condition has no phase"),
        ({"conditions": []}, "recovery.conditions: List should have at least 1 item"),
        ({"conditions": ["error_rate < 0.01"], "hold": "2.5s"}, "recovery.hold: expected whole"
         " seconds"),
        ({"conditions": ["error_rate < 0.01"], "for": "5s"}, "recovery.for: unknown field;"
         " expected one of conditions, hold"),
    ],
)  # fmt: skip
def test_bad_recovery_block_is_one_line(block: dict[str, object], message: str) -> None:
    """Each bad `recovery:` block names its field."""
    with pytest.raises(ExperimentError) as caught:
        recovering("36s", recovery=block)
    assert str(caught.value).startswith(f"x.yaml: {message}"), str(caught.value)


def _abort(percentage: float, **extra: object) -> dict[str, object]:
    return {
        "name": "abort",
        "kind": "mesh_fault",
        "target": "catalog",
        "at": "10s",
        "duration": "20s",
        "params": {"abort": {"httpStatus": 503, "percentage": percentage}, **extra},
    }


def test_warns_when_an_slo_expects_retries_of_aborted_requests() -> None:
    """retries_per_krequests > 0 during a mesh_fault abort: one warning naming the SLO."""
    experiment = parse(
        load={"duration": "40s"},
        faults=[_abort(10)],
        slos=["retries_per_krequests > 0 during:abort", "p99_ms < 500"],
    )
    warnings = experiment_warnings(experiment, "x.yaml")
    assert [w.path for w in warnings] == ["slos[0]"]
    assert "an aborted request is never retried" in str(warnings[0])
    assert str(warnings[0]).startswith("x.yaml: slos[0]: 'retries_per_krequests > 0 during:abort'")


def test_warns_when_an_error_rate_needs_retries_to_mask_an_abort() -> None:
    """error_rate < 0.001 while 10 % are aborted warns; error_rate < 0.2 does not; nor does
    an SLO of a phase the fault is not on, nor a fault limited to a header."""
    experiment = parse(
        load={"duration": "40s"},
        faults=[_abort(10)],
        slos=["error_rate < 0.001 during:abort", "error_rate < 0.2 during:abort",
              "error_rate < 0.001 before", "error_rate < 0.01"],
    )  # fmt: skip
    warnings = experiment_warnings(experiment, "x.yaml")
    assert [w.path for w in warnings] == ["slos[0]", "slos[3]"]
    assert "aborts 10 % of the requests to catalog" in str(warnings[0])
    probe = parse(
        load={"duration": "40s"},
        faults=[_abort(100, headers={"x-probe": {"exact": "1"}})],
        slos=["error_rate < 0.001"],
    )
    assert experiment_warnings(probe, "x.yaml") == []


def abort_experiment(tmp_path: Path, slos: str) -> Path:
    """exp.yaml in `tmp_path` (the shop topology beside it): 40 s of load, a 503 abort on
    catalog from 10 s for 20 s, and `slos` (YAML list lines)."""
    (tmp_path / "topologies").mkdir()
    shutil.copy(SHOP, tmp_path / "topologies" / "shop.yaml")
    path = tmp_path / "exp.yaml"
    path.write_text(
        "title: t\ntarget: {topology: topologies/shop.yaml}\nload: {duration: 40s}\n"
        "faults:\n  - {name: abort, kind: mesh_fault, target: catalog, at: 10s, duration: 20s,"
        " params: {abort: {httpStatus: 503, percentage: 10}}}\n"
        "slos:\n" + slos,
        encoding="utf-8",
    )
    return path


def test_validate_prints_warnings_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`meshproof validate`: a 'warning:' line on stderr per warning, the ok line, exit 0."""
    path = abort_experiment(tmp_path, "  - retries_per_krequests > 1 during:abort\n")
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("ok: t (1 fault, 1 SLO, 45s)")
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: {path}: slos[0]: "), lines


def test_validate_refuses_a_short_duration_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`validate --duration 10s` of experiments/outlier-ejection.yaml: exit 2, the shortest."""
    path = SHOP.parent.parent / "outlier-ejection.yaml"
    assert main(["validate", str(path), "--duration", "10s"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"meshproof: {path}: --duration: 10s is too short: ")
    assert err.endswith("; use at least 17s\n")
    assert main(["validate", str(path), "--duration", "17s"]) == 0


def test_run_prepares_the_scaled_experiment_with_its_warnings(tmp_path: Path) -> None:
    """`run`'s prepare: the warnings travel beside the scaled experiment; a too-short
    --duration is refused before anything starts."""
    from harness.engine.runner import prepare

    path = abort_experiment(tmp_path, "  - error_rate < 0.001\n  - recovery_s < 10\n")
    prepared = prepare(path, 30.0)
    assert prepared.experiment.load.total_duration == pytest.approx(30.0)
    assert prepared.topology == tmp_path / "topologies" / "shop.yaml"
    assert [w.path for w in prepared.warnings] == ["slos[0]"]
    assert prepared.scaled_from_s == pytest.approx(45.0)  # the file's own length, kept
    assert prepare(path, None).scaled_from_s is None
    with pytest.raises(ExperimentError, match="--duration: 20s is too short"):
        prepare(path, 20.0)


def test_a_rollback_naming_no_part_of_the_topology_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rollbacks: [{kind: policy, target: catalgo}]` validated, then failed at the end of
    the run (after the measurement) with a control-plane error."""
    path = abort_experiment(tmp_path, "  - error_rate < 0.5\n")
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "rollbacks:\n  - {kind: policy, target: catalgo}\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"meshproof: {path}: rollbacks[0].target: no service or instance 'catalgo' in topology"
        " shop\n"
    )
    path.write_text(text + "rollbacks:\n  - {kind: reset_toxics}\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 0
