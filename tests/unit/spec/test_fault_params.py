"""Each fault kind's params checked by its model before anything is deployed.

One bad params case per kind, through the real CLI: `validate` and `run` exit 2 with one
line naming the file, the fault and the field; `run` writes no run directory and leaves
no deployment.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.spec import FAULT_KINDS
from harness.spec.params import TOXIC_ATTRIBUTES
from tests.fixtures.make_run import SHOP

HEAD = """\
title: t
target: {topology: topologies/shop.yaml}
load: {rps: 50, duration: 30s, warmup: 5s}
faults:
"""

# (kind, the fault as YAML, expected "<field path>: <problem>")
BAD_PARAMS = [
    ("toxic", "{name: f, kind: toxic, target: frontend->catalog, params: {type: latency,"
     " attributes: {lat: 100}}}",
     "faults[0].params.attributes.lat: unknown field; expected one of jitter, latency"),
    ("proxy_down", "{name: f, kind: proxy_down, target: frontend->catalog, params: {all: true}}",
     "faults[0].params.all: unknown field; nothing is expected here"),
    ("mesh_fault", "{name: f, kind: mesh_fault, target: catalog, params: {abort: {status: 503}}}",
     "faults[0].params.abort.status: unknown field; expected one of grpcStatus, httpStatus, percentage"),
    ("policy", "{name: f, kind: policy, target: catalog, params: {http: [{retries: {attempt: 3}}]}}",
     "faults[0].params.http[0].retries.attempt: unknown field; expected one of attempts,"),
    ("traffic_split", "{name: f, kind: traffic_split, target: catalog, params: {v1: 90}}",
     "faults[0].params: expected version weights adding up to 100"),
    ("service_behaviour", "{name: f, kind: service_behaviour, target: catalog,"
     " params: {latency: {mean: 800}}}",
     "faults[0].params.latency.mean: unknown field; expected one of distribution, mean_ms,"
     " stddev_ms"),
    ("process_kill", "{name: f, kind: process_kill, target: 'sidecar:catalog-0',"
     " params: {signal: 9}}", "faults[0].params.signal: unknown field"),
    ("process_pause", "{name: f, kind: process_pause, target: 'service:catalog-0',"
     " params: {for: 3s}}", "faults[0].params.for: unknown field"),
    ("process_restart", "{name: f, kind: process_restart, target: control-plane,"
     " params: {graceful: false}}", "faults[0].params.graceful: unknown field"),
    ("rolling_restart", "{name: f, kind: rolling_restart, target: catalog,"
     " params: {intervall: 1s}}",
     "faults[0].params.intervall: unknown field; expected one of interval"),
    ("control_plane_outage", "{name: f, kind: control_plane_outage, duration: 5s,"
     " params: {restart: true}}", "faults[0].params.restart: unknown field"),
    ("container_kill", "{name: f, kind: container_kill, target: catalog-0, params: {x: 1}}",
     "faults[0].params.x: unknown field"),
    ("container_pause", "{name: f, kind: container_pause, target: catalog-0, params: {x: 1}}",
     "faults[0].params.x: unknown field"),
    ("container_restart", "{name: f, kind: container_restart, target: catalog-0,"
     " params: {x: 1}}", "faults[0].params.x: unknown field"),
    ("network_disconnect", "{name: f, kind: network_disconnect, target: catalog-0,"
     " params: {x: 1}}", "faults[0].params.x: unknown field"),
    ("istio_fault", "{name: f, kind: istio_fault, target: catalog,"
     " params: {abort: {httpStatus: 999}}}",
     "faults[0].params.abort.httpStatus: Input should be less than or equal to 599"),
    ("istio_policy", "{name: f, kind: istio_policy, target: virtualservice/catalog,"
     " params: {patch: {fault: {}}}}",
     "faults[0].params.patch: expected a merge patch of connectionPool, outlierDetection,"
     " retries, timeout; not fault"),
    ("istio_traffic_split", "{name: f, kind: istio_traffic_split, target: catalog,"
     " params: {weights: {v1: 90}}}",
     "faults[0].params.weights: expected subset weights adding up to 100"),
    ("linkerd_policy", "{name: f, kind: linkerd_policy, target: service/catalog,"
     " params: {annotations: {timeout.linkerd.io/request: soon}}}",
     "faults[0].params.annotations: expected a duration like '30s'"),
    ("linkerd_route_split", "{name: f, kind: linkerd_route_split, target: httproute/catalog,"
     " params: {backends: {catalog: -1}}}",
     "faults[0].params.backends: expected Service weights"),
    ("consul_policy", "{name: f, kind: consul_policy, target: serviceresolver/catalog,"
     " params: {}}", "faults[0].params.patch: required field is missing"),
    ("pod_delete", "{name: f, kind: pod_delete, target: app=catalog, params: {count: 0}}",
     "faults[0].params.count: Input should be greater than or equal to 1"),
    ("deployment_scale", "{name: f, kind: deployment_scale, target: catalog,"
     " params: {replicas: -1}}",
     "faults[0].params.replicas: Input should be greater than or equal to 0"),
]  # fmt: skip

MORE_BAD_PARAMS = [
    ("negative toxic attribute", "{name: f, kind: toxic, target: frontend->catalog,"
     " params: {type: slicer, attributes: {delay: -1}}}",
     "faults[0].params.attributes.delay: Input should be greater than or equal to 0"),
    ("mesh fault that does nothing", "{name: f, kind: mesh_fault, target: catalog, params: {}}",
     "faults[0].params: expected delay, abort or both"),
    ("empty policy patch", "{name: f, kind: policy, target: catalog, params: {}}",
     "faults[0].params: expected a merge patch"),
    ("bad duration in a policy", "{name: f, kind: policy, target: catalog,"
     " params: {trafficPolicy: {outlierDetection: {interval: soon}}}}",
     "faults[0].params.trafficPolicy.outlierDetection.interval: expected a duration"),
    ("error rate above 1", "{name: f, kind: service_behaviour, target: catalog,"
     " params: {error_rate: 2}}", "faults[0].params.error_rate: Input should be less than"),
    ("unknown route", "{name: f, kind: mesh_fault, target: catalog, route: checkout,"
     " params: {abort: {httpStatus: 503}}}",
     "faults[0].route: catalog has no route 'checkout' (routes: default)"),
    ("Kubernetes fault on the reference mesh", "{name: f, kind: deployment_scale,"
     " target: catalog, params: {replicas: 0}}",
     "faults[0].kind: deployment_scale goes through the Kubernetes API of a mesh meshproof"
     " did not deploy: it needs an external target with kubernetes:"),
]  # fmt: skip


def write(tmp_path: Path, fault: str, extra: str = "") -> Path:
    """The experiment at tmp/exp.yaml with one fault, next to the shop topology."""
    (tmp_path / "topologies").mkdir(exist_ok=True)
    shutil.copy(SHOP, tmp_path / "topologies" / "shop.yaml")
    path = tmp_path / "exp.yaml"
    path.write_text(HEAD + f"  - {fault}\n" + extra, encoding="utf-8")
    return path


def test_the_table_has_one_case_per_fault_kind() -> None:
    """Every kind of harness.spec.faults has a bad-params case below."""
    assert sorted(kind for kind, _, _ in BAD_PARAMS) == sorted(FAULT_KINDS)


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(
    ("case", "fault", "expected"),
    BAD_PARAMS + MORE_BAD_PARAMS,
    ids=[c[0] for c in BAD_PARAMS + MORE_BAD_PARAMS],
)
def test_bad_params_are_one_line_before_anything_is_deployed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, case: str, fault: str,
    expected: str,
) -> None:  # fmt: skip
    """validate / run: exit 2, one stderr line '<file>: <fault's field>: <problem>'; run writes
    no run directory and leaves no deployment state."""
    path = write(tmp_path, fault)
    reports, state = tmp_path / "reports", tmp_path / "state"
    args = ["--out", str(reports), "--state-dir", str(state), "--quiet"] if command == "run" else []
    assert main([command, str(path), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"meshproof: {path}: {expected}"), lines[0]
    assert not reports.exists() or not any(reports.iterdir())
    assert not state.exists() or not any(state.rglob("*.json"))


@pytest.mark.parametrize("toxic", sorted(TOXIC_ATTRIBUTES))
def test_every_toxic_type_takes_its_own_attributes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toxic: str
) -> None:
    """Each Toxiproxy type validates with every attribute of its own (exit 0)."""
    names = TOXIC_ATTRIBUTES[toxic].model_fields
    attributes = ", ".join(f"{name}: 1" for name in names)
    fault = (
        f"{{name: f, kind: toxic, target: frontend->catalog, duration: 5s,"
        f" params: {{type: {toxic}, attributes: {{{attributes}}}}}}}"
    )
    assert main(["validate", str(write(tmp_path, fault))]) == 0, capsys.readouterr().err


def test_a_policy_fault_route_is_known_to_a_later_mesh_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A route a policy fault adds may be named by a mesh_fault's `route:`."""
    fault = (
        "{name: routes, kind: policy, target: catalog, params: {http: [{name: slow},"
        " {name: default}]}}\n  - {name: f, kind: mesh_fault, target: catalog, route: slow,"
        " at: 5s, params: {delay: {fixedDelay: 100ms}}}"
    )
    assert main(["validate", str(write(tmp_path, fault))]) == 0, capsys.readouterr().err


def test_bad_rollback_params_name_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rollback's policy patch is checked as a policy fault's is."""
    extra = "rollbacks:\n  - {kind: policy, target: catalog, params: {http: [{timout: 1s}]}}\n"
    path = write(tmp_path, "{name: f, kind: proxy_down, target: frontend->catalog}", extra)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "rollbacks[0].params.http[0].timout: unknown field; expected one of fault," in err


def test_behaviour_values_yaml_reads_as_text_are_sent_as_numbers(tmp_path: Path) -> None:
    """YAML 1.1 reads `1e-1` and a quoted "0.5" as text; the sample service takes only JSON
    numbers, so the experiment's behaviour change and rollback carry the typed values (a
    fault or rollback sent as text would be refused mid-run)."""
    from harness.spec.experiment import load_experiment

    fault = (
        "{name: f, kind: service_behaviour, target: catalog,"
        " params: {error_rate: 1e-1, latency: {mean_ms: '25'}, hang: 'false'}}"
    )
    extra = (
        "rollbacks:\n  - {kind: service_behaviour, target: catalog, params: {error_rate: '0'}}\n"
    )
    experiment, _ = load_experiment(write(tmp_path, fault, extra))
    assert experiment.faults[0].params == {
        "error_rate": 0.1,
        "latency": {"mean_ms": 25.0},
        "hang": False,
    }
    assert experiment.rollbacks[0].params == {"error_rate": 0.0}


def test_a_behaviour_value_that_is_no_number_is_refused_at_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text that is no number, or NaN, is one line at validate, before anything runs."""
    for value, problem in (("lots", "valid number"), (".nan", "finite number")):
        fault = f"{{name: f, kind: service_behaviour, target: catalog, params: {{error_rate: {value}}}}}"
        assert main(["validate", str(write(tmp_path, fault))]) == 2
        err = capsys.readouterr().err
        assert "faults[0].params.error_rate:" in err and problem in err, err


TOPOLOGY_GIVEN = (
    "this is a topology file; `run` and `validate` take an experiment file"
    " (`meshproof up` takes a topology)"
)
EXPERIMENT_GIVEN = (
    "this is an experiment file; `up` takes a topology file (`meshproof run` takes an experiment)"
)


@pytest.mark.parametrize(
    ("command", "given", "expected"),
    [
        ("validate", "topology", TOPOLOGY_GIVEN),
        ("run", "topology", TOPOLOGY_GIVEN),
        ("up", "experiment", EXPERIMENT_GIVEN),
    ],
)
def test_the_wrong_kind_of_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, given: str, expected: str
) -> None:
    """A topology given to validate/run, or an experiment given to up: one line saying so."""
    experiment = write(tmp_path, "{name: f, kind: proxy_down, target: frontend->catalog}")
    path = tmp_path / "topologies" / "shop.yaml" if given == "topology" else experiment
    args = ["--out", str(tmp_path / "reports")] if command == "run" else []
    assert main([command, str(path), *args]) == 2
    assert capsys.readouterr().err == f"meshproof: {path}: {expected}\n"
    assert not (tmp_path / "reports").exists()
