"""Istio objects of one namespace -> the reference mesh's configuration.

    translation = translate(objects, base, namespace="shop")
    translation.config          # base, every service's policy and the mesh's mTLS mode
                                # replaced by what the objects say
    translation.unimplemented   # "VirtualService shop/catalog: spec.http[0].mirror", ...
    translation.problems        # objects (or parts) that could not be used, and why

The objects are the whole configuration: a service no VirtualService / DestinationRule
names gets the reference mesh's default policy, and without a namespace-wide
PeerAuthentication the mesh is PERMISSIVE, as Istio's default. Where two objects of a kind
claim a service the oldest wins (Istio's rule) and the other is a problem. Endpoints and
the trust domain come from `base`. Pure: no I/O, the same objects give the same config.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.config.policy import HTTPRoute, ServicePolicy, TrafficPolicy
from mesh_runtime.config.security import AuthorizationPolicy, MtlsMode
from mesh_runtime.control.istio.kinds import (
    AUTHORIZATION_POLICY,
    DESTINATION_RULE,
    PEER_AUTHENTICATION,
    VIRTUAL_SERVICE,
    age_key,
)
from mesh_runtime.control.istio.networking import (
    Destination,
    Routes,
    destination_rule,
    virtual_service,
)
from mesh_runtime.control.istio.report import Report
from mesh_runtime.control.istio.security import (
    Authorization,
    PeerMode,
    authorization_policy,
    peer_authentication,
)
from mesh_runtime.validation import first_problem

ISTIO_DEFAULT_MTLS: MtlsMode = "PERMISSIVE"

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class Translation:
    config: MeshConfig
    unimplemented: tuple[str, ...]
    problems: tuple[str, ...]


def translate(
    objects: Iterable[Mapping[str, Any]], base: MeshConfig, namespace: str
) -> Translation:
    """The configuration `objects` describe, over `base`'s services and endpoints."""
    services = list(base.services)
    report = Report()
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for obj in sorted(objects, key=age_key):
        by_kind.setdefault(str(obj.get("kind")), []).append(obj)

    def read(kind: str, reader: Callable[[Mapping[str, Any]], T | None]) -> list[T]:
        found = (reader(obj) for obj in by_kind.get(kind, []))
        return [item for item in found if item is not None]

    routes = read(VIRTUAL_SERVICE.kind, lambda o: virtual_service(o, namespace, services, report))
    rules = read(DESTINATION_RULE.kind, lambda o: destination_rule(o, namespace, services, report))
    peers = read(PEER_AUTHENTICATION.kind, lambda o: peer_authentication(o, services, report))
    authz = read(AUTHORIZATION_POLICY.kind, lambda o: authorization_policy(o, services, report))
    destinations = _first_per_service(rules, lambda d: [d.service], "DestinationRule", report)
    virtuals = _first_per_service(routes, lambda r: r.services, "VirtualService", report)
    policies = {
        name: _policy(name, virtuals.get(name), destinations.get(name), peers, authz, report)
        for name in services
    }
    entries = {
        name: base.services[name].model_copy(update={"policy": p}) for name, p in policies.items()
    }
    mesh = base.mesh.model_copy(update={"mtls": _mesh_mode(peers, report)})
    config = base.model_copy(update={"services": entries, "mesh": mesh})
    return Translation(
        config=config,
        unimplemented=tuple(dict.fromkeys(report.unimplemented)),
        problems=tuple(dict.fromkeys(report.problems)),
    )


def _first_per_service(
    items: list[Any], services_of: Callable[[Any], list[str]], kind: str, report: Report
) -> dict[str, Any]:
    """Service -> the oldest item naming it; a younger one is reported for that service."""
    chosen: dict[str, Any] = {}
    for item in items:
        for service in services_of(item):
            if service in chosen:
                older = chosen[service].label.split(" ", 1)[1]
                report.problem(
                    item.label, f"left out for {service}: the older {kind} {older} applies"
                )
            else:
                chosen[service] = item
    return chosen


def _policy(
    service: str,
    routes: Routes | None,
    destination: Destination | None,
    peers: list[PeerMode],
    authz: list[Authorization],
    report: Report,
) -> ServicePolicy:
    traffic = TrafficPolicy()
    if destination is not None:
        traffic = (
            _valid(
                destination.traffic, TrafficPolicy, destination.label, "spec.trafficPolicy", report
            )
            or traffic
        )
    http: list[HTTPRoute] = []
    if routes is not None:
        subsets = destination.subsets if destination is not None else {}
        for i, route in enumerate(routes.http):
            data = _with_versions(route, subsets, service, routes.label, report)
            valid = _valid(data, HTTPRoute, routes.label, f"spec.http[{i}]", report)
            if valid is not None:
                http.append(valid)
    mode = next((p.mode for p in peers if service in p.selected.services and p.mode), None)
    policies = [
        _valid(a.policy, AuthorizationPolicy, a.label, "spec", report)
        for a in authz
        if a.selected.everyone or service in a.selected.services
    ]
    return ServicePolicy(
        trafficPolicy=traffic,
        http=http or [HTTPRoute()],
        mtls=mode,
        authorization=[p for p in policies if p is not None],
    )


def _with_versions(
    route: dict[str, Any], subsets: Mapping[str, str], service: str, label: str, report: Report
) -> dict[str, Any]:
    """The route with each destination's subset name replaced by its version."""
    if not route.get("route"):
        return route
    destinations = []
    for destination in route["route"]:
        name = destination.get("subset")
        version = subsets.get(name) if name is not None else None
        if name is not None and version is None:
            report.problem(
                label,
                f"subset {name!r} of {service} is in no DestinationRule; taken as version {name!r}",
            )
            version = name
        destinations.append({**destination, "subset": version})
    return {**route, "route": destinations}


def _mesh_mode(peers: list[PeerMode], report: Report) -> MtlsMode:
    wide = [p for p in peers if p.selected.everyone]
    for younger in wide[1:]:
        report.problem(younger.label, f"left out: the older namespace-wide {wide[0].label} applies")
    mode = wide[0].mode if wide else None
    return mode if mode in ("DISABLE", "PERMISSIVE", "STRICT") else ISTIO_DEFAULT_MTLS  # type: ignore[return-value]


def _valid(data: Any, model: type[M], label: str, where: str, report: Report) -> M | None:
    """`data` as `model`, or None with the problem reported at its field path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        path, problem = first_problem(exc, data, model)
        report.problem(
            label,
            f"{where}.{path}: {problem}; left out" if path else f"{where}: {problem}; left out",
        )
        return None
