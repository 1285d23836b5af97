"""istio_objects: a topology's policies as Istio objects, and back through translate unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_runtime.config import (
    AuthorizationPolicy,
    Fault,
    FaultAbort,
    HTTPMatch,
    HTTPRoute,
    Retries,
    RetryBudget,
    ServicePolicy,
    StringMatch,
)
from mesh_runtime.control.build import build_mesh_config
from mesh_runtime.control.istio import istio_objects, translate
from mesh_runtime.topology import Topology, load_topology

TOPOLOGIES = sorted(
    (Path(__file__).resolve().parents[3] / "experiments" / "topologies").glob("*.yaml")
)


def base_of(topology: Topology):  # type: ignore[no-untyped-def]
    inbound = {inst.name: f"127.0.0.1:{20000 + i}" for i, inst in enumerate(topology.instances())}
    return build_mesh_config(topology, inbound, {})


def named_as_written(service: str, policy: ServicePolicy) -> ServicePolicy:
    """The policy with each authorization policy renamed as its object is (`<service>-<name>`)."""
    renamed = [p.model_copy(update={"name": f"{service}-{p.name}"}) for p in policy.authorization]
    return policy.model_copy(update={"authorization": renamed})


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.stem)
def test_every_library_topology_survives_the_round_trip(path: Path) -> None:
    """Topology -> Istio objects -> translate gives back every policy and the mesh's mode,
    with nothing unimplemented and no problem."""
    topology = load_topology(path)
    rendered = istio_objects(topology, "shop")
    result = translate(rendered.objects, base_of(topology), "shop")
    assert rendered.notes == [] and result.unimplemented == () and result.problems == ()
    assert result.config.mesh.mtls == topology.mesh.mtls
    for name, spec in topology.services.items():
        assert result.config.services[name].policy == named_as_written(name, spec.policy), name


def test_objects_are_labelled_and_named_per_service() -> None:
    """One VirtualService and DestinationRule per service (a subset per version), the
    namespace-wide PeerAuthentication `default`, each labelled as meshproof's."""
    topology = load_topology(TOPOLOGIES[0])
    objects = istio_objects(topology, "ns1").objects
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("PeerAuthentication", "default") in names
    for service in topology.services:
        assert {("VirtualService", service), ("DestinationRule", service)} <= names
    assert all(o["metadata"]["namespace"] == "ns1" for o in objects)
    assert all(
        o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "meshproof" for o in objects
    )


def policy_topology(policy: ServicePolicy) -> Topology:
    return Topology.model_validate(
        {
            "name": "t",
            "services": {
                "front": {"ingress": True, "calls": ["back"]},
                "back": {"policy": policy.model_dump(mode="json", by_alias=True)},
            },
        }
    )


def test_a_header_fault_becomes_a_matched_route_before_the_plain_one() -> None:
    """fault.headers (no Istio field) -> a route matching those headers with the fault, then
    the route without it; translated back, the same requests get the same fault."""
    headers = {"x-chaos": StringMatch(exact="on")}
    route = HTTPRoute(
        name="default",
        timeout=2.0,
        fault=Fault(abort=FaultAbort(httpStatus=503, percentage=50), headers=headers),
    )
    topology = policy_topology(ServicePolicy(http=[route]))
    result = translate(istio_objects(topology, "ns").objects, base_of(topology), "ns")
    faulted, plain = result.config.services["back"].policy.http
    assert faulted.name == "default-fault" and faulted.match == [HTTPMatch(headers=headers)]
    assert (
        faulted.fault == Fault(abort=FaultAbort(httpStatus=503, percentage=50))
        and faulted.timeout == 2.0
    )
    assert plain.name == "default" and plain.fault is None and plain.match == []


def test_what_istio_cannot_say_is_a_note() -> None:
    """A retry budget other than the default has no Istio field: a note names it."""
    retries = Retries(attempts=1, budget=RetryBudget(budgetPercent=50))
    topology = policy_topology(
        ServicePolicy(
            http=[HTTPRoute(retries=retries)],
            authorization=[AuthorizationPolicy(name="all", rules=[])],
        )
    )
    notes = istio_objects(topology, "ns").notes
    assert notes == [
        "services.back.policy.http[0].retries.budget: Istio's API has no such field; the mesh's default applies"
    ]


def test_an_istio_fault_patch_on_the_written_objects_translates_to_the_fault() -> None:
    """The istio_fault kind's patch of the VirtualService `up` writes (with a header match)
    gives catalog a matched route with the abort before its own, retries kept, nothing
    unimplemented: the two sides of Istio's API in this project agree."""
    from harness.kube.diff import merge
    from harness.kube.patches.istio import IstioFaultParams, istio_fault_patch

    topology = load_topology(TOPOLOGIES[0].parent / "shop.yaml")
    objects = istio_objects(topology, "shop").objects
    vs = next(
        o for o in objects if o["kind"] == "VirtualService" and o["metadata"]["name"] == "catalog"
    )
    params = IstioFaultParams.model_validate(
        {"abort": {"httpStatus": 503, "percentage": 10}, "headers": {"x-chaos": {"exact": "on"}}}
    )
    patched = merge(vs, istio_fault_patch(vs, params))
    others = [o for o in objects if o is not vs]
    result = translate([*others, patched], base_of(topology), "shop")
    assert result.unimplemented == () and result.problems == ()
    faulted, plain = result.config.services["catalog"].policy.http
    assert faulted.match == [HTTPMatch(headers={"x-chaos": StringMatch(exact="on")})]
    assert faulted.fault == Fault(abort=FaultAbort(httpStatus=503, percentage=10))
    assert plain.fault is None and plain.retries == faulted.retries and plain.retries is not None


@pytest.mark.parametrize("seconds", [0.0, 0.5, 7200.0])
def test_a_tcp_idle_timeout_is_written_and_read_back(seconds: float) -> None:
    """connectionPool.tcp.idleTimeout other than the 1 h default is in the DestinationRule
    (0 too: it disables the timeout) and translates back to the same seconds."""
    from mesh_runtime.config.policy import ConnectionPool, TcpSettings, TrafficPolicy

    pool = ConnectionPool(tcp=TcpSettings(idleTimeout=seconds))
    topology = policy_topology(ServicePolicy(trafficPolicy=TrafficPolicy(connectionPool=pool)))
    rendered = istio_objects(topology, "ns")
    rule = next(
        o
        for o in rendered.objects
        if o["kind"] == "DestinationRule" and o["metadata"]["name"] == "back"
    )
    assert "idleTimeout" in rule["spec"]["trafficPolicy"]["connectionPool"]["tcp"]
    result = translate(rendered.objects, base_of(topology), "ns")
    assert rendered.notes == [] and result.unimplemented == () and result.problems == ()
    tcp = result.config.services["back"].policy.trafficPolicy.connectionPool.tcp
    assert tcp.idleTimeout == seconds
