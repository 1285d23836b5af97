"""translate: Istio objects of one namespace -> the reference mesh's MeshConfig, and every
field it does not implement named in the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mesh_runtime.config import MeshConfig
from mesh_runtime.control.build import build_mesh_config
from mesh_runtime.control.istio import translate
from mesh_runtime.topology import load_topology

SHOP = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop.yaml"
NS = "shop"


@pytest.fixture
def base() -> MeshConfig:
    topology = load_topology(SHOP)
    inbound = {inst.name: f"127.0.0.1:{20000 + i}" for i, inst in enumerate(topology.instances())}
    return build_mesh_config(topology, inbound, {})


def obj(
    kind: str, name: str, spec: dict[str, Any], created: str = "2026-12-04T05:00:00Z"
) -> dict[str, Any]:
    group = "security" if kind in ("PeerAuthentication", "AuthorizationPolicy") else "networking"
    return {
        "apiVersion": f"{group}.istio.io/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS, "creationTimestamp": created},
        "spec": spec,
    }


def catalog_vs(**route: Any) -> dict[str, Any]:
    return obj(
        "VirtualService",
        "catalog",
        {
            "hosts": ["catalog"],
            "http": [{"route": [{"destination": {"host": "catalog"}}], **route}],
        },
    )


def test_an_abort_fault_with_percentage_becomes_the_routes_fault(base: MeshConfig) -> None:
    """VirtualService fault.abort {httpStatus, percentage.value} -> catalog's route fault."""
    vs = catalog_vs(fault={"abort": {"httpStatus": 503, "percentage": {"value": 10.0}}})
    result = translate([vs], base, NS)
    route = result.config.services["catalog"].policy.http[0]
    assert route.fault is not None and route.fault.abort is not None
    assert (route.fault.abort.httpStatus, route.fault.abort.percentage) == (503, 10.0)
    assert route.route == [] and result.unimplemented == () and result.problems == ()


def test_a_delay_reads_fixed_delay_and_the_deprecated_percent(base: MeshConfig) -> None:
    """fault.delay {fixedDelay: 250ms, percent: 30} -> a 0.25 s delay on 30 %."""
    vs = catalog_vs(fault={"delay": {"fixedDelay": "250ms", "percent": 30}})
    delay = translate([vs], base, NS).config.services["catalog"].policy.http[0].fault.delay  # type: ignore[union-attr]
    assert delay is not None and (delay.fixedDelay, delay.percentage) == (0.25, 30.0)


def test_a_fault_without_percentage_injects_nothing(base: MeshConfig) -> None:
    """As Envoy's unset fraction: an abort without percentage aborts 0 %."""
    vs = catalog_vs(fault={"abort": {"httpStatus": 500}})
    fault = translate([vs], base, NS).config.services["catalog"].policy.http[0].fault
    assert fault is not None and fault.abort is not None and fault.abort.percentage == 0.0


def test_unimplemented_fields_are_named_and_the_rest_applies(base: MeshConfig) -> None:
    """mirror, retryRemoteLocalities, corsPolicy, tcp: each reported by its path; timeout applies."""
    vs = catalog_vs(
        timeout="2s",
        mirror={"host": "catalog"},
        corsPolicy={"allowOrigins": [{"exact": "x"}]},
        retries={"attempts": 1, "retryOn": "5xx,refused-stream", "retryRemoteLocalities": True},
    )
    vs["spec"]["tcp"] = [{"route": [{"destination": {"host": "catalog"}}]}]
    result = translate([vs], base, NS)
    route = result.config.services["catalog"].policy.http[0]
    assert route.timeout == 2.0 and route.retries is not None and route.retries.retryOn == "5xx"
    label = "VirtualService shop/catalog"
    assert set(result.unimplemented) == {
        f"{label}: spec.http[0].mirror",
        f"{label}: spec.http[0].corsPolicy",
        f"{label}: spec.http[0].retries.retryRemoteLocalities",
        f"{label}: spec.http[0].retries.retryOn: condition 'refused-stream'",
        f"{label}: spec.tcp",
    }


def test_a_match_entry_with_an_unchecked_condition_is_left_out(base: MeshConfig) -> None:
    """queryParams cannot be checked: that entry goes (the route matches less, never more)."""
    vs = obj(
        "VirtualService",
        "catalog",
        {
            "hosts": ["catalog.shop.svc.cluster.local"],
            "http": [
                {
                    "name": "q",
                    "match": [{"queryParams": {"a": {"exact": "1"}}}],
                    "fault": {"abort": {"httpStatus": 500, "percentage": {"value": 100}}},
                },
                {"name": "h", "match": [{"uri": {"prefix": "/p"}}, {"ignoreUriCase": True}]},
                {"name": "rest"},
            ],
        },
    )
    result = translate([vs], base, NS)
    routes = result.config.services["catalog"].policy.http
    assert [r.name for r in routes] == ["h", "rest"]
    assert len(routes[0].match) == 1 and routes[0].match[0].uri is not None
    assert any("spec.http[0].match[0].queryParams" in line for line in result.unimplemented)
    assert any("spec.http[1].match[1].ignoreUriCase" in line for line in result.unimplemented)
    assert any("spec.http[0]: left out" in line for line in result.problems)


def test_subsets_resolve_through_the_destination_rule(base: MeshConfig) -> None:
    """A VirtualService's subset names become versions through the DestinationRule's labels."""
    dr = obj(
        "DestinationRule",
        "catalog",
        {
            "host": "catalog",
            "trafficPolicy": {
                "loadBalancer": {"simple": "LEAST_CONN"},
                "outlierDetection": {"consecutive5xxErrors": 3, "interval": "1s"},
            },
            "subsets": [
                {"name": "stable", "labels": {"version": "v1"}},
                {"name": "canary", "labels": {"version": "v2"}},
            ],
        },
    )
    split = [
        {"destination": {"host": "catalog", "subset": "stable"}, "weight": 90},
        {"destination": {"host": "catalog", "subset": "canary"}, "weight": 10},
    ]
    vs = obj("VirtualService", "catalog", {"hosts": ["catalog"], "http": [{"route": split}]})
    result = translate([vs, dr], base, NS)
    policy = result.config.services["catalog"].policy
    assert [(d.subset, d.weight) for d in policy.http[0].route] == [("v1", 90), ("v2", 10)]
    assert policy.trafficPolicy.loadBalancer.simple == "LEAST_REQUEST"
    assert policy.trafficPolicy.outlierDetection is not None
    assert policy.trafficPolicy.outlierDetection.consecutive5xxErrors == 3
    assert result.unimplemented == () and result.problems == ()


def test_the_oldest_object_for_a_service_wins(base: MeshConfig) -> None:
    """Two VirtualServices for catalog: the older applies, the younger is a problem."""
    old = catalog_vs(timeout="1s")
    young = obj(
        "VirtualService",
        "catalog-too",
        {"hosts": ["catalog"], "http": [{"timeout": "9s"}]},
        created="2026-12-04T06:00:00Z",
    )
    result = translate([young, old], base, NS)
    assert result.config.services["catalog"].policy.http[0].timeout == 1.0
    assert result.problems == (
        "VirtualService shop/catalog-too: left out for catalog: the older VirtualService shop/catalog applies",
    )


def test_a_route_that_does_not_validate_is_left_out_with_its_reason(base: MeshConfig) -> None:
    """Weights adding up to 90: that route is a problem; the service keeps the default route."""
    split = [
        {"destination": {"host": "catalog", "subset": "v1"}, "weight": 50},
        {"destination": {"host": "catalog", "subset": "v2"}, "weight": 40},
    ]
    vs = obj("VirtualService", "catalog", {"hosts": ["catalog"], "http": [{"route": split}]})
    result = translate([vs], base, NS)
    assert [r.name for r in result.config.services["catalog"].policy.http] == ["default"]
    assert any("route weights must add up to 100" in p for p in result.problems)


def test_other_hosts_and_services_are_problems_not_routes(base: MeshConfig) -> None:
    """A host of another namespace names nothing; routing to another service is not implemented."""
    vs = obj(
        "VirtualService",
        "x",
        {
            "hosts": ["catalog.other", "cart"],
            "http": [{"route": [{"destination": {"host": "inventory"}}]}],
        },
    )
    result = translate([vs], base, NS)
    assert (
        "VirtualService shop/x: spec.hosts[0]: 'catalog.other' is no service of this mesh"
        in result.problems
    )
    assert any(
        "destination.host: 'inventory' (routing to another service)" in u
        for u in result.unimplemented
    )


def test_peer_authentication_sets_the_mesh_and_a_services_mode(base: MeshConfig) -> None:
    """Namespace-wide STRICT is the mesh's mode, a selector's DISABLE the service's; without
    any the mesh is PERMISSIVE (Istio's default)."""
    assert translate([], base, NS).config.mesh.mtls == "PERMISSIVE"
    wide = obj("PeerAuthentication", "default", {"mtls": {"mode": "STRICT"}})
    one = obj(
        "PeerAuthentication",
        "cart",
        {
            "selector": {"matchLabels": {"app": "cart"}},
            "mtls": {"mode": "DISABLE"},
            "portLevelMtls": {"8080": {"mode": "STRICT"}},
        },
    )
    result = translate([wide, one], base, NS)
    assert result.config.mesh.mtls == "STRICT"
    assert result.config.services["cart"].policy.mtls == "DISABLE"
    assert result.config.services["catalog"].policy.mtls is None
    assert result.unimplemented == ("PeerAuthentication shop/cart: spec.portLevelMtls",)


def test_authorization_fails_closed_on_conditions_it_cannot_check(base: MeshConfig) -> None:
    """An ALLOW rule with `when` is left out, a DENY rule applies without it, AUDIT is left out;
    a policy without selector applies to every service."""
    allow = obj(
        "AuthorizationPolicy",
        "frontend-only",
        {
            "selector": {"matchLabels": {"app": "catalog"}},
            "action": "ALLOW",
            "rules": [
                {"from": [{"source": {"principals": ["meshproof.local/ns/default/sa/frontend"]}}]},
                {"when": [{"key": "request.headers[x]", "values": ["1"]}]},
            ],
        },
    )
    deny = obj(
        "AuthorizationPolicy",
        "no-delete",
        {
            "action": "DENY",
            "rules": [
                {
                    "to": [{"operation": {"methods": ["DELETE"]}}],
                    "when": [{"key": "k", "values": ["v"]}],
                }
            ],
        },
    )
    audit = obj("AuthorizationPolicy", "audit", {"action": "AUDIT", "rules": [{}]})
    result = translate([allow, deny, audit], base, NS)
    catalog = result.config.services["catalog"].policy.authorization
    assert [(p.name, p.action, len(p.rules)) for p in catalog] == [
        ("frontend-only", "ALLOW", 1),
        ("no-delete", "DENY", 1),
    ]
    assert [p.name for p in result.config.services["cart"].policy.authorization] == ["no-delete"]
    assert set(result.unimplemented) == {
        "AuthorizationPolicy shop/frontend-only: spec.rules[1].when: cannot be checked (this ALLOW rule is left out)",
        "AuthorizationPolicy shop/no-delete: spec.rules[0].when (this DENY rule applies without it)",
        "AuthorizationPolicy shop/audit: spec.action: 'AUDIT': not implemented (the policy is left out)",
    }


def test_retry_on_status_codes_and_backoff(base: MeshConfig) -> None:
    """Numeric retryOn entries are retriable status codes; backoff is the base interval;
    retries without attempts retry nothing."""
    vs = catalog_vs(
        retries={"retryOn": "gateway-error,503", "backoff": "50ms", "perTryTimeout": "1s"}
    )
    retries = translate([vs], base, NS).config.services["catalog"].policy.http[0].retries
    assert retries is not None
    assert (retries.attempts, retries.retryOn, retries.retriableStatusCodes) == (
        0,
        "gateway-error,retriable-status-codes",
        [503],
    )
    assert (retries.backoffBaseInterval, retries.perTryTimeout) == (0.05, 1.0)


def test_no_objects_give_every_service_the_default_policy(base: MeshConfig) -> None:
    """The objects are the whole configuration: the topology's policies do not linger."""
    result = translate([], base, NS)
    catalog = result.config.services["catalog"].policy
    assert catalog.http[0].retries is None and catalog.trafficPolicy.outlierDetection is None
    assert [e.instance for e in result.config.services["catalog"].endpoints] == [
        "catalog-0",
        "catalog-1",
    ]


def tcp_rule(**tcp: Any) -> dict[str, Any]:
    return obj(
        "DestinationRule",
        "catalog",
        {"host": "catalog", "trafficPolicy": {"connectionPool": {"tcp": tcp}}},
    )


@pytest.mark.parametrize(("given", "seconds"), [("30s", 30.0), ("1h", 3600.0), ("0s", 0.0)])
def test_a_tcp_idle_timeout_is_read_from_the_destination_rule(
    base: MeshConfig, given: str, seconds: float
) -> None:
    """connectionPool.tcp.idleTimeout applies (0s: disabled), with nothing unimplemented."""
    result = translate([tcp_rule(maxConnections=10, idleTimeout=given)], base, NS)
    tcp = result.config.services["catalog"].policy.trafficPolicy.connectionPool.tcp
    assert (tcp.maxConnections, tcp.idleTimeout) == (10, seconds)
    assert result.unimplemented == () and result.problems == ()


def test_without_a_tcp_idle_timeout_istios_default_of_an_hour_applies(base: MeshConfig) -> None:
    """No idleTimeout: 1 h, as Istio (Envoy's tcp_proxy default)."""
    result = translate([tcp_rule(maxConnections=10)], base, NS)
    tcp = result.config.services["catalog"].policy.trafficPolicy.connectionPool.tcp
    assert tcp.idleTimeout == 3600.0


def test_a_bad_tcp_idle_timeout_is_a_problem_naming_the_field(base: MeshConfig) -> None:
    """A negative or unreadable idleTimeout leaves the traffic policy out, said at its path,
    as every other field of it."""
    for bad in ("-1s", "soon"):
        result = translate([tcp_rule(idleTimeout=bad)], base, NS)
        policy = result.config.services["catalog"].policy.trafficPolicy
        assert policy.connectionPool.tcp.idleTimeout == 3600.0
        [problem] = result.problems
        assert problem.startswith(
            "DestinationRule shop/catalog: spec.trafficPolicy.connectionPool.tcp.idleTimeout: "
        ), problem
        assert problem.endswith("; left out")
