"""VirtualService and DestinationRule (networking.istio.io/v1) -> the reference mesh's routes
and traffic policy, as plain dicts shaped like `HTTPRoute` / `TrafficPolicy`.

Only the fields the reference mesh implements are read (see `Fields`); the rest are
reported. Choices where Istio and the reference mesh differ, made as Envoy would:
- a match entry with a condition the mesh cannot check is left out (the route matches
  less, never more); a route whose every match entry is left out is left out;
- a fault's abort or delay without `percentage` injects nothing (Istio hands Envoy no
  percentage, and Envoy's unset fraction is 0 %); `percent` (deprecated) is read for delays;
- a retry policy without `attempts` retries nothing (proto3's 0), `backoff` is the base
  interval of the reference mesh's jittered backoff, numeric `retryOn` entries are
  retriable status codes;
- a destination naming another service is not implemented (the mesh routes a service's
  traffic among its own versions); `timeout: 0s` is no timeout;
- absent fields take the reference mesh's defaults (mesh_runtime/config/policy.py), which
  differ from Istio's in places: no retries unless a route says so, round robin.
Pure: dicts in, dicts out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from mesh_runtime.config.policy import RETRY_ON_CONDITIONS
from mesh_runtime.control.istio.fields import Fields
from mesh_runtime.control.istio.kinds import VERSION_LABEL, describe, host_service
from mesh_runtime.control.istio.report import Report
from mesh_runtime.units import parse_duration

STRING_MATCH = ("exact", "prefix", "regex")
LOAD_BALANCERS = {
    "ROUND_ROBIN": "ROUND_ROBIN",
    "LEAST_REQUEST": "LEAST_REQUEST",
    "LEAST_CONN": "LEAST_REQUEST",  # Istio's deprecated name of the same
    "RANDOM": "RANDOM",
}
TRAFFIC_FIELDS = {
    "tcp": ("maxConnections", "connectTimeout", "idleTimeout"),
    "http": (
        "http1MaxPendingRequests",
        "http2MaxRequests",
        "maxRequestsPerConnection",
        "idleTimeout",
    ),
}
OUTLIER_FIELDS = (
    "consecutive5xxErrors",
    "consecutiveGatewayErrors",
    "interval",
    "baseEjectionTime",
    "maxEjectionPercent",
)


@dataclass
class Routes:
    """A VirtualService read: the services its hosts name and its routes (subsets by name)."""

    label: str
    services: list[str]
    http: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Destination:
    """A DestinationRule read: its service, traffic policy and subset name -> version."""

    label: str
    service: str
    traffic: dict[str, Any] = field(default_factory=dict)
    subsets: dict[str, str] = field(default_factory=dict)


def hosts_of(
    spec: Fields, label: str, namespace: str, services: Collection[str], report: Report
) -> list[str]:
    """The mesh services `spec.hosts` names; other hosts are reported."""
    hosts = spec.value("hosts") or []
    found: list[str] = []
    for i, host in enumerate(hosts if isinstance(hosts, list) else []):
        service = host_service(str(host), namespace, services)
        if service is None:
            report.problem(label, f"spec.hosts[{i}]: {host!r} is no service of this mesh")
        elif service not in found:
            found.append(service)
    return found


def virtual_service(
    obj: Mapping[str, Any], namespace: str, services: Collection[str], report: Report
) -> Routes | None:
    """The routes of a VirtualService, or None when it applies to no sidecar of the mesh."""
    label = describe(obj)
    spec = Fields(obj.get("spec") or {}, "spec")
    gateways = spec.value("gateways") or []
    if gateways and "mesh" not in gateways:
        report.problem(label, "applies to gateways only (spec.gateways); the mesh has none")
        spec.take_unread()
        return None
    for gateway in (g for g in gateways if g != "mesh"):
        report.field(label, "spec.gateways", f"gateway {gateway!r}")
    routes = Routes(label, hosts_of(spec, label, namespace, services, report))
    for route in spec.objs("http"):
        read = _http_route(route, label, namespace, routes.services, report)
        if read is not None:
            routes.http.append(read)
    report.unread(label, spec)
    return routes if routes.services else None


def _http_route(
    route: Fields, label: str, namespace: str, services: Collection[str], report: Report
) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if route.value("name"):
        out["name"] = route.value("name")
    given = route.objs("match")
    matches = [m for m in (_match(entry, label, report) for entry in given) if m is not None]
    if given and not matches:
        report.problem(label, f"{route.path}: left out: none of its match entries can be checked")
        route.take_unread()
        return None
    if matches:
        out["match"] = matches
    destinations = _destinations(route, label, namespace, services, report)
    if destinations:
        out["route"] = destinations
    timeout = route.value("timeout")
    if timeout is not None and not _is_zero(timeout):
        out["timeout"] = timeout
    retries = route.obj("retries")
    if retries is not None:
        out["retries"] = _retries(retries, label, report)
    fault = route.obj("fault")
    if fault is not None:
        read = _fault(fault)
        if read:
            out["fault"] = read
    return out


def _match(entry: Fields, label: str, report: Report) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for key in ("uri", "method"):
        matcher = entry.obj(key)
        if matcher is not None:
            out[key] = _string_match(matcher)
    headers = entry.obj("headers")
    if headers is not None:
        out["headers"] = {}
        for name in headers.names():
            matcher = headers.obj(name)
            if matcher is not None:
                out["headers"][name] = _string_match(matcher)
    entry.value("name")  # a match entry's name only labels it
    left = entry.take_unread()
    if left:
        for path in left:
            report.field(label, path, "cannot be checked (this match entry is left out)")
        return None
    return out


def _string_match(matcher: Fields) -> dict[str, Any]:
    return {key: matcher.value(key) for key in STRING_MATCH if key in matcher}


def _destinations(
    route: Fields, label: str, namespace: str, services: Collection[str], report: Report
) -> list[dict[str, Any]]:
    """`[{subset, weight}]` of the route's destinations on its own service; one destination
    without a subset is every endpoint (`[]`)."""
    items = route.objs("route")
    out: list[dict[str, Any]] = []
    for item in items:
        destination = item.obj("destination")
        host = destination.value("host") if destination is not None else None
        if destination is None or host_service(str(host), namespace, services) is None:
            where = destination.at("host") if destination is not None else item.path
            report.field(label, where, f"{host!r} (routing to another service)")
            item.take_unread()
            continue
        weight = item.value("weight")
        chosen: dict[str, Any] = {"subset": destination.value("subset")}
        chosen["weight"] = weight if weight is not None else (100 if len(items) == 1 else 0)
        out.append(chosen)
    if len(out) == 1 and out[0]["subset"] is None:
        return []
    return out


def _retries(retries: Fields, label: str, report: Report) -> dict[str, Any]:
    out: dict[str, Any] = {"attempts": retries.value("attempts", 0)}
    if retries.value("perTryTimeout") is not None:
        out["perTryTimeout"] = retries.value("perTryTimeout")
    if retries.value("backoff") is not None:
        out["backoffBaseInterval"] = retries.value("backoff")
    text = retries.value("retryOn")
    if text is None:
        return out
    conditions: list[str] = []
    codes: list[int] = []
    for condition in (c.strip() for c in str(text).split(",") if c.strip()):
        if condition.isdigit():
            codes.append(int(condition))
        elif condition in RETRY_ON_CONDITIONS:
            conditions.append(condition)
        else:
            report.field(label, retries.at("retryOn"), f"condition {condition!r}")
    if codes:
        out["retriableStatusCodes"] = codes
        if "retriable-status-codes" not in conditions:
            conditions.append("retriable-status-codes")
    out["retryOn"] = ",".join(conditions)
    return out


def _fault(fault: Fields) -> dict[str, Any]:
    out: dict[str, Any] = {}
    delay = fault.obj("delay")
    if delay is not None and delay.value("fixedDelay") is not None:
        out["delay"] = {
            "fixedDelay": delay.value("fixedDelay"),
            "percentage": _percentage(delay, legacy="percent"),
        }
    abort = fault.obj("abort")
    if abort is not None:
        for status in ("httpStatus", "grpcStatus"):
            if abort.value(status) is not None:
                out["abort"] = {status: abort.value(status), "percentage": _percentage(abort)}
                break
    return out


def _percentage(fields: Fields, legacy: str | None = None) -> float:
    """`percentage.value`, else the deprecated integer field, else 0 (Envoy's unset fraction)."""
    percentage = fields.obj("percentage")
    if percentage is not None:
        return float(percentage.value("value") or 0.0)
    if legacy is not None and fields.value(legacy) is not None:
        return float(fields.value(legacy))
    return 0.0


def _is_zero(duration: Any) -> bool:
    try:
        return parse_duration(duration) == 0.0
    except ValueError:
        return False  # validation of the route names the bad value


def destination_rule(
    obj: Mapping[str, Any], namespace: str, services: Collection[str], report: Report
) -> Destination | None:
    """The traffic policy and subsets of a DestinationRule, or None when its host is no
    service of the mesh."""
    label = describe(obj)
    spec = Fields(obj.get("spec") or {}, "spec")
    host = spec.value("host")
    service = host_service(str(host), namespace, services)
    if service is None:
        report.problem(label, f"spec.host: {host!r} is no service of this mesh")
        spec.take_unread()
        return None
    read = Destination(label, service)
    policy = spec.obj("trafficPolicy")
    if policy is not None:
        read.traffic = _traffic_policy(policy, label, report)
    for subset in spec.objs("subsets"):
        name, labels = subset.value("name"), subset.value("labels") or {}
        version = labels.get(VERSION_LABEL)
        for other in (key for key in labels if key != VERSION_LABEL):
            report.field(label, subset.at("labels"), f"label {other!r} (only 'version' selects)")
        if name and version:
            read.subsets[str(name)] = str(version)
        else:
            report.problem(label, f"{subset.path}: no name or no 'version' label; left out")
    report.unread(label, spec)
    return read


def _traffic_policy(policy: Fields, label: str, report: Report) -> dict[str, Any]:
    out: dict[str, Any] = {}
    balancer = policy.obj("loadBalancer")
    if balancer is not None:
        simple = balancer.value("simple")
        if simple in LOAD_BALANCERS:
            out["loadBalancer"] = {"simple": LOAD_BALANCERS[simple]}
        elif simple not in (None, "UNSPECIFIED"):
            report.field(label, balancer.at("simple"), f"{simple!r}")
    pool = policy.obj("connectionPool")
    if pool is not None:
        out["connectionPool"] = {}
        for part, names in TRAFFIC_FIELDS.items():
            settings = pool.obj(part)
            if settings is not None:
                out["connectionPool"][part] = _pick(settings, names)
    outlier = policy.obj("outlierDetection")
    if outlier is not None:
        out["outlierDetection"] = _pick(outlier, OUTLIER_FIELDS)
    return out


def _pick(fields: Fields, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: fields.value(name) for name in names if name in fields}
