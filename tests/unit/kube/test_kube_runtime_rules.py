"""Which faults `target.runtime: kubernetes` (or `run --runtime kubernetes`) carries out:
the mesh's own fault kinds and pod_delete / deployment_scale on the runtime's own
Deployments, and the process and container kinds (signalled inside the pod); what is
left in REFUSED, and other meshes' API kinds, refused by validate in one line saying why
and what to use instead."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.spec.faults import FAULT_KINDS
from harness.spec.kube_runtime import REFUSED
from tests.fixtures.make_run import SHOP


def write(tmp_path: Path, fault: str, runtime: str = "kubernetes") -> Path:
    (tmp_path / "topologies").mkdir(exist_ok=True)
    shutil.copy(SHOP, tmp_path / "topologies" / "shop.yaml")
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"title: t\ntarget: {{topology: topologies/shop.yaml, runtime: {runtime}}}\n"
        "load: {rps: 50, duration: 30s, warmup: 5s}\n"
        f"faults:\n  - {{name: f, at: 10s, duration: 5s, {fault}}}\n",
        encoding="utf-8",
    )
    return path


ACCEPTED = [
    "kind: pod_delete, target: meshproof.part=catalog-1, params: {count: 1}",
    "kind: pod_delete, target: app=catalog, params: {percentage: 50}",
    "kind: deployment_scale, target: catalog-1, params: {replicas: 0}",
    "kind: deployment_scale, target: control-plane, params: {replicas: 0}",
    "kind: service_behaviour, target: catalog-1, params: {error_rate: 0.3}",
    "kind: toxic, target: frontend->catalog-1, params: {type: latency, attributes: {latency: 100}}",
    "kind: mesh_fault, target: catalog, params: {abort: {httpStatus: 503, percentage: 10}}",
    "kind: rolling_restart, target: sidecars, params: {interval: 1s}",
    "kind: rolling_restart, target: catalog",
    "kind: control_plane_outage",
    "kind: process_kill, target: sidecar:catalog-1",
    "kind: process_pause, target: service:catalog-1",
    "kind: process_restart, target: control-plane",
    "kind: container_kill, target: toxiproxy",
    "kind: container_pause, target: catalog-1",
    "kind: container_restart, target: sidecar:cart-0",
    "kind: network_disconnect, target: catalog-1",
    "kind: network_disconnect, target: control-plane",
]


@pytest.mark.parametrize("fault", ACCEPTED)
def test_the_runtimes_own_faults_validate(
    fault: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The mesh's APIs and the runtime's own Deployments: ok."""
    assert main(["validate", str(write(tmp_path, fault))]) == 0, capsys.readouterr().err


REFUSED_CASES = [
    ("kind: process_kill, target: sidecar:catalog-9", "faults[0].target: no service or instance"
     " 'catalog-9' in topology shop"),
    ("kind: istio_fault, target: catalog, params: {abort: {httpStatus: 503, percentage: 10}}",
     "faults[0].kind: istio_fault goes through another mesh's API objects"),
    ("kind: pod_delete, target: app=catalog, namespace: other, params: {count: 1}",
     "faults[0].namespace: the kubernetes runtime's faults act in the deployment's own"),
    ("kind: deployment_scale, target: catalog, params: {replicas: 0}",
     "faults[0].target: expected an instance of topology shop"),
    ("kind: toxic, target: gateway->frontend, params: {type: latency, attributes: {latency: 100}}",
     "faults[0].target: edge gateway->frontend does not go through Toxiproxy"),
]  # fmt: skip


@pytest.mark.parametrize(("fault", "message"), REFUSED_CASES)
def test_what_the_runtime_cannot_do_is_refused_in_one_line(
    fault: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2, one line naming the field, the reason and what to use instead."""
    assert main(["validate", str(write(tmp_path, fault))]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def test_pod_delete_on_another_runtime_points_at_the_kubernetes_runtime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the local runtime pod_delete is refused, naming the runtime that takes it."""
    path = write(tmp_path, "kind: pod_delete, target: app=catalog, params: {count: 1}", "local")
    assert main(["validate", str(path)]) == 2
    assert "or the kubernetes runtime (target.runtime: kubernetes)" in capsys.readouterr().err


def test_every_refused_kind_is_a_fault_kind() -> None:
    """The refusal table names only kinds that exist."""
    assert set(REFUSED) <= set(FAULT_KINDS)


def test_an_interleaved_twin_is_refused_on_the_kubernetes_runtime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """compare_to would deploy a second shop into the same namespace: one line, exit 2."""
    path = write(tmp_path, "kind: service_behaviour, target: catalog-1, params: {error_rate: 0.3}")
    text = path.read_text().replace(
        "runtime: kubernetes}", "runtime: kubernetes, compare_to: no-mesh}"
    )
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "target.compare_to: the kubernetes runtime deploys one copy of a topology" in err
    assert len(err.splitlines()) == 1
