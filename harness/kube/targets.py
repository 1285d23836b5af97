"""Which object a Kubernetes fault's target names, and whether its namespace may be touched.
Pure.

    object_target("destinationrule/catalog", ISTIO_POLICY_OBJECTS) == (DESTINATION_RULE, "catalog")
    namespace_problem("prod", ["shop", "shop-canary"])  -> "'prod' is not in ..."
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from mesh_runtime.kube.resources import (
    DESTINATION_RULE,
    HTTP_ROUTE,
    LINKERD_HTTP_ROUTE,
    SERVICE,
    SERVICE_DEFAULTS,
    SERVICE_RESOLVER,
    SERVICE_ROUTER,
    VIRTUAL_SERVICE,
    Resource,
)

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
"""A Kubernetes object name (DNS subdomain) or namespace."""

ISTIO_POLICY_OBJECTS: Mapping[str, Resource] = {
    "virtualservice": VIRTUAL_SERVICE,
    "destinationrule": DESTINATION_RULE,
}
LINKERD_POLICY_OBJECTS: Mapping[str, Resource] = {
    "service": SERVICE,
    "httproute": HTTP_ROUTE,
    "httproute.policy.linkerd.io": LINKERD_HTTP_ROUTE,
}
HTTP_ROUTE_OBJECTS: Mapping[str, Resource] = {
    "httproute": HTTP_ROUTE,
    "httproute.policy.linkerd.io": LINKERD_HTTP_ROUTE,
}
CONSUL_OBJECTS: Mapping[str, Resource] = {
    "servicerouter": SERVICE_ROUTER,
    "serviceresolver": SERVICE_RESOLVER,
    "servicedefaults": SERVICE_DEFAULTS,
}


def object_target(target: str, kinds: Mapping[str, Resource]) -> tuple[Resource, str]:
    """`<kind>/<name>` as (resource, name); ValueError (one line) when it is not one of `kinds`."""
    kind, slash, name = target.partition("/")
    resource = kinds.get(kind.lower())
    if not slash or resource is None or not is_name(name):
        shapes = " or ".join(f"'{k}/<name>'" for k in kinds)
        raise ValueError(f"expected {shapes}, got {target!r}")
    return resource, name


def is_name(value: str) -> bool:
    return bool(_NAME.match(value))


def namespace_problem(namespace: str | None, allowed: Sequence[str]) -> str:
    """Why a fault may not touch `namespace` (None: the first allowed one), or ''."""
    if not allowed:
        return "the target lists no kubernetes.namespaces: meshproof may touch none"
    chosen = namespace or allowed[0]
    if chosen not in allowed:
        return (
            f"{chosen!r} is not in the target's kubernetes.namespaces "
            f"({', '.join(allowed)}): meshproof may not touch it"
        )
    return ""
