"""What meshproof's faults need of a mesh's Kubernetes API, per mesh. Pure.

`needed_crds(mesh)`: the custom resources the mesh's fault adapters patch (their CRDs
must be installed). `needed_permissions(mesh)`: every (verb, resource) the faults make,
asked of the API server per allowed namespace with a SelfSubjectAccessReview by
`meshproof target check`. A fault finds an object (list) or reads it (get), snapshots it,
patches it with its resourceVersion (patch), restores the snapshot with a PUT (update), may
create one it then deletes (create, delete); pod_delete lists and deletes pods;
deployment_scale patches a Deployment and puts it back. The faults of one experiment need
a subset: `harness.faults.kube_plan.permissions(fault)` says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mesh_runtime.kube.resources import (
    DEPLOYMENT,
    DESTINATION_RULE,
    HTTP_ROUTE,
    POD,
    SERVICE,
    SERVICE_DEFAULTS,
    SERVICE_RESOLVER,
    SERVICE_ROUTER,
    VIRTUAL_SERVICE,
    Resource,
)
from mesh_runtime.target import MeshKind


@dataclass(frozen=True)
class Permission:
    """One verb on one resource, as RBAC names it."""

    verb: str
    resource: Resource

    def __str__(self) -> str:
        return f"{self.verb} {self.resource}"


OBJECT_VERBS = ("get", "list", "patch", "update", "create", "delete")
"""What a fault does to a mesh's API object: find, read, patch, restore, create (then delete) one."""

MESH_OBJECTS: dict[MeshKind, tuple[Resource, ...]] = {
    "istio": (VIRTUAL_SERVICE, DESTINATION_RULE),
    "meshproof": (VIRTUAL_SERVICE, DESTINATION_RULE),
    "linkerd": (HTTP_ROUTE,),
    "consul": (SERVICE_ROUTER, SERVICE_RESOLVER, SERVICE_DEFAULTS),
}
"""The mesh's own API objects its fault adapters change (the reference mesh reads Istio's)."""

COMMON: tuple[Permission, ...] = (
    Permission("list", POD),
    Permission("delete", POD),
    Permission("get", DEPLOYMENT),
    Permission("patch", DEPLOYMENT),
    Permission("update", DEPLOYMENT),
)
"""pod_delete and deployment_scale, on every mesh."""


def needed_crds(mesh: MeshKind) -> tuple[Resource, ...]:
    """The custom resources the mesh's fault adapters need installed."""
    return MESH_OBJECTS[mesh]


def needed_permissions(mesh: MeshKind) -> tuple[Permission, ...]:
    """Every (verb, resource) the faults on `mesh` may make in an allowed namespace."""
    objects = tuple(Permission(v, r) for r in MESH_OBJECTS[mesh] for v in OBJECT_VERBS)
    annotations = tuple(Permission(v, SERVICE) for v in ("get", "patch", "update"))
    return objects + (annotations if mesh == "linkerd" else ()) + COMMON


def experiment_needs(
    faults: Sequence[object], namespaces: Sequence[str]
) -> dict[str, tuple[Permission, ...]]:
    """What the Kubernetes faults among `faults` need, per namespace (a fault's own, else
    the first listed): `harness.faults.kube_plan.permissions`, apply and rollback."""
    from harness.faults.kube_plan import permissions
    from harness.spec.kube_faults import KubeFaultBase

    needs: dict[str, dict[Permission, None]] = {}
    for fault in faults:
        if not isinstance(fault, KubeFaultBase):
            continue
        namespace = fault.namespace or namespaces[0]
        for verb, resource in permissions(fault):
            needs.setdefault(namespace, {})[Permission(verb, resource)] = None
    return {namespace: tuple(found) for namespace, found in needs.items()}
