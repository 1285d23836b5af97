"""`meshproof recover` undoes Kubernetes faults of a harness SIGKILLed mid-fault: the
VirtualService and the Deployment (an object only: no controller-manager runs) equal
their snapshots again; an object someone changed since is refused, naming the field,
until `recover --force`; against an API server that never answers it gives up within
seconds and keeps the faults in the ledger."""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.kube import KubeClient
from harness.kube.state import MARK_ANNOTATION, ObjectState
from harness.kube.testing import LocalApiServer
from mesh_runtime.kube.resources import DEPLOYMENT, VIRTUAL_SERVICE, Resource
from tests.conftest import silent_listener
from tests.integration.faults.faultkit import harness_process, recover, wait_for_line

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
NS = "shop"


def _create(kube: KubeClient, resource: Resource, spec: dict[str, Any]) -> str:
    name = f"{resource.kind.lower()}-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "catalog"}},
        "spec": spec,
    }
    kube.create(resource, NS, body)
    return name


@pytest.fixture
def objects(kube: KubeClient) -> tuple[str, str]:
    """A VirtualService with a route and a Deployment of 3 replicas, fresh names."""
    vs = _create(
        kube,
        VIRTUAL_SERVICE,
        {"hosts": ["catalog"], "http": [{"route": [{"destination": {"host": "catalog"}}]}]},
    )
    labels = {"app": "catalog"}
    deployment = _create(
        kube,
        DEPLOYMENT,
        {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/c:1"}]},
            },
        },
    )
    return vs, deployment


def kill_harness_after_faults(kubeconfig: Path, objects: tuple[str, str], tmp_path: Path) -> Path:
    """A harness (through `kubeconfig`) applied both faults and was SIGKILLed; its state
    root, where its ledger is registered."""
    state_root = tmp_path / "state"
    ledger = tmp_path / "run" / "faults.ledger.jsonl"
    args = (str(state_root), str(ledger), str(kubeconfig), NS, *objects)
    with harness_process(HERE / "dying_kube_harness.py", *args) as child:
        wait_for_line(child, "APPLIED", timeout=60)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    return state_root


@pytest.fixture
def killed_harness(
    local_apiserver: LocalApiServer, objects: tuple[str, str], tmp_path: Path
) -> Iterator[Path]:
    """A harness that applied both faults and was SIGKILLed; yields its state root."""
    yield kill_harness_after_faults(local_apiserver.kubeconfig, objects, tmp_path)


def _state(kube: KubeClient, resource: Resource, name: str) -> ObjectState:
    return ObjectState.of(kube.get(resource, NS, name))


def test_recover_after_sigkill_restores_the_objects(
    kube: KubeClient, objects: tuple[str, str], killed_harness: Path
) -> None:
    """Both faults were in effect when the harness died; recover puts both objects back."""
    vs, deployment = objects
    faulted = _state(kube, VIRTUAL_SERVICE, vs)
    assert faulted.annotations[MARK_ANNOTATION] == "dying-run/catalog-abort"
    assert faulted.spec is not None and "fault" in faulted.spec["http"][0]
    assert _state(kube, DEPLOYMENT, deployment).spec["replicas"] == 0  # type: ignore[index]
    done = recover(killed_harness)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "undone" in done.stdout and "catalog-abort" in done.stdout
    restored = _state(kube, VIRTUAL_SERVICE, vs)
    assert restored.annotations == {} and restored.labels == {"app": "catalog"}
    assert restored.spec == {
        "hosts": ["catalog"],
        "http": [{"route": [{"destination": {"host": "catalog"}}]}],
    }
    assert _state(kube, DEPLOYMENT, deployment).spec["replicas"] == 3  # type: ignore[index]
    again = recover(killed_harness)
    assert again.returncode == 0 and "nothing to recover" in again.stdout


def test_recover_refuses_an_edited_object_until_forced(
    kube: KubeClient, objects: tuple[str, str], killed_harness: Path
) -> None:
    """Someone scaled the Deployment after the fault: recover restores the VirtualService,
    refuses the Deployment naming spec.replicas (exit 1); --force restores it."""
    _, deployment = objects
    kube.merge_patch(DEPLOYMENT, NS, deployment, {"spec": {"replicas": 5}}, resource_version=None)
    refused = recover(killed_harness)
    assert refused.returncode == 1
    assert "spec.replicas: 0 -> 5" in refused.stdout and "--force" in refused.stdout
    assert _state(kube, DEPLOYMENT, deployment).spec["replicas"] == 5  # type: ignore[index]
    forced = recover(killed_harness, "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert _state(kube, DEPLOYMENT, deployment).spec["replicas"] == 3  # type: ignore[index]


def test_recover_against_a_hung_api_server_gives_up_in_seconds_and_keeps_the_faults(
    local_apiserver: LocalApiServer, kube: KubeClient, objects: tuple[str, str], tmp_path: Path
) -> None:
    """The API server accepts connections and never answers: `recover` sends each call
    once and waits for it 5 s, then tries no more calls there; exit 1 naming both faults
    as not rolled back and still in the ledger (before: the client's retries on its 10 s
    timeout, about 30 s per fault). A later `recover`, the server answering, undoes both."""
    kubeconfig = tmp_path / "kubeconfig"
    shutil.copy(local_apiserver.kubeconfig, kubeconfig)
    state_root = kill_harness_after_faults(kubeconfig, objects, tmp_path)
    with silent_listener() as port:
        hung = yaml.safe_load(kubeconfig.read_text())
        for cluster in hung["clusters"]:
            cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"
        kubeconfig.write_text(yaml.safe_dump(hung))
        began = time.monotonic()
        refused = recover(state_root)
        took_s = time.monotonic() - began
    print(f"recover against a hung API server: {took_s:.1f}s, exit {refused.returncode}")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert took_s < 15, f"recover took {took_s:.1f}s against a hung server"
    (left,) = [line for line in refused.stdout.splitlines() if "not rolled back:" in line]
    assert "catalog-abort" in left and "catalog-down" in left and "ledger" in left
    assert refused.stdout.count("FAILED") == 2 and "unreachable" in refused.stdout
    assert _state(kube, DEPLOYMENT, objects[1]).spec["replicas"] == 0  # type: ignore[index]
    shutil.copy(local_apiserver.kubeconfig, kubeconfig)  # the server answers again
    done = recover(state_root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _state(kube, DEPLOYMENT, objects[1]).spec["replicas"] == 3  # type: ignore[index]
    assert MARK_ANNOTATION not in _state(kube, VIRTUAL_SERVICE, objects[0]).annotations
