"""The policy a mesh fault or a traffic split puts in place of the current one. Pure."""

from __future__ import annotations

from harness.errors import FaultError
from mesh_runtime.config.policy import Fault, HTTPRoute, RouteDestination, ServicePolicy


def with_fault(policy: ServicePolicy, fault: Fault, route: str | None = None) -> ServicePolicy:
    """`policy` with Istio's `fault` on every route, or only on the route named `route`."""
    names = [r.name for r in policy.http]
    if route is not None and route not in names:
        raise FaultError(f"route {route!r} not found (routes: {', '.join(names) or 'none'})")
    routes = list(policy.http) or [HTTPRoute()]
    changed = [
        r.model_copy(update={"fault": fault}) if route is None or r.name == route else r
        for r in routes
    ]
    return policy.model_copy(update={"http": changed})


def with_split(policy: ServicePolicy, weights: dict[str, int], versions: set[str]) -> ServicePolicy:
    """`policy` whose first route sends `weights[v]` % of requests to version `v`.

    Versions the service does not run are refused: a canary step to a missing subset
    would send its share nowhere (Envoy answers those with 503 NR).
    """
    unknown = sorted(set(weights) - versions)
    if unknown:
        known = ", ".join(sorted(versions))
        raise FaultError(
            f"traffic split names version(s) {', '.join(unknown)}; the service runs {known}"
        )
    destinations = [RouteDestination(subset=v, weight=w) for v, w in weights.items()]
    routes = list(policy.http) or [HTTPRoute()]
    first = routes[0].model_copy(update={"route": destinations})
    return policy.model_copy(update={"http": [first, *routes[1:]]})
