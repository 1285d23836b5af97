"""Istio faults as merge patches of VirtualServices and DestinationRules. Pure.

Field names are Istio's (networking.istio.io/v1): `HTTPRoute.fault` is an
HTTPFaultInjection `{delay: {fixedDelay, percentage: {value}}, abort: {httpStatus,
percentage: {value}}}`; `HTTPRoute.retries` / `timeout`; a DestinationRule's
`trafficPolicy.connectionPool` / `outlierDetection` (also per subset); `HTTPRoute.route`
is a list of `{destination: {host, subset, port}, weight}`.
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator

from harness.errors import FaultError
from harness.kube.diff import merge
from harness.kube.state import KubeModel
from mesh_runtime.config.policy import FaultAbort, FaultDelay, StringMatch
from mesh_runtime.units import format_duration

FAULT_ROUTE_SUFFIX = "-meshproof-fault"
ROUTE_KEYS = frozenset({"retries", "timeout"})
TRAFFIC_POLICY_KEYS = frozenset({"connectionPool", "outlierDetection"})

CLIENT_SIDE_FAULT_WARNING = (
    "Istio does not apply a route's retries and timeout while the route has a fault "
    "(HTTPRoute.fault: 'timeouts or retries will not be enabled when faults are enabled on "
    "the client side'), so this fault also switches them off for the requests it matches"
)


class IstioFaultParams(KubeModel):
    """istio_fault: a delay and/or an abort on the routes of a host's VirtualService."""

    route: str | None = None
    """Only the route with this name; every route of the VirtualService when none."""
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None
    headers: dict[str, StringMatch] = {}
    """Only requests with these headers (Istio's HTTPMatchRequest.headers) get the fault."""

    @model_validator(mode="after")
    def _does_something(self) -> IstioFaultParams:
        if self.delay is None and self.abort is None:
            raise ValueError("expected delay, abort or both (Istio's HTTPFaultInjection)")
        return self


class IstioPolicyParams(KubeModel):
    """istio_policy: a merge patch of a VirtualService route's `retries` / `timeout`, or of
    a DestinationRule's `connectionPool` / `outlierDetection` (its trafficPolicy or a subset's)."""

    route: str | None = None
    """VirtualService: only this route (else every route)."""
    subset: str | None = None
    """DestinationRule: this subset's trafficPolicy (else the rule's own)."""
    patch: dict[str, Any]

    @field_validator("patch")
    @classmethod
    def _keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        allowed = ROUTE_KEYS | TRAFFIC_POLICY_KEYS
        unknown = sorted(set(value) - allowed)
        if not value or unknown:
            raise ValueError(
                f"expected a merge patch of {', '.join(sorted(allowed))}"
                + (f"; not {', '.join(unknown)}" if unknown else "")
            )
        if set(value) & ROUTE_KEYS and set(value) & TRAFFIC_POLICY_KEYS:
            raise ValueError(
                "retries / timeout belong to a VirtualService route, connectionPool / "
                "outlierDetection to a DestinationRule: one kind of object per fault"
            )
        return value

    @property
    def on_route(self) -> bool:
        """True for a VirtualService route's keys, False for a DestinationRule's."""
        return bool(set(self.patch) & ROUTE_KEYS)


class IstioTrafficSplitParams(KubeModel):
    """istio_traffic_split: a VirtualService route's weights between subsets."""

    route: str | None = None
    """The route with this name; the first route when none."""
    host: str | None = None
    """The destination host; the route's first destination's when none."""
    weights: dict[str, int]

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, int]) -> dict[str, int]:
        if not value or sum(value.values()) != 100 or min(value.values()) < 0:
            raise ValueError("expected subset weights adding up to 100, like {v1: 90, v2: 10}")
        return value


def fault_injection(params: IstioFaultParams) -> dict[str, Any]:
    """Istio's HTTPFaultInjection for the params."""
    fault: dict[str, Any] = {}
    if params.delay is not None:
        fault["delay"] = {
            "fixedDelay": format_duration(params.delay.fixedDelay),
            "percentage": {"value": params.delay.percentage},
        }
    if params.abort is not None:
        fault["abort"] = {
            **params.abort.model_dump(include={"httpStatus", "grpcStatus"}, exclude_none=True),
            "percentage": {"value": params.abort.percentage},
        }
    return fault


def serves_host(virtual_service: dict[str, Any], host: str) -> bool:
    """True when the VirtualService's `hosts` name `host` (short or fully qualified)."""
    hosts = (virtual_service.get("spec") or {}).get("hosts") or []
    return any(h == host or str(h).startswith(f"{host}.") for h in hosts)


def virtual_service_of(items: list[dict[str, Any]], host: str) -> dict[str, Any] | None:
    """The VirtualService (of those listed) that serves `host`; None when none does;
    FaultError when several do (which one a fault should change is then unclear)."""
    found = [vs for vs in items if serves_host(vs, host)]
    if len(found) > 1:
        names = ", ".join(sorted(vs["metadata"]["name"] for vs in found))
        raise FaultError(f"several VirtualServices serve host {host!r} ({names}): name one")
    return found[0] if found else None


def istio_fault_patch(virtual_service: dict[str, Any], params: IstioFaultParams) -> dict[str, Any]:
    """The patch putting the fault on the chosen routes. With `headers`, each chosen route
    gets a copy before it that matches only those headers and carries the fault."""
    routes = _routes(virtual_service)
    chosen = _chosen(routes, params.route, virtual_service)
    fault = fault_injection(params)
    http: list[dict[str, Any]] = []
    for index, route in enumerate(routes):
        if index not in chosen:
            http.append(route)
        elif params.headers:
            http.extend([_header_route(route, params.headers, fault), route])
        else:
            http.append({**route, "fault": fault})
    return {"spec": {"http": http}}


def new_virtual_service(host: str, params: IstioFaultParams) -> dict[str, Any]:
    """The state of a VirtualService made for a host that has none: its one route sends
    to the host, with the fault (only for `headers`, then a plain route after it)."""
    route = {"name": "default", "route": [{"destination": {"host": host}}]}
    fault = fault_injection(params)
    http = (
        [_header_route(route, params.headers, fault), route]
        if params.headers
        else [{**route, "fault": fault}]
    )
    return {"spec": {"hosts": [host], "http": http}}


def route_policy_patch(
    virtual_service: dict[str, Any], params: IstioPolicyParams
) -> dict[str, Any]:
    """The patch merging `params.patch` (retries / timeout) into the chosen routes."""
    routes = _routes(virtual_service)
    chosen = _chosen(routes, params.route, virtual_service)
    http = [merge(r, params.patch) if i in chosen else r for i, r in enumerate(routes)]
    return {"spec": {"http": http}}


def traffic_policy_patch(
    destination_rule: dict[str, Any], params: IstioPolicyParams
) -> dict[str, Any]:
    """The patch merging `params.patch` into the rule's trafficPolicy, or a subset's."""
    if params.subset is None:
        return {"spec": {"trafficPolicy": params.patch}}
    subsets = list((destination_rule.get("spec") or {}).get("subsets") or [])
    names = [s.get("name") for s in subsets]
    if params.subset not in names:
        raise FaultError(
            f"{_name(destination_rule)} has no subset {params.subset!r} "
            f"(subsets: {', '.join(map(str, names)) or 'none'})"
        )
    changed = [
        merge(s, {"trafficPolicy": params.patch}) if s.get("name") == params.subset else s
        for s in subsets
    ]
    return {"spec": {"subsets": changed}}


def traffic_split_patch(
    virtual_service: dict[str, Any], params: IstioTrafficSplitParams
) -> dict[str, Any]:
    """The patch making the chosen route (else the first) send `weights[s]` % to subset s."""
    routes = _routes(virtual_service)
    index = min(_chosen(routes, params.route, virtual_service))
    current = list(routes[index].get("route") or [])
    first = (current[0].get("destination") or {}) if current else {}
    host = params.host or first.get("host")
    if not host:
        raise FaultError(f"{_name(virtual_service)}: the route has no destination; name a host")
    port = {"port": first["port"]} if "port" in first and host == first.get("host") else {}
    destinations = [
        {"destination": {"host": host, "subset": subset, **port}, "weight": weight}
        for subset, weight in params.weights.items()
    ]
    http = [{**r, "route": destinations} if i == index else r for i, r in enumerate(routes)]
    return {"spec": {"http": http}}


def unknown_subsets(
    destination_rules: list[dict[str, Any]], host: str, subsets: set[str]
) -> list[str]:
    """The subsets no DestinationRule of `host` defines (a split to one would send its share
    nowhere: Envoy answers those requests 503 NR)."""
    defined = {
        str(s.get("name"))
        for rule in destination_rules
        if _rule_host(rule) == host or _rule_host(rule).startswith(f"{host}.")
        for s in (rule.get("spec") or {}).get("subsets") or []
    }
    return sorted(subsets - defined)


def _header_route(
    route: dict[str, Any], headers: dict[str, StringMatch], fault: dict[str, Any]
) -> dict[str, Any]:
    wanted = {name: m.model_dump(exclude_none=True) for name, m in headers.items()}
    matches = route.get("match") or [{}]
    match = [{**m, "headers": {**(m.get("headers") or {}), **wanted}} for m in matches]
    name = f"{route.get('name') or 'route'}{FAULT_ROUTE_SUFFIX}"
    return {**route, "name": name, "match": match, "fault": fault}


def _routes(virtual_service: dict[str, Any]) -> list[dict[str, Any]]:
    routes = list((virtual_service.get("spec") or {}).get("http") or [])
    if not routes:
        raise FaultError(f"{_name(virtual_service)} has no HTTP routes")
    return routes


def _chosen(routes: list[dict[str, Any]], name: str | None, owner: dict[str, Any]) -> set[int]:
    if name is None:
        return set(range(len(routes)))
    chosen = {i for i, r in enumerate(routes) if r.get("name") == name}
    if not chosen:
        names = ", ".join(str(r.get("name")) for r in routes if r.get("name")) or "none named"
        raise FaultError(f"{_name(owner)} has no route {name!r} (routes: {names})")
    return chosen


def _rule_host(rule: dict[str, Any]) -> str:
    return str((rule.get("spec") or {}).get("host", ""))


def _name(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{obj.get('kind', 'object')} {metadata.get('namespace')}/{metadata.get('name')}"
