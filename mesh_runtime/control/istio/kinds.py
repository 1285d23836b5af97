"""The Istio kinds the reference control plane reads, and how their objects name services.

A host (`catalog`, `catalog.shop`, `catalog.shop.svc.cluster.local`) names a service of the
mesh when its first label is the service and the rest is the watched namespace; a
selector names one by its `app` label, as the pods of a mesh deployed on Kubernetes are
labelled (`app: catalog`, `version: v1`). Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

CLUSTER_DOMAIN = "cluster.local"
APP_LABEL = "app"
VERSION_LABEL = "version"


@dataclass(frozen=True)
class IstioKind:
    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


VIRTUAL_SERVICE = IstioKind("networking.istio.io", "v1", "virtualservices", "VirtualService")
DESTINATION_RULE = IstioKind("networking.istio.io", "v1", "destinationrules", "DestinationRule")
PEER_AUTHENTICATION = IstioKind(
    "security.istio.io", "v1", "peerauthentications", "PeerAuthentication"
)
AUTHORIZATION_POLICY = IstioKind(
    "security.istio.io", "v1", "authorizationpolicies", "AuthorizationPolicy"
)
KINDS = (VIRTUAL_SERVICE, DESTINATION_RULE, PEER_AUTHENTICATION, AUTHORIZATION_POLICY)
"""What the control plane watches, in the order their effects are worked out."""


def describe(obj: Mapping[str, Any]) -> str:
    """`VirtualService shop/catalog`: how reports name an object."""
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')} {meta.get('namespace', '?')}/{meta.get('name', '?')}"


def age_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    """Oldest first (creationTimestamp, then name): where two objects claim the same
    service, Istio keeps the oldest, and so does the reference mesh."""
    meta = obj.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))


def host_service(host: str, namespace: str, services: Collection[str]) -> str | None:
    """The mesh service a host names, or None (another namespace, an external host)."""
    name, _, rest = host.partition(".")
    suffixes = ("", namespace, f"{namespace}.svc", f"{namespace}.svc.{CLUSTER_DOMAIN}")
    return name if name in services and rest in suffixes else None
