"""A topology's policies -> Istio objects (the inverse of `translate`), for
`meshproof up --config-source kubernetes`.

Per service: a VirtualService and a DestinationRule named after it (one subset per version,
`labels: {version: <name>}`), a PeerAuthentication when the service sets its own mTLS
mode, an AuthorizationPolicy `<service>-<policy name>` per authorization policy; one
namespace-wide PeerAuthentication `default` with the mesh's mode. Every object carries
the labels in `owner_labels`. What Istio's API cannot say is returned as notes, never
dropped silently: a retry budget or backoff cap other than the defaults. A fault limited
to requests with some headers becomes what Istio writes for it: a route with those header
matches carrying the fault, before the same route without it. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mesh_runtime.config.policy import Fault, HTTPMatch, HTTPRoute, Retries, ServicePolicy
from mesh_runtime.control.istio.kinds import (
    APP_LABEL,
    AUTHORIZATION_POLICY,
    DESTINATION_RULE,
    PEER_AUTHENTICATION,
    VERSION_LABEL,
    VIRTUAL_SERVICE,
    IstioKind,
)
from mesh_runtime.topology import Topology
from mesh_runtime.units import format_duration

MANAGED_BY = "app.kubernetes.io/managed-by"
TOPOLOGY_LABEL = "meshproof.io/topology"
DEFAULT_RETRIES = Retries()


@dataclass(frozen=True)
class Rendered:
    objects: list[dict[str, Any]]
    notes: list[str]
    """What the objects cannot say (the control plane will use its defaults there)."""


def owner_labels(topology: str) -> dict[str, str]:
    """The labels of every object meshproof writes for `topology`."""
    return {MANAGED_BY: "meshproof", TOPOLOGY_LABEL: topology}


def istio_objects(topology: Topology, namespace: str) -> Rendered:
    labels = owner_labels(topology.name)
    notes: list[str] = []
    objects = [
        _object(
            PEER_AUTHENTICATION,
            "default",
            namespace,
            labels,
            {"mtls": {"mode": topology.mesh.mtls}},
        )
    ]
    for name, spec in topology.services.items():
        policy = spec.policy
        versions = [v.name for v in spec.versions]
        where = f"services.{name}.policy"
        objects.append(
            _object(
                VIRTUAL_SERVICE,
                name,
                namespace,
                labels,
                _virtual_service(name, policy, where, notes),
            )
        )
        objects.append(
            _object(
                DESTINATION_RULE, name, namespace, labels, _destination_rule(name, policy, versions)
            )
        )
        if policy.mtls is not None:
            spec_pa = {"selector": _selector(name), "mtls": {"mode": policy.mtls}}
            objects.append(_object(PEER_AUTHENTICATION, name, namespace, labels, spec_pa))
        for authz in policy.authorization:
            spec_ap = {
                "selector": _selector(name),
                "action": authz.action,
                "rules": [
                    r.model_dump(mode="json", by_alias=True, exclude_defaults=True)
                    for r in authz.rules
                ],
            }
            objects.append(
                _object(AUTHORIZATION_POLICY, f"{name}-{authz.name}", namespace, labels, spec_ap)
            )
    return Rendered(objects, notes)


def _object(
    kind: IstioKind, name: str, namespace: str, labels: dict[str, str], spec: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": spec,
    }


def _selector(service: str) -> dict[str, Any]:
    return {"matchLabels": {APP_LABEL: service}}


def _virtual_service(
    service: str, policy: ServicePolicy, where: str, notes: list[str]
) -> dict[str, Any]:
    routes: list[dict[str, Any]] = []
    for i, route in enumerate(policy.http):
        path = f"{where}.http[{i}]"
        routes.extend(
            _http_route(service, r, path, notes) for r in _split_header_fault(route, path, notes)
        )
    return {"hosts": [service], "http": routes}


def _split_header_fault(route: HTTPRoute, where: str, notes: list[str]) -> list[HTTPRoute]:
    """A fault for requests with some headers: that route with the headers matched and the
    fault, then the route as it was without the fault."""
    fault = route.fault
    if fault is None or not fault.headers:
        return [route]
    matches = route.match or [HTTPMatch()]
    for match in matches:
        for name in set(match.headers) & set(fault.headers):
            if match.headers[name] != fault.headers[name]:
                notes.append(
                    f"{where}.fault.headers.{name}: the route's match on {name} is used instead"
                )
    faulted = route.model_copy(
        update={
            "name": f"{route.name}-fault",
            "match": [
                m.model_copy(update={"headers": {**fault.headers, **m.headers}}) for m in matches
            ],
            "fault": fault.model_copy(update={"headers": {}}),
        }
    )
    return [faulted, route.model_copy(update={"fault": None})]


def _http_route(service: str, route: HTTPRoute, where: str, notes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": route.name}
    if route.match:
        out["match"] = [
            m.model_dump(mode="json", exclude_defaults=True, exclude_none=True) for m in route.match
        ]
    several = len(route.route) > 1
    out["route"] = [
        {
            "destination": {"host": service, **({"subset": d.subset} if d.subset else {})},
            **({"weight": d.weight} if several else {}),
        }
        for d in route.route
    ] or [{"destination": {"host": service}}]
    if route.timeout is not None:
        out["timeout"] = format_duration(route.timeout)
    if route.retries is not None:
        out["retries"] = _retries(route.retries, f"{where}.retries", notes)
    if route.fault is not None:
        out["fault"] = _fault(route.fault)
    return out


def _retries(retries: Retries, where: str, notes: list[str]) -> dict[str, Any]:
    conditions = [*Retries.conditions_of(retries.retryOn), *map(str, retries.retriableStatusCodes)]
    out: dict[str, Any] = {"attempts": retries.attempts, "retryOn": ",".join(conditions)}
    if retries.perTryTimeout is not None:
        out["perTryTimeout"] = format_duration(retries.perTryTimeout)
    if retries.backoffBaseInterval != DEFAULT_RETRIES.backoffBaseInterval:
        out["backoff"] = format_duration(retries.backoffBaseInterval)
    for name in ("backoffMaxInterval", "budget"):
        if getattr(retries, name) != getattr(DEFAULT_RETRIES, name):
            notes.append(
                f"{where}.{name}: Istio's API has no such field; the mesh's default applies"
            )
    return out


def _fault(fault: Fault) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if fault.delay is not None:
        out["delay"] = {
            "fixedDelay": format_duration(fault.delay.fixedDelay),
            "percentage": {"value": fault.delay.percentage},
        }
    if fault.abort is not None:
        out["abort"] = {
            **fault.abort.model_dump(include={"httpStatus", "grpcStatus"}, exclude_none=True),
            "percentage": {"value": fault.abort.percentage},
        }
    return out


def _destination_rule(service: str, policy: ServicePolicy, versions: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"host": service}
    traffic = policy.trafficPolicy.model_dump(mode="json", exclude_defaults=True)
    if traffic:
        out["trafficPolicy"] = traffic
    out["subsets"] = [{"name": v, "labels": {VERSION_LABEL: v}} for v in versions]
    return out
