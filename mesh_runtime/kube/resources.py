"""Which Kubernetes resources meshproof touches, and the URL paths that name them.

A `Resource` is a (group, version, plural) with its kind; `path()` is the REST path of a
collection or of one object. Pure: no client, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Resource:
    """One API resource: `Resource("networking.istio.io", "v1", "virtualservices", ...)`."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """`apiVersion` of its objects: `networking.istio.io/v1`, or `v1` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        """How kubectl and the server's messages name it: `virtualservices.networking.istio.io`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """`/apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>]` (`/api/v1/...` for core)."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            root += f"/namespaces/{quote(namespace, safe='')}"
        root += f"/{self.plural}"
        return root + (f"/{quote(name, safe='')}" if name is not None else "")


NAMESPACE = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
SERVICE = Resource("", "v1", "services", "Service")
POD = Resource("", "v1", "pods", "Pod")
NODE = Resource("", "v1", "nodes", "Node", namespaced=False)
ENDPOINT_SLICE = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
SERVICE_ACCOUNT = Resource("", "v1", "serviceaccounts", "ServiceAccount")
CONFIG_MAP = Resource("", "v1", "configmaps", "ConfigMap")
SECRET = Resource("", "v1", "secrets", "Secret")
DEPLOYMENT = Resource("apps", "v1", "deployments", "Deployment")
REPLICA_SET = Resource("apps", "v1", "replicasets", "ReplicaSet")
NETWORK_POLICY = Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy")
CRD = Resource(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False
)
ROLE = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDING = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
SELF_SUBJECT_ACCESS_REVIEW = Resource(
    "authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False
)

VIRTUAL_SERVICE = Resource("networking.istio.io", "v1", "virtualservices", "VirtualService")
DESTINATION_RULE = Resource("networking.istio.io", "v1", "destinationrules", "DestinationRule")
PEER_AUTHENTICATION = Resource(
    "security.istio.io", "v1", "peerauthentications", "PeerAuthentication"
)
AUTHORIZATION_POLICY = Resource(
    "security.istio.io", "v1", "authorizationpolicies", "AuthorizationPolicy"
)
HTTP_ROUTE = Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")
LINKERD_HTTP_ROUTE = Resource("policy.linkerd.io", "v1beta2", "httproutes", "HTTPRoute")
SERVICE_ROUTER = Resource("consul.hashicorp.com", "v1alpha1", "servicerouters", "ServiceRouter")
SERVICE_RESOLVER = Resource(
    "consul.hashicorp.com", "v1alpha1", "serviceresolvers", "ServiceResolver"
)
SERVICE_DEFAULTS = Resource(
    "consul.hashicorp.com", "v1alpha1", "servicedefaults", "ServiceDefaults"
)


WORKLOAD_RESOURCES = (
    CONFIG_MAP,
    SECRET,
    SERVICE,
    SERVICE_ACCOUNT,
    ROLE,
    ROLE_BINDING,
    DEPLOYMENT,
    REPLICA_SET,
    POD,
)
"""What a deployment of the reference mesh is made of (the kubernetes runtime's objects,
and the pods its Deployments make)."""


def resource_of(
    obj: dict[str, object], known: tuple[Resource, ...] = WORKLOAD_RESOURCES
) -> Resource:
    """The resource of an object by its apiVersion and kind; KeyError when not in `known`."""
    for resource in known:
        if (resource.api_version, resource.kind) == (obj.get("apiVersion"), obj.get("kind")):
            return resource
    raise KeyError(f"{obj.get('apiVersion')} {obj.get('kind')}")
