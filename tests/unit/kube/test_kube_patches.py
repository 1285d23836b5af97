"""The pure side of Kubernetes faults: each kind's merge patch, the object state a snapshot
keeps, the difference lines a refused rollback shows, and which pods a pod_delete picks.
Objects are written as the API server returns them (tests/integration/kube applies the
same patches to a real server)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from harness.errors import FaultError
from harness.kube.changes import ObjectChange
from harness.kube.diff import describe, differences, merge
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
    unknown_subsets,
    virtual_service_of,
)
from harness.kube.patches.linkerd import (
    LinkerdPolicyParams,
    LinkerdRouteSplitParams,
    annotations_patch,
    route_split_patch,
)
from harness.kube.patches.workloads import (
    RESTARTED_AT,
    DeploymentScaleParams,
    PodDeleteParams,
    controller_of,
    pods_to_delete,
    restart_patch,
    rollout_unfinished,
    scale_patch,
)
from harness.kube.state import MARK_ANNOTATION, ObjectRef, ObjectState, Snapshot
from mesh_runtime.kube.resources import DEPLOYMENT, VIRTUAL_SERVICE


def vs(name: str = "catalog", **spec: Any) -> dict[str, Any]:
    body = {
        "hosts": ["catalog"],
        "http": [
            {"name": "api", "match": [{"uri": {"prefix": "/api"}}], "route": _to("catalog")},
            {"name": "default", "route": _to("catalog"), "timeout": "1s"},
        ],
    }
    body.update(spec)
    return {
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": "7"},
        "spec": body,
    }


def _to(host: str, subset: str | None = None) -> list[dict[str, Any]]:
    destination = {"host": host, **({"subset": subset} if subset else {})}
    return [{"destination": destination}]


def test_istio_fault_on_every_route_in_istio_shape() -> None:
    """An abort and a delay become Istio's HTTPFaultInjection on each route, rest unchanged."""
    params = IstioFaultParams.model_validate(
        {"abort": {"httpStatus": 503, "percentage": 10}, "delay": {"fixedDelay": "250ms"}}
    )
    patch = istio_fault_patch(vs(), params)
    http = patch["spec"]["http"]
    fault = {
        "abort": {"httpStatus": 503, "percentage": {"value": 10.0}},
        "delay": {"fixedDelay": "250ms", "percentage": {"value": 100.0}},
    }
    assert [r.get("fault") for r in http] == [fault, fault]
    assert http[1]["timeout"] == "1s" and http[0]["match"] == [{"uri": {"prefix": "/api"}}]


def test_istio_fault_on_one_route_with_a_header_match() -> None:
    """With headers, a copy of the named route matching them carries the fault, before it."""
    params = IstioFaultParams.model_validate(
        {"route": "api", "abort": {"httpStatus": 500}, "headers": {"x-chaos": {"exact": "1"}}}
    )
    http = istio_fault_patch(vs(), params)["spec"]["http"]
    assert [r["name"] for r in http] == ["api-meshproof-fault", "api", "default"]
    assert http[0]["match"] == [{"uri": {"prefix": "/api"}, "headers": {"x-chaos": {"exact": "1"}}}]
    assert "fault" in http[0] and "fault" not in http[1] and "fault" not in http[2]


def test_istio_fault_unknown_route_and_empty_fault_refused() -> None:
    """A route the VirtualService lacks is one clear error naming its routes; no fault at all
    is refused by the params model."""
    params = IstioFaultParams.model_validate({"route": "nope", "abort": {"httpStatus": 503}})
    with pytest.raises(FaultError, match=r"no route 'nope' \(routes: api, default\)"):
        istio_fault_patch(vs(), params)
    with pytest.raises(ValidationError, match="expected delay, abort or both"):
        IstioFaultParams.model_validate({})


def test_new_virtual_service_for_a_host_without_one() -> None:
    """A host with no VirtualService gets one sending to it, with the fault."""
    params = IstioFaultParams.model_validate({"abort": {"httpStatus": 503, "percentage": 5}})
    state = new_virtual_service("catalog", params)
    assert state["spec"]["hosts"] == ["catalog"]
    assert state["spec"]["http"][0]["route"] == _to("catalog")
    assert state["spec"]["http"][0]["fault"]["abort"]["percentage"] == {"value": 5.0}


def test_virtual_service_of_a_host() -> None:
    """The VirtualService serving a host (short or fully qualified name); two are ambiguous."""
    fqdn = vs("other", hosts=["catalog.shop.svc.cluster.local"])
    assert virtual_service_of([vs("a", hosts=["cart"]), fqdn], "catalog") is fqdn
    assert virtual_service_of([vs("a", hosts=["cart"])], "catalog") is None
    with pytest.raises(FaultError, match="several VirtualServices serve host 'catalog'"):
        virtual_service_of([vs("a"), fqdn], "catalog")


def test_istio_policy_on_a_route_and_on_a_destination_rule() -> None:
    """retries/timeout merge into the routes; connectionPool into trafficPolicy or a subset."""
    on_route = IstioPolicyParams.model_validate(
        {"route": "default", "patch": {"retries": {"attempts": 0}, "timeout": "200ms"}}
    )
    http = route_policy_patch(vs(), on_route)["spec"]["http"]
    assert http[1]["retries"] == {"attempts": 0} and http[1]["timeout"] == "200ms"
    assert "retries" not in http[0]
    rule = {
        "kind": "DestinationRule",
        "metadata": {"name": "catalog", "namespace": "shop"},
        "spec": {"host": "catalog", "subsets": [{"name": "v1"}, {"name": "v2"}]},
    }
    pool = {"connectionPool": {"http": {"http1MaxPendingRequests": 1}}}
    top = IstioPolicyParams.model_validate({"patch": pool})
    assert traffic_policy_patch(rule, top) == {"spec": {"trafficPolicy": pool}}
    subset = IstioPolicyParams.model_validate({"subset": "v2", "patch": pool})
    subsets = traffic_policy_patch(rule, subset)["spec"]["subsets"]
    assert subsets == [{"name": "v1"}, {"name": "v2", "trafficPolicy": pool}]
    with pytest.raises(FaultError, match="no subset 'v3'"):
        traffic_policy_patch(
            rule, IstioPolicyParams.model_validate({"subset": "v3", "patch": pool})
        )


def test_istio_policy_keys_checked() -> None:
    """Only Istio's retries/timeout or connectionPool/outlierDetection, not both at once."""
    with pytest.raises(ValidationError, match="not fault"):
        IstioPolicyParams.model_validate({"patch": {"fault": {}}})
    with pytest.raises(ValidationError, match="one kind of object per fault"):
        IstioPolicyParams.model_validate({"patch": {"timeout": "1s", "outlierDetection": {}}})


def test_istio_traffic_split_weights_subsets() -> None:
    """The first route sends the weights to subsets of its host; bad weights refused."""
    params = IstioTrafficSplitParams.model_validate({"weights": {"v1": 90, "v2": 10}})
    http = traffic_split_patch(vs(), params)["spec"]["http"]
    assert http[0]["route"] == [
        {"destination": {"host": "catalog", "subset": "v1"}, "weight": 90},
        {"destination": {"host": "catalog", "subset": "v2"}, "weight": 10},
    ]
    assert http[1] == vs()["spec"]["http"][1]
    with pytest.raises(ValidationError, match="adding up to 100"):
        IstioTrafficSplitParams.model_validate({"weights": {"v1": 90}})
    rules = [{"spec": {"host": "catalog", "subsets": [{"name": "v1"}]}}]
    assert unknown_subsets(rules, "catalog", {"v1", "v2"}) == ["v2"]


def test_linkerd_annotations() -> None:
    """Linkerd's annotation names, durations normalized, null removes; grpc not on a route."""
    params = LinkerdPolicyParams.model_validate(
        {
            "annotations": {
                "retry.linkerd.io/http": "5xx",
                "retry.linkerd.io/limit": 3,
                "timeout.linkerd.io/request": "0.5s",
                "retry.linkerd.io/timeout": None,
            }
        }
    )
    assert annotations_patch(params, "Service") == {
        "metadata": {
            "annotations": {
                "retry.linkerd.io/http": "5xx",
                "retry.linkerd.io/limit": "3",
                "timeout.linkerd.io/request": "500ms",
                "retry.linkerd.io/timeout": None,
            }
        }
    }
    with pytest.raises(ValidationError, match=r"not retry\.linkerd\.io/budget"):
        LinkerdPolicyParams.model_validate({"annotations": {"retry.linkerd.io/budget": "1"}})
    grpc = LinkerdPolicyParams.model_validate({"annotations": {"retry.linkerd.io/grpc": "x"}})
    with pytest.raises(FaultError, match="not valid on an HTTPRoute"):
        annotations_patch(grpc, "HTTPRoute")


def test_linkerd_route_split_backends() -> None:
    """The rule's backendRefs become the weighted Services, on the rule's port."""
    route = {
        "metadata": {"name": "catalog", "namespace": "shop"},
        "spec": {"rules": [{"backendRefs": [{"name": "catalog", "port": 8080}]}]},
    }
    params = LinkerdRouteSplitParams.model_validate(
        {"backends": {"catalog": 90, "error-injector": 10}}
    )
    refs = route_split_patch(route, params)["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["port"], r["weight"], r["kind"]) for r in refs] == [
        ("catalog", 8080, 90, "Service"),
        ("error-injector", 8080, 10, "Service"),
    ]
    with pytest.raises(FaultError, match="has 1 rule"):
        route_split_patch(route, params.model_copy(update={"rule": 1}))


def test_consul_and_scale_patches() -> None:
    """A Consul merge patch goes under spec; a scale sets spec.replicas."""
    params = ConsulPolicyParams.model_validate({"patch": {"requestTimeout": "1s"}})
    assert config_entry_patch(params) == {"spec": {"requestTimeout": "1s"}}
    assert scale_patch(DeploymentScaleParams(replicas=0)) == {"spec": {"replicas": 0}}
    with pytest.raises(ValidationError):
        DeploymentScaleParams.model_validate({"replicas": -1})


def pod(name: str, owned: bool = True, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if owned:
        metadata["ownerReferences"] = [{"kind": "ReplicaSet", "name": "rs", "controller": True}]
    if deleting:
        metadata["deletionTimestamp"] = "2026-12-04T06:00:00Z"
    return {"metadata": metadata}


def test_pods_to_delete_by_count_and_percentage() -> None:
    """A count or a rounded-up share of the live pods, repeatable with a seed."""
    pods = [pod(f"catalog-{i}") for i in range(5)] + [pod("catalog-x", deleting=True)]
    two = pods_to_delete(pods, PodDeleteParams(count=2, seed=1), "app=catalog")
    assert len(two) == 2 and two == pods_to_delete(pods, PodDeleteParams(count=2, seed=1), "s")
    share = pods_to_delete(pods, PodDeleteParams.model_validate({"percentage": "30%"}), "s")
    assert len(share) == 2  # 30 % of 5 live pods, rounded up
    assert "catalog-x" not in {p["metadata"]["name"] for p in share}
    assert controller_of(pods[0]) == "ReplicaSet/rs"


def test_pods_to_delete_refusals() -> None:
    """Too few pods, or a pod no controller would replace: one clear error each."""
    with pytest.raises(FaultError, match="matches 1 live pod"):
        pods_to_delete([pod("a")], PodDeleteParams(count=2), "app=catalog")
    with pytest.raises(FaultError, match="have no controller"):
        pods_to_delete([pod("a", owned=False)], PodDeleteParams(count=1), "app=catalog")
    with pytest.raises(ValidationError, match="count or percentage"):
        PodDeleteParams.model_validate({"count": 1, "percentage": 10})


def test_object_state_and_expected_after_patch() -> None:
    """A change's expected state is the snapshot with the marked patch merged in."""
    obj = vs()
    obj["metadata"]["labels"] = {"app": "catalog"}
    snapshot = Snapshot.of(ObjectRef.of(VIRTUAL_SERVICE, "shop", "catalog"), obj)
    assert snapshot.resource_version == "7" and snapshot.state.annotations == {}
    change = ObjectChange(snapshot=snapshot, patch={"spec": {"hosts": ["x"]}}, mark="run/f")
    assert change.expected.spec is not None and change.expected.spec["hosts"] == ["x"]
    assert change.expected.annotations == {MARK_ANNOTATION: "run/f"}
    assert change.expected.labels == {"app": "catalog"}
    back = snapshot.state.onto({**obj, "metadata": {**obj["metadata"], "annotations": {"a": "b"}}})
    assert ObjectState.of(back) == snapshot.state and "annotations" not in back["metadata"]


def test_a_controllers_revision_annotation_is_neither_compared_nor_restored() -> None:
    """`deployment.kubernetes.io/revision` (the deployment controller's) is not part of the
    state, in a snapshot read or one loaded from a ledger, and a restore keeps its current
    value: a rollout the controller took (revision 1 -> 2) is not someone's edit."""
    revision = "deployment.kubernetes.io/revision"
    obj = {"metadata": {"annotations": {revision: "1", "team": "a"}}, "spec": {"replicas": 1}}
    snapshot = Snapshot.of(ObjectRef.of(DEPLOYMENT, "shop", "catalog-1"), obj)
    assert snapshot.state.annotations == {"team": "a"}
    loaded = Snapshot.model_validate(
        {**snapshot.model_dump(mode="json"), "state": {"annotations": {revision: "1"}}}
    )
    assert loaded.state.annotations == {}
    now = {"metadata": {"annotations": {revision: "2", MARK_ANNOTATION: "r/f"}}, "spec": {}}
    back = snapshot.state.onto(now)
    assert back["metadata"]["annotations"] == {"team": "a", revision: "2"}
    assert back["spec"] == {"replicas": 1}


def test_differences_name_each_changed_field() -> None:
    """Each changed leaf is one `path: old -> new` (added / removed), cut after a few."""
    before = {"spec": {"http": [{"timeout": "1s"}], "hosts": ["a"]}, "metadata": {"x": 1}}
    after = {"spec": {"http": [{"timeout": "5s"}], "gateways": ["g"]}, "metadata": {"x": 1}}
    lines = differences(before, after)
    assert lines == [
        "spec.gateways: added ['g']",
        "spec.hosts: removed (was ['a'])",
        "spec.http[0].timeout: '1s' -> '5s'",
    ]
    assert describe(lines, limit=1) == "spec.gateways: added ['g']; and 2 more"
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"b": None}}) == {"a": {"c": 2}}


def deployment(generation: int = 2, **status: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "catalog-1", "generation": generation},
        "spec": {"replicas": 1},
        "status": status,
    }


ROLLOUTS = [
    (deployment(observedGeneration=1, replicas=1, updatedReplicas=1, availableReplicas=1),
     "the controller has not seen the new template yet"),
    (deployment(observedGeneration=2, replicas=1, availableReplicas=1),
     "0 of 1 new replica(s) made"),
    (deployment(observedGeneration=2, replicas=2, updatedReplicas=1, availableReplicas=1),
     "1 old replica(s) pending termination"),
    (deployment(observedGeneration=2, replicas=1, updatedReplicas=1),
     "0 of 1 new replica(s) available"),
    (deployment(observedGeneration=2, replicas=1, updatedReplicas=1, availableReplicas=1), ""),
]  # fmt: skip


@pytest.mark.parametrize(("obj", "waiting"), ROLLOUTS)
def test_a_rollout_is_complete_as_kubectl_rollout_status_says(
    obj: dict[str, Any], waiting: str
) -> None:
    """Complete once the controller saw the new template, every replica runs it, no old
    one is left and every new one is available; else what it still waits for."""
    assert rollout_unfinished(obj) == waiting


def test_a_rollout_restart_patches_the_pod_templates_annotation() -> None:
    """The patch `kubectl rollout restart` sends: the template's restartedAt, nothing else."""
    assert restart_patch("2026-12-04T20:00:00Z") == {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-12-04T20:00:00Z"}}}}
    }
