"""The Kubernetes fault kinds as an experiment file writes them: targets checked, the blast
radius (a namespace outside the target's list refused), validate's warning for istio_fault,
and the API calls `run --dry-run` prints for each kind without making them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from harness.faults.kube_plan import faults_plan, permissions, planned_calls, role_rules
from harness.kube.targets import namespace_problem
from harness.spec.faults import FAULT_MODELS, FaultSpec, kinds_of
from harness.spec.kube_faults import KubeFaultBase, interleaved_changes

MODELS = {kinds_of(m)[0]: m for m in FAULT_MODELS if issubclass(m, KubeFaultBase)}

EXAMPLES: list[dict[str, Any]] = [
    {
        "kind": "istio_fault",
        "target": "catalog",
        "params": {"abort": {"httpStatus": 503, "percentage": 10}},
    },
    {
        "kind": "istio_policy",
        "target": "destinationrule/catalog",
        "params": {"patch": {"outlierDetection": {"consecutive5xxErrors": 1}}},
    },
    {
        "kind": "istio_traffic_split",
        "target": "catalog",
        "params": {"weights": {"v1": 50, "v2": 50}},
    },
    {
        "kind": "linkerd_policy",
        "target": "service/catalog",
        "params": {"annotations": {"retry.linkerd.io/http": "5xx"}},
    },
    {
        "kind": "linkerd_route_split",
        "target": "httproute/catalog",
        "params": {"backends": {"catalog": 90, "error-injector": 10}},
    },
    {
        "kind": "consul_policy",
        "target": "serviceresolver/catalog",
        "params": {"patch": {"requestTimeout": "100ms"}},
    },
    {"kind": "pod_delete", "target": "app=catalog,version in (v1,v2)", "params": {"count": 1}},
    {"kind": "deployment_scale", "target": "catalog", "params": {"replicas": 0}},
]

FAULT: TypeAdapter[FaultSpec] = TypeAdapter(FaultSpec)


def parse(data: dict[str, Any]) -> KubeFaultBase:
    return MODELS[data["kind"]].model_validate({"name": "f", **data})


@pytest.mark.parametrize("data", EXAMPLES, ids=[e["kind"] for e in EXAMPLES])
def test_each_kind_parses_and_plans_its_calls(data: dict[str, Any]) -> None:
    """Every kind validates and says the calls it would make: a read first, then its write,
    all in its namespace (the first allowed one by default)."""
    fault = parse(data)
    assert fault.namespace_problem(["shop"]) is None
    calls = planned_calls(fault, "shop")
    assert calls[0].startswith("apply  GET")
    assert any(" PATCH " in c or " DELETE " in c for c in calls)
    assert all("/namespaces/shop/" in c for c in calls if " /ap" in c)


def test_every_kubernetes_kind_is_a_fault_kind() -> None:
    """The eight Kubernetes kinds are in the experiment file's FaultSpec, each with an example."""
    assert sorted(MODELS) == sorted(e["kind"] for e in EXAMPLES)


def test_namespace_outside_the_list_refused() -> None:
    """A fault on a namespace the target does not list is refused, naming the list."""
    fault = parse({**EXAMPLES[0], "namespace": "prod"})
    assert fault.namespace_problem(["shop", "shop-canary"]) == (
        "namespace",
        "'prod' is not in the target's kubernetes.namespaces (shop, shop-canary): "
        "meshproof may not touch it",
    )
    assert namespace_problem(None, []) != ""
    assert namespace_problem(None, ["shop"]) == ""


def test_istio_fault_warns_about_retries_and_timeouts() -> None:
    """validate's warning: Istio does not retry or time out a route that has a fault."""
    (warning,) = parse(EXAMPLES[0]).warnings()
    assert "retries" in warning and "timeout" in warning


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({**EXAMPLES[1], "target": "gateway/x"}, "expected 'virtualservice/<name>'"),
        (
            {**EXAMPLES[1], "target": "virtualservice/catalog"},
            "connectionPool / outlierDetection cannot be set on a VirtualService",
        ),
        ({**EXAMPLES[3], "target": "deployment/catalog"}, "'service/<name>'"),
        ({**EXAMPLES[6], "target": "app=catalog,,"}, "expected a label selector"),
        ({**EXAMPLES[7], "target": "Catalog_1"}, "expected a Kubernetes object name"),
        ({**EXAMPLES[0], "namespace": "Shop!"}, "expected a Kubernetes namespace name"),
    ],
)
def test_bad_targets_refused(data: dict[str, Any], problem: str) -> None:
    """A target of the wrong shape is refused by the model, saying what was expected."""
    with pytest.raises(ValidationError, match=problem):
        parse(data)


def test_dry_run_plan_of_an_istio_fault() -> None:
    """An istio_fault without a named VirtualService lists them, patches the one found,
    and says it would create and delete one when none serves the host."""
    calls = planned_calls(parse(EXAMPLES[0]), "shop")
    assert calls[0] == (
        "apply  GET    /apis/networking.istio.io/v1/namespaces/shop/virtualservices  "
        "(the VirtualService serving host catalog)"
    )
    assert "PATCH  /apis/networking.istio.io/v1/namespaces/shop/virtualservices/<it>" in calls[1]
    assert "resourceVersion" in calls[1] and "meshproof.io/fault" in calls[1]
    assert calls[2].startswith("revert GET") and calls[3].startswith("revert PUT")
    assert "DELETE" in calls[4] and "meshproof-f" in calls[4]


def test_permissions_each_kind_needs() -> None:
    """The RBAC verbs: read, patch, and update (rollback's PUT); list and create/delete where
    a VirtualService is searched for or made; list and delete for pods."""
    names = {e["kind"]: [f"{v} {r.plural}" for v, r in permissions(parse(e))] for e in EXAMPLES}
    assert names["istio_fault"] == [
        "list virtualservices",
        "get virtualservices",
        "patch virtualservices",
        "update virtualservices",
        "create virtualservices",
        "delete virtualservices",
    ]
    assert names["deployment_scale"] == [
        "get deployments",
        "patch deployments",
        "update deployments",
    ]
    assert "list destinationrules" in names["istio_traffic_split"]
    assert names["pod_delete"] == ["list pods", "delete pods"]
    assert "update services" in names["linkerd_policy"]


def test_role_rules_and_the_dry_run_plan_of_an_experiment() -> None:
    """A Role with exactly the verbs of the faults given; the plan lists every fault in
    timeline order, in its namespace or the target's first one."""
    faults = [parse({**EXAMPLES[7], "at": "20s"}), parse({**EXAMPLES[6], "namespace": "b"})]
    assert role_rules(faults) == [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch", "update"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete", "list"]},
    ]
    lines = faults_plan(faults, ["a"])
    assert lines[0] == "fault f (pod_delete on app=catalog,version in (v1,v2)) at 0s to the end:"
    assert "/api/v1/namespaces/b/pods" in lines[1]
    assert lines[4].startswith("fault f (deployment_scale on catalog) at 20s")
    assert "/apis/apps/v1/namespaces/a/deployments/catalog" in lines[5]


def test_interleaved_changes_of_one_object_are_warned_about() -> None:
    """Two faults on one Deployment: one inside the other or one after the other unwind in
    order (no warning); overlapping otherwise, the later one is warned about. Other objects,
    other namespaces and pod_delete (nothing restored) are not."""
    scale = EXAMPLES[7]

    def at(start: str, duration: str, **more: Any) -> KubeFaultBase:
        return parse(
            {**scale, "name": f"f{start}{duration}", "at": start, "duration": duration, **more}
        )

    outer, inner, after, crossing = (
        at("0s", "30s"),
        at("5s", "10s"),
        at("30s", "5s"),
        at("20s", "20s"),
    )
    assert interleaved_changes([outer, inner, after]) == []
    (warning,) = interleaved_changes([outer, crossing])
    assert warning[0] == 1
    assert warning[1].startswith("changes deployment/catalog as faults[0] ('f0s30s') does")
    assert interleaved_changes([outer, at("20s", "20s", namespace="other")]) == []
    assert interleaved_changes([outer, at("20s", "20s", target="cart")]) == []
    pods = [
        parse({**EXAMPLES[6], "name": n, "at": t, "duration": "20s"})
        for n, t in (("a", "0s"), ("b", "10s"))
    ]
    assert interleaved_changes(pods) == []


def test_the_kubernetes_runtimes_own_faults_are_planned_as_api_calls() -> None:
    """On the kubernetes runtime a pause is an exec into the pod (and one to resume), a
    control-plane outage a scale of its Deployment; elsewhere neither calls the API."""
    pause = FAULT.validate_python(
        {"name": "p", "kind": "process_pause", "target": "service:catalog-0", "duration": "5s"}
    )
    outage = FAULT.validate_python(
        {"name": "o", "kind": "control_plane_outage", "at": "9s", "duration": "5s"}
    )
    lines = faults_plan([outage, pause], ["shop"], kubernetes_runtime=True)
    assert lines[0].startswith("fault p (process_pause on service:catalog-0)")
    assert "/api/v1/namespaces/shop/pods/<it>/exec" in lines[2] and "kill -STOP" in lines[3]
    assert lines[4].startswith("  revert POST") and "kill -CONT" in lines[4]
    assert lines[5].startswith("fault o (control_plane_outage")
    assert "/apis/apps/v1/namespaces/shop/deployments/control-plane" in lines[6]
    assert "spec.replicas = 0" in lines[7]
    elsewhere = faults_plan([outage, pause], ["shop"])
    assert (
        elsewhere[1]
        == elsewhere[3]
        == "  no Kubernetes API call (it acts on the reference mesh's parts)"
    )
