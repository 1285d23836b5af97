"""The Kubernetes fault injectors against a real kube-apiserver, in the engine's order
(rollback_entry, apply, revert) and from the ledger's JSON alone (what `recover` does).

No controller runs beside the API server: pod_delete deletes pod objects (given a
ReplicaSet owner by hand; nothing replaces them here), deployment_scale changes a
Deployment object's spec.replicas.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from harness.errors import FaultError
from harness.faults import REGISTRY, FaultContext
from harness.faults.kube import (
    DeploymentScaleInjector,
    IstioFaultInjector,
    IstioTrafficSplitInjector,
    PodDeleteInjector,
)
from harness.faults.kube_place import KubeLogin, KubePlace
from harness.faults.kube_rollout import FinishKubeRollout
from harness.faults.steps import RollbackEntry
from harness.faults.undo import RollbackExecutor
from harness.kube import KubeClient, KubeConflict, KubeNotFound
from harness.kube.changes import ObjectChange, apply, read
from harness.kube.diff import merge
from harness.kube.patches.workloads import RESTARTED_AT, restart_patch
from harness.kube.state import MARK_ANNOTATION, ObjectRef, ObjectState
from harness.kube.testing import LocalApiServer
from harness.spec.faults import FaultSpec
from harness.spec.kube_faults import (
    DeploymentScaleFault,
    IstioFaultFault,
    IstioTrafficSplitFault,
    PodDeleteFault,
)
from mesh_runtime.kube.resources import (
    DEPLOYMENT,
    DESTINATION_RULE,
    NAMESPACE,
    POD,
    SERVICE_ACCOUNT,
    VIRTUAL_SERVICE,
    Resource,
)
from mesh_runtime.runtimes.deployment import Deployment, InstanceRecord, KubernetesPlacement
from mesh_runtime.runtimes.external import external_deployment
from mesh_runtime.target import TargetFile
from tests.conftest import poll
from tests.fixtures.kube import VIEWER, viewer_namespace, viewer_role

pytestmark = pytest.mark.integration

NS = "shop"


@pytest.fixture
def place(local_apiserver: LocalApiServer, kube: KubeClient) -> KubePlace:
    login = KubeLogin(kubeconfig=local_apiserver.kubeconfig, context="admin")
    return KubePlace(login=login, namespace=NS, run="run-7", kube=kube)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def body(resource: Resource, name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    metadata = {"name": name, **meta}
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": metadata,
        "spec": spec,
    }


@pytest.fixture
def pods_admitted(kube: KubeClient) -> None:
    """The namespace's `default` ServiceAccount, which pod admission looks up (no
    controller-manager runs here to make it)."""
    with contextlib.suppress(KubeConflict):  # made by an earlier test
        kube.create(SERVICE_ACCOUNT, NS, {"metadata": {"name": "default"}})


def test_istio_fault_on_a_host_without_virtual_service(kube: KubeClient, place: KubePlace) -> None:
    """A host nothing routes yet gets a VirtualService for the fault; revert deletes it."""
    host = unique("lonely")
    fault = IstioFaultFault.model_validate(
        {
            "name": "abort",
            "kind": "istio_fault",
            "target": host,
            "params": {"abort": {"httpStatus": 503}},
        }
    )
    injector = IstioFaultInjector(fault, place)
    entry = injector.rollback_entry()
    assert [s.describe() for s in entry.steps] == [
        f"delete virtualservices.networking.istio.io {NS}/meshproof-abort (meshproof created it)"
    ]
    injector.apply()
    made = kube.get(VIRTUAL_SERVICE, NS, "meshproof-abort")
    assert made["spec"]["hosts"] == [host]
    assert made["metadata"]["annotations"][MARK_ANNOTATION] == "run-7/abort"
    injector.revert()
    with pytest.raises(KubeNotFound):
        kube.get(VIRTUAL_SERVICE, NS, "meshproof-abort")


def test_traffic_split_to_an_undefined_subset_refused(kube: KubeClient, place: KubePlace) -> None:
    """A split to a subset no DestinationRule defines is refused before anything changes."""
    name = unique("catalog")
    spec = {"hosts": [name], "http": [{"route": [{"destination": {"host": name}}]}]}
    kube.create(VIRTUAL_SERVICE, NS, body(VIRTUAL_SERVICE, name, spec))
    rule = {"host": name, "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}
    kube.create(DESTINATION_RULE, NS, body(DESTINATION_RULE, name, rule))
    fault = IstioTrafficSplitFault.model_validate(
        {
            "name": "canary",
            "kind": "istio_traffic_split",
            "target": name,
            "params": {"weights": {"v1": 90, "v2": 10}},
        }
    )
    with pytest.raises(FaultError, match=r"defines subset\(s\) v2"):
        IstioTrafficSplitInjector(fault, place).rollback_entry()
    assert "meshproof.io/fault" not in str(kube.get(VIRTUAL_SERVICE, NS, name))


def test_scale_undone_from_the_ledger_json(kube: KubeClient, place: KubePlace) -> None:
    """The rollback entry as the ledger holds it (JSON) restores the Deployment exactly
    through the executor `recover` uses."""
    name = unique("catalog")
    labels = {"app": name}
    spec = {
        "replicas": 2,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "image": "registry.invalid/c:1"}]},
        },
    }
    kube.create(DEPLOYMENT, NS, body(DEPLOYMENT, name, spec, labels=labels))
    before = ObjectState.of(kube.get(DEPLOYMENT, NS, name))
    fault = DeploymentScaleFault.model_validate(
        {"name": "down", "kind": "deployment_scale", "target": name, "params": {"replicas": 0}}
    )
    injector = DeploymentScaleInjector(fault, place)
    entry = injector.rollback_entry().to_json()
    injector.apply()
    assert kube.get(DEPLOYMENT, NS, name)["spec"]["replicas"] == 0
    RollbackExecutor()(entry)
    assert ObjectState.of(kube.get(DEPLOYMENT, NS, name)) == before
    RollbackExecutor()(entry)  # idempotent: already as it was
    assert ObjectState.of(kube.get(DEPLOYMENT, NS, name)) == before


def one_pod_deployment(kube: KubeClient, name: str, namespace: str = NS) -> dict[str, Any]:
    labels = {"app": name}
    spec = {
        "replicas": 1,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "image": "registry.invalid/c:1"}]},
        },
    }
    return kube.create(DEPLOYMENT, namespace, body(DEPLOYMENT, name, spec, labels=labels))


def write_rollout_complete(kube: KubeClient, namespace: str, name: str) -> None:
    """The deployment controller's status of a complete rollout, written by hand (none
    runs here)."""
    generation = kube.get(DEPLOYMENT, namespace, name)["metadata"]["generation"]
    complete = {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1, "readyReplicas": 1}
    complete["observedGeneration"] = generation
    kube.merge_patch(DEPLOYMENT, namespace, name, {"status": complete}, resource_version=None,
                     subresource="status")  # fmt: skip


def test_a_rollout_restart_is_finished_or_undone_from_the_ledger_json(
    kube: KubeClient, place: KubePlace
) -> None:
    """`recover` after a rolling restart on the kubernetes runtime (finish_kube_rollout
    steps, from the ledger's JSON): a restarted Deployment whose rollout completed keeps
    its new template (putting it back would restart its pods again) and loses the fault's
    mark (before: the mark stayed); one whose rollout
    never completes (no controller here) gets its snapshot back exactly; one the fault
    never reached is left as is."""
    names = [unique("done"), unique("stuck"), unique("untouched")]
    for name in names:
        one_pod_deployment(kube, name)
    mark = "run-7/roll"
    refs = [ObjectRef.of(DEPLOYMENT, NS, name) for name in names]
    changes = [
        ObjectChange(
            snapshot=read(kube, ref), patch=restart_patch("2026-12-04T20:00:00Z"), mark=mark
        )
        for ref in refs
    ]
    steps = [FinishKubeRollout(login=place.login, change=c, wait_s=1.0) for c in changes]
    entry = RollbackEntry(fault="roll", kind="rolling_restart", target="sidecars", steps=steps)
    for change in changes[:2]:  # the harness was killed before the third
        apply(kube, change)
    write_rollout_complete(kube, NS, names[0])
    RollbackExecutor()(entry.to_json())
    finished, stuck, untouched = (ObjectState.of(kube.get(DEPLOYMENT, NS, n)) for n in names)
    # restarted: the new template stays, the fault's mark goes
    assert finished == ObjectState.of(merge(changes[0].snapshot.state.document(), changes[0].patch))
    assert MARK_ANNOTATION not in finished.annotations
    assert finished.spec["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert stuck == changes[1].snapshot.state  # the rollout undone: exactly as it was
    assert untouched == changes[2].snapshot.state
    RollbackExecutor()(entry.to_json())  # idempotent
    assert ObjectState.of(kube.get(DEPLOYMENT, NS, names[1])) == changes[1].snapshot.state


def owned_pod(name: str, app: str) -> dict[str, Any]:
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": f"{app}-rs",
        "uid": str(uuid.uuid4()),
        "controller": True,
    }
    spec = {"containers": [{"name": "app", "image": "registry.invalid/c:1"}]}
    return body(POD, name, spec, labels={"app": app}, ownerReferences=[owner])


@pytest.mark.usefixtures("pods_admitted")
def test_pod_delete_by_percentage(kube: KubeClient, place: KubePlace) -> None:
    """50 % of 4 controller-owned pods are deleted (pod objects: no kubelet or controller
    runs here, so nothing replaces them); the ledger holds each pod's snapshot."""
    app = unique("catalog")
    for index in range(4):
        kube.create(POD, NS, owned_pod(f"{app}-{index}", app))
    fault = PodDeleteFault.model_validate(
        {
            "name": "kill-half",
            "kind": "pod_delete",
            "target": f"app={app}",
            "params": {"percentage": 50, "seed": 3},
        }
    )
    injector = PodDeleteInjector(fault, place)
    entry = injector.rollback_entry()
    assert len(entry.steps) == 2
    assert all(f"ReplicaSet/{app}-rs replaces it" in s.describe() for s in entry.steps)
    injector.apply()
    left = kube.list(POD, NS, label_selector=f"app={app}")
    assert len(left) == 2
    RollbackExecutor()(entry.to_json())  # nothing to do, and says so without failing


@pytest.mark.usefixtures("pods_admitted")
def test_pod_delete_refuses_a_pod_nobody_owns(kube: KubeClient, place: KubePlace) -> None:
    """A bare pod would be lost for good: refused, nothing deleted."""
    app = unique("bare")
    body = owned_pod(f"{app}-0", app)
    del body["metadata"]["ownerReferences"]
    kube.create(POD, NS, body)
    fault = PodDeleteFault.model_validate(
        {"name": "kill", "kind": "pod_delete", "target": f"app={app}", "params": {"count": 1}}
    )
    with pytest.raises(FaultError, match="no controller to replace them"):
        PodDeleteInjector(fault, place).rollback_entry()
    assert len(kube.list(POD, NS, label_selector=f"app={app}")) == 1


def external_context(
    local_apiserver: LocalApiServer, tmp_path: Path, user: str = "admin"
) -> FaultContext:
    """A fault context as a run against an external target has it: the target file's
    kubeconfig (the local API server's, admin context) and the namespace `shop`."""
    target = TargetFile.model_validate(
        {
            "name": "staging",
            "mesh": "istio",
            "ingress": {"url": "http://127.0.0.1:9"},
            "prometheus": {"url": "http://127.0.0.1:9"},
            "kubernetes": {
                "kubeconfig": str(local_apiserver.kubeconfig),
                "context": user,
                "namespaces": [NS],
            },
        }
    )
    deployment = external_deployment(target, tmp_path / "staging.yaml", tmp_path / "work")
    return FaultContext(deployment=deployment, run="run-ext")


def test_registry_builds_the_injector_from_the_target_file(
    local_apiserver: LocalApiServer, kube: KubeClient, tmp_path: Path
) -> None:
    """Through the fault-kind registry, as the engine does: the injector takes the target
    file's kubeconfig, context and first namespace, marks the object with the run, and
    puts it back exactly; a namespace outside the list is refused before any call."""
    name = unique("catalog")
    spec = {
        "hosts": ["catalog"],
        "http": [{"name": "default", "route": [{"destination": {"host": "catalog"}}]}],
    }
    kube.create(VIRTUAL_SERVICE, NS, body(VIRTUAL_SERVICE, name, spec))
    before = ObjectState.of(kube.get(VIRTUAL_SERVICE, NS, name))
    ctx = external_context(local_apiserver, tmp_path)
    data = {
        "name": "tight",
        "kind": "istio_policy",
        "target": f"virtualservice/{name}",
        "params": {"patch": {"timeout": "50ms", "retries": {"attempts": 0}}},
    }
    fault = TypeAdapter(FaultSpec).validate_python(data)
    injector = REGISTRY.make_injector(fault, ctx)
    injector.rollback_entry()
    injector.apply()
    during = kube.get(VIRTUAL_SERVICE, NS, name)
    assert during["spec"]["http"][0]["timeout"] == "50ms"
    assert during["metadata"]["annotations"][MARK_ANNOTATION] == "run-ext/tight"
    injector.revert()
    assert ObjectState.of(kube.get(VIRTUAL_SERVICE, NS, name)) == before
    elsewhere = TypeAdapter(FaultSpec).validate_python({**data, "namespace": "default"})
    with pytest.raises(
        FaultError, match=r"'default' is not in the target's kubernetes\.namespaces"
    ):
        REGISTRY.make_injector(elsewhere, ctx)


def test_registry_refuses_before_the_run_what_would_fail_during_it(
    local_apiserver: LocalApiServer, kube: KubeClient, tmp_path: Path
) -> None:
    """Built before the load starts, an injector is refused at once, one line each, nothing
    changed: a user RBAC lets read but not patch a VirtualService (every denied call
    named), and an object that is not there."""
    name = unique("catalog")
    spec = {"hosts": ["catalog"], "http": [{"route": [{"destination": {"host": "catalog"}}]}]}
    kube.create(VIRTUAL_SERVICE, NS, body(VIRTUAL_SERVICE, name, spec))
    before = kube.get(VIRTUAL_SERVICE, NS, name)
    fault = TypeAdapter(FaultSpec).validate_python(
        {
            "name": "abort",
            "kind": "istio_fault",
            "target": "catalog",
            "virtual_service": name,
            "params": {"abort": {"httpStatus": 503}},
        }
    )
    viewer = external_context(local_apiserver, tmp_path, user="viewer")
    with pytest.raises(FaultError) as caught:
        REGISTRY.make_injector(fault, viewer)
    message = str(caught.value)
    assert "\n" not in message and "(context viewer) may not patch" in message
    assert "update virtualservices.networking.istio.io in namespace shop (RBAC)" in message
    assert kube.get(VIRTUAL_SERVICE, NS, name) == before
    gone = fault.model_copy(update={"virtual_service": unique("missing")})
    with pytest.raises(KubeNotFound, match="404 Not Found"):
        REGISTRY.make_injector(gone, external_context(local_apiserver, tmp_path / "2"))


def kube_runtime_context(
    local_apiserver: LocalApiServer, tmp_path: Path, namespace: str, context: str = VIEWER
) -> FaultContext:
    """A fault context as `run --runtime kubernetes` has it, as `context`'s user."""
    placement = KubernetesPlacement(
        kubeconfig=str(local_apiserver.kubeconfig),
        context=context,
        namespace=namespace,
        deployment_id="shop-0123abcd",
    )
    instance = InstanceRecord(
        service="catalog", instance="catalog-1", version="v1", app_port=8080, admin_port=15000
    )
    deployment = Deployment(
        topology_file="shop.yaml",
        runtime="kubernetes",
        ingress_url="http://127.0.0.1:9",
        work_dir=str(tmp_path / "work" / "shop"),
        instances=[instance],
        kubernetes=placement,
    )
    return FaultContext(deployment=deployment, run="run-kube")


def test_a_process_fault_on_the_kubernetes_runtime_needs_pods_exec(
    local_apiserver: LocalApiServer, kube: KubeClient, tmp_path: Path
) -> None:
    """Before the run, one line naming each permission RBAC denies: a user with none on
    pods misses all three; one who may read pods misses `create pods/exec` alone."""
    fault = TypeAdapter(FaultSpec).validate_python(
        {"name": "kill", "kind": "process_kill", "target": "sidecar:catalog-1"}
    )
    with pytest.raises(FaultError) as caught:
        REGISTRY.make_injector(fault, kube_runtime_context(local_apiserver, tmp_path, NS))
    message = str(caught.value)
    assert "\n" not in message and "(context viewer) may not create pods/exec, get pods," in message
    assert "list pods in namespace shop (RBAC)" in message
    namespace = unique("readers")
    rule: dict[str, object] = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
    viewer_namespace(kube, namespace, viewer_role(namespace, "pod-reader", "reads-pods", [rule]))
    context = kube_runtime_context(local_apiserver, tmp_path, namespace)
    with pytest.raises(
        FaultError, match=r"may not create pods/exec in namespace readers-\w+ \(RBAC\)"
    ):
        REGISTRY.make_injector(fault, context)


def test_a_completed_rolling_restart_leaves_no_mark(
    local_apiserver: LocalApiServer, kube: KubeClient, tmp_path: Path
) -> None:
    """The harness's own path on the kubernetes runtime: a rolling_restart applied, its
    rollout complete (the controller's status written by hand), reverted at its end: the
    Deployment is its snapshot plus the new template's restartedAt, and carries no
    meshproof.io/fault (before: the mark stayed after the run)."""
    namespace = unique("roll")
    kube.create(NAMESPACE, None, {"metadata": {"name": namespace}})
    one_pod_deployment(kube, "catalog-1", namespace)
    before = ObjectState.of(kube.get(DEPLOYMENT, namespace, "catalog-1"))
    fault = TypeAdapter(FaultSpec).validate_python(
        {
            "name": "roll",
            "kind": "rolling_restart",
            "target": "sidecars",
            "params": {"interval": "0s"},
        }
    )
    ctx = kube_runtime_context(local_apiserver, tmp_path, namespace, context="admin")
    injector = REGISTRY.make_injector(fault, ctx)
    injector.rollback_entry()
    applying = threading.Thread(target=injector.apply, name="roll")
    applying.start()
    try:
        poll(
            lambda: ObjectState.of(kube.get(DEPLOYMENT, namespace, "catalog-1")).mark,
            what="the restart patch",
        )
        write_rollout_complete(kube, namespace, "catalog-1")
    finally:
        applying.join(timeout=30)
    assert not applying.is_alive()
    injector.revert()
    after = ObjectState.of(kube.get(DEPLOYMENT, namespace, "catalog-1"))
    assert MARK_ANNOTATION not in after.annotations
    assert after.spec is not None
    restarted_at = after.spec["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert after == ObjectState.of(merge(before.document(), restart_patch(restarted_at)))
    kube.delete(NAMESPACE, None, namespace)
