"""Faults' object changes against a real kube-apiserver: each kind's patch applied with the
snapshot's resourceVersion and restored exactly (the object's spec, labels and annotations
equal to the snapshot afterwards), a concurrent edit refused at apply (409) and at
rollback (ChangedSince, naming the field; `force` restores anyway), an object meshproof
created deleted, a CRD schema violation and an RBAC denial each one clear line.

No controller runs beside the API server (no controller-manager, no kubelet): a
Deployment's `spec.replicas` is scaled and restored as an object, and pods are created,
picked and deleted as objects; what a controller would then do (start pods, replace a
deleted one) is not exercised here.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from harness.kube import KubeClient, KubeConflict, KubeForbidden, KubeInvalid
from harness.kube.changes import ChangedSince, ObjectChange, apply, read, read_or_absent, restore
from harness.kube.patches.consul import ConsulPolicyParams, config_entry_patch
from harness.kube.patches.istio import (
    IstioFaultParams,
    IstioPolicyParams,
    IstioTrafficSplitParams,
    istio_fault_patch,
    new_virtual_service,
    route_policy_patch,
    traffic_policy_patch,
    traffic_split_patch,
)
from harness.kube.patches.linkerd import (
    LinkerdPolicyParams,
    LinkerdRouteSplitParams,
    annotations_patch,
    route_split_patch,
)
from harness.kube.patches.workloads import DeploymentScaleParams, scale_patch
from harness.kube.state import MARK_ANNOTATION, ObjectRef, ObjectState, Snapshot
from harness.kube.testing import LocalApiServer
from mesh_runtime.kube.resources import (
    DEPLOYMENT,
    DESTINATION_RULE,
    HTTP_ROUTE,
    SERVICE,
    SERVICE_DEFAULTS,
    SERVICE_RESOLVER,
    SERVICE_ROUTER,
    VIRTUAL_SERVICE,
    Resource,
)

pytestmark = pytest.mark.integration

NS = "shop"
MARK = "run-1/fault"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(kube: KubeClient, resource: Resource, spec: dict[str, Any], **meta: Any) -> ObjectRef:
    name = unique(resource.kind.lower())
    metadata = {"name": name, "namespace": NS, **meta}
    body = {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": metadata}
    kube.create(resource, NS, {**body, "spec": spec})
    return ObjectRef.of(resource, NS, name)


def virtual_service_spec() -> dict[str, Any]:
    return {
        "hosts": ["catalog"],
        "http": [
            {
                "name": "default",
                "route": [{"destination": {"host": "catalog", "subset": "v1"}}],
                "timeout": "1s",
                "retries": {"attempts": 2, "retryOn": "5xx"},
            }
        ],
    }


def fault_on(kube: KubeClient, ref: ObjectRef, params: IstioFaultParams) -> ObjectChange:
    """An istio_fault's change of the VirtualService, snapshotted as `kube` reads it."""
    obj = kube.get(ref.resource, ref.namespace, ref.name)
    snapshot = Snapshot.of(ref, obj)
    return ObjectChange(snapshot=snapshot, patch=istio_fault_patch(obj, params), mark=MARK)


def round_trip(kube: KubeClient, ref: ObjectRef, patch_of: Any) -> ObjectState:
    """Snapshot, apply the patch built from the object, check it landed, restore; returns
    the state the fault had put in place."""
    snapshot = read(kube, ref)
    obj = kube.get(ref.resource, ref.namespace, ref.name)
    change = ObjectChange(snapshot=snapshot, patch=patch_of(obj), mark=MARK)
    applied = apply(kube, change)
    assert applied == change.expected, "the server's answer is what the patch says"
    assert applied.annotations[MARK_ANNOTATION] == MARK
    assert applied != snapshot.state
    done = restore(kube, change, applied=applied)
    assert "restored" in done
    assert read(kube, ref).state == snapshot.state, "the object equals its snapshot again"
    return applied


def test_istio_fault_applied_and_restored(kube: KubeClient) -> None:
    """istio_fault: the route gets the abort, then the VirtualService is exactly as before."""
    ref = create(kube, VIRTUAL_SERVICE, virtual_service_spec(), labels={"team": "shop"})
    params = IstioFaultParams.model_validate(
        {"abort": {"httpStatus": 503, "percentage": 10}, "headers": {"x-chaos": {"exact": "1"}}}
    )
    applied = round_trip(kube, ref, lambda obj: istio_fault_patch(obj, params))
    assert applied.spec is not None
    assert applied.spec["http"][0]["fault"]["abort"]["percentage"] == {"value": 10.0}


def test_istio_policy_route_and_destination_rule(kube: KubeClient) -> None:
    """istio_policy: a route's retries and a DestinationRule's connectionPool, both undone."""
    vs = create(kube, VIRTUAL_SERVICE, virtual_service_spec())
    off = IstioPolicyParams.model_validate({"patch": {"retries": {"attempts": 0}}})
    round_trip(kube, vs, lambda obj: route_policy_patch(obj, off))
    rule_spec = {
        "host": "catalog",
        "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 5}},
        "subsets": [{"name": "v1", "labels": {"version": "v1"}}],
    }
    rule = create(kube, DESTINATION_RULE, rule_spec)
    pool = IstioPolicyParams.model_validate(
        {"subset": "v1", "patch": {"connectionPool": {"http": {"http1MaxPendingRequests": 1}}}}
    )
    round_trip(kube, rule, lambda obj: traffic_policy_patch(obj, pool))
    top = IstioPolicyParams.model_validate({"patch": {"outlierDetection": None}})
    applied = round_trip(kube, rule, lambda obj: traffic_policy_patch(obj, top))
    assert applied.spec is not None and "outlierDetection" not in applied.spec["trafficPolicy"]


def test_istio_traffic_split_applied_and_restored(kube: KubeClient) -> None:
    """istio_traffic_split: the route's weights between subsets, then back to one subset."""
    ref = create(kube, VIRTUAL_SERVICE, virtual_service_spec())
    params = IstioTrafficSplitParams.model_validate({"weights": {"v1": 80, "v2": 20}})
    applied = round_trip(kube, ref, lambda obj: traffic_split_patch(obj, params))
    assert applied.spec is not None
    assert [d["weight"] for d in applied.spec["http"][0]["route"]] == [80, 20]


def test_linkerd_annotations_on_service_and_http_route(kube: KubeClient) -> None:
    """linkerd_policy: retry and timeout annotations on a Service and on an HTTPRoute."""
    service = create(
        kube,
        SERVICE,
        {"selector": {"app": "catalog"}, "ports": [{"port": 8080, "targetPort": 8080}]},
        annotations={"retry.linkerd.io/http": "5xx"},
    )
    params = LinkerdPolicyParams.model_validate(
        {"annotations": {"retry.linkerd.io/http": None, "timeout.linkerd.io/request": "100ms"}}
    )
    applied = round_trip(kube, service, lambda obj: annotations_patch(params, "Service"))
    assert "retry.linkerd.io/http" not in applied.annotations
    route = create(kube, HTTP_ROUTE, http_route_spec())
    round_trip(kube, route, lambda obj: annotations_patch(params, "HTTPRoute"))


def http_route_spec() -> dict[str, Any]:
    return {
        "parentRefs": [{"group": "core", "kind": "Service", "name": "catalog", "port": 8080}],
        "rules": [{"backendRefs": [{"name": "catalog", "port": 8080}]}],
    }


def test_linkerd_route_split_applied_and_restored(kube: KubeClient) -> None:
    """linkerd_route_split: the HTTPRoute's backends weighted toward an error injector."""
    ref = create(kube, HTTP_ROUTE, http_route_spec())
    params = LinkerdRouteSplitParams.model_validate(
        {"backends": {"catalog": 90, "error-injector": 10}}
    )
    applied = round_trip(kube, ref, lambda obj: route_split_patch(obj, params))
    assert applied.spec is not None
    assert [b["weight"] for b in applied.spec["rules"][0]["backendRefs"]] == [90, 10]


@pytest.mark.parametrize(
    ("resource", "spec", "patch"),
    [
        (
            SERVICE_ROUTER,
            {"routes": [{"destination": {"service": "catalog", "numRetries": 3}}]},
            {"routes": [{"destination": {"service": "catalog", "numRetries": 0}}]},
        ),
        (SERVICE_RESOLVER, {"connectTimeout": "5s"}, {"requestTimeout": "100ms"}),
        (SERVICE_DEFAULTS, {"protocol": "http"}, {"protocol": "tcp"}),
    ],
    ids=["ServiceRouter", "ServiceResolver", "ServiceDefaults"],
)
def test_consul_config_entries_applied_and_restored(
    kube: KubeClient, resource: Resource, spec: dict[str, Any], patch: dict[str, Any]
) -> None:
    """consul_policy: a merge patch of each config entry's spec, then exactly back."""
    ref = create(kube, resource, spec)
    params = ConsulPolicyParams(patch=patch)
    round_trip(kube, ref, lambda obj: config_entry_patch(params))


def deployment_spec(replicas: int) -> dict[str, Any]:
    labels = {"app": "catalog"}
    return {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "image": "registry.invalid/catalog:1"}]},
        },
    }


def test_deployment_scaled_and_back(kube: KubeClient) -> None:
    """deployment_scale: spec.replicas to 0 and back to 3 (the Deployment object only: no
    controller-manager runs, so no pod comes or goes)."""
    ref = create(kube, DEPLOYMENT, deployment_spec(3))
    applied = round_trip(kube, ref, lambda obj: scale_patch(DeploymentScaleParams(replicas=0)))
    assert applied.spec is not None and applied.spec["replicas"] == 0
    assert kube.get(DEPLOYMENT, NS, ref.name)["spec"]["replicas"] == 3


def test_created_object_is_deleted(kube: KubeClient) -> None:
    """istio_fault on a host without a VirtualService creates one; rollback deletes it."""
    ref = ObjectRef.of(VIRTUAL_SERVICE, NS, unique("meshproof-fault"))
    snapshot = read_or_absent(kube, ref)
    assert not snapshot.existed
    params = IstioFaultParams.model_validate({"abort": {"httpStatus": 503}})
    change = ObjectChange(
        snapshot=snapshot, patch=new_virtual_service("catalog", params), mark=MARK
    )
    applied = apply(kube, change)
    assert applied == change.expected
    assert "deleted" in restore(kube, change)
    assert not read_or_absent(kube, ref).existed
    assert "already deleted" in restore(kube, change), "a second rollback is a no-op"


def test_concurrent_edit_refused_at_apply(kube: KubeClient) -> None:
    """Someone edits between meshproof's read and its patch: 409, one line, nothing written."""
    ref = create(kube, VIRTUAL_SERVICE, virtual_service_spec())
    params = IstioFaultParams.model_validate({"abort": {"httpStatus": 503}})
    change = fault_on(kube, ref, params)
    kube.merge_patch(
        VIRTUAL_SERVICE, NS, ref.name, {"spec": {"gateways": ["mesh"]}}, resource_version=None
    )
    with pytest.raises(KubeConflict) as caught:
        apply(kube, change)
    assert "\n" not in str(caught.value)
    assert "someone changed it since it was read; nothing was written" in str(caught.value)
    now = read(kube, ref).state
    assert MARK_ANNOTATION not in now.annotations and now.spec is not None
    assert "fault" not in now.spec["http"][0]
    assert "left as is" in restore(kube, change), "rollback of a fault that never landed"


def test_edit_after_the_fault_refuses_rollback_unless_forced(kube: KubeClient) -> None:
    """Someone changes the object while the fault is on: rollback refuses, naming what
    changed; forced, it restores the snapshot anyway."""
    ref = create(kube, VIRTUAL_SERVICE, virtual_service_spec())
    params = IstioFaultParams.model_validate({"delay": {"fixedDelay": "2s"}})
    change = fault_on(kube, ref, params)
    applied = apply(kube, change)
    edited = kube.get(VIRTUAL_SERVICE, NS, ref.name)
    edited["spec"]["http"][0]["timeout"] = "9s"
    kube.replace(VIRTUAL_SERVICE, NS, edited)
    with pytest.raises(ChangedSince) as caught:
        restore(kube, change, applied=applied)
    message = str(caught.value)
    assert "\n" not in message and "spec.http[0].timeout: '1s' -> '9s'" in message
    assert "--force" in message
    assert read(kube, ref).state.spec["http"][0]["timeout"] == "9s"  # type: ignore[index]
    assert "restored" in restore(kube, change, applied=applied, force=True)
    assert read(kube, ref).state == change.snapshot.state


def test_crd_validation_error_is_one_line(kube: KubeClient) -> None:
    """A Consul patch the CRD's schema rejects: 422, one line naming the field; unchanged."""
    ref = create(kube, SERVICE_RESOLVER, {"connectTimeout": "5s"})
    snapshot = read(kube, ref)
    change = ObjectChange(
        snapshot=snapshot,
        patch=config_entry_patch(ConsulPolicyParams(patch={"connectTimeout": 5})),
        mark=MARK,
    )
    with pytest.raises(KubeInvalid) as caught:
        apply(kube, change)
    assert "\n" not in str(caught.value) and "spec.connectTimeout" in str(caught.value)
    assert read(kube, ref).state == snapshot.state


def test_rbac_denial_is_one_line(kube: KubeClient, viewer: KubeClient) -> None:
    """A user who may read VirtualServices but not patch them: 403, one line, unchanged."""
    ref = create(kube, VIRTUAL_SERVICE, virtual_service_spec())
    change = fault_on(viewer, ref, IstioFaultParams.model_validate({"abort": {"httpStatus": 503}}))
    with pytest.raises(KubeForbidden) as caught:
        apply(viewer, change)
    message = str(caught.value)
    assert "\n" not in message and "403 Forbidden" in message and "patch virtualservices" in message
    assert read(kube, ref).state == change.snapshot.state


def test_a_status_write_between_read_and_patch_is_not_a_conflict(kube: KubeClient) -> None:
    """A controller writing the Deployment's status bumps its resourceVersion: the fault's
    patch is sent again at the new version (its spec, labels and annotations are still the
    snapshot's) and restored exactly; a spec edit in the same place is still a 409."""
    ref = create(kube, DEPLOYMENT, deployment_spec(3))
    snapshot = read(kube, ref)
    change = ObjectChange(
        snapshot=snapshot, patch=scale_patch(DeploymentScaleParams(replicas=1)), mark=MARK
    )
    kube.merge_patch(
        DEPLOYMENT,
        NS,
        ref.name,
        {"status": {"replicas": 3}},
        resource_version=None,
        subresource="status",
    )
    assert read(kube, ref).resource_version != snapshot.resource_version
    applied = apply(kube, change)
    assert applied.spec is not None and applied.spec["replicas"] == 1
    assert kube.get(DEPLOYMENT, NS, ref.name)["status"]["replicas"] == 3
    assert "restored" in restore(kube, change, applied=applied)
    assert read(kube, ref).state == snapshot.state
    edited = read(kube, ref)
    kube.merge_patch(DEPLOYMENT, NS, ref.name, {"spec": {"paused": True}}, resource_version=None)
    stale = ObjectChange(snapshot=edited, patch=change.patch, mark=MARK)
    with pytest.raises(KubeConflict):
        apply(kube, stale)


def test_a_burst_of_status_writes_during_rollback_is_waited_out(
    kube: KubeClient, local_apiserver: LocalApiServer
) -> None:
    """Status writes back to back for 0.5 s (four writers: the deployment and replica-set
    controllers during a rollout, denser) while the fault is rolled back: each read-then-PUT
    in the burst meets a 409; the rollback waits it out (client-go's backoff) and restores
    the snapshot exactly, instead of failing after three tries in a few milliseconds."""
    ref = create(kube, DEPLOYMENT, deployment_spec(3))
    snapshot = read(kube, ref)
    change = ObjectChange(
        snapshot=snapshot, patch=scale_patch(DeploymentScaleParams(replicas=1)), mark=MARK
    )
    applied = apply(kube, change)
    writes: list[int] = []
    writing, busy = threading.Barrier(4), threading.Event()

    def controller(worker: int) -> None:
        with local_apiserver.client() as writer:
            writing.wait()
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                status = {"status": {"observedGeneration": len(writes) + 1}}
                writer.merge_patch(
                    DEPLOYMENT, NS, ref.name, status, resource_version=None, subresource="status"
                )
                writes.append(worker)
                if len(writes) >= 8:
                    busy.set()

    burst = [threading.Thread(target=controller, args=(n,)) for n in range(4)]
    for thread in burst:
        thread.start()
    try:
        assert busy.wait(10), "the status writers never got going"
        done = restore(kube, change, applied=applied)
    finally:
        for thread in burst:
            thread.join()
    assert "restored" in done
    assert read(kube, ref).state == snapshot.state
    assert len(writes) >= 20, f"only {len(writes)} status writes: no burst to wait out"
