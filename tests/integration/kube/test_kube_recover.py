"""`meshproof recover` undoes Kubernetes faults of a harness SIGKILLed mid-fault: the
VirtualService and the Deployment (an object only: no controller-manager runs) equal
their snapshots again; an object someone changed since is refused, naming the field,
until `recover --force`."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.kube import KubeClient
from harness.kube.state import MARK_ANNOTATION, ObjectState
from harness.kube.testing import LocalApiServer
from mesh_runtime.kube.resources import DEPLOYMENT, VIRTUAL_SERVICE, Resource
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


@pytest.fixture
def killed_harness(
    local_apiserver: LocalApiServer, objects: tuple[str, str], tmp_path: Path
) -> Iterator[Path]:
    """A harness that applied both faults and was SIGKILLed; yields its state root."""
    state_root = tmp_path / "state"
    ledger = tmp_path / "run" / "faults.ledger.jsonl"
    args = (str(state_root), str(ledger), str(local_apiserver.kubeconfig), NS, *objects)
    with harness_process(HERE / "dying_kube_harness.py", *args) as child:
        wait_for_line(child, "APPLIED", timeout=60)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        yield state_root


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
