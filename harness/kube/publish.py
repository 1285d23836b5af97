"""`meshproof up --config-source kubernetes`: a topology's policies written as Istio objects.

    published = publish_policies(kube, topology, "shop")

Each object of `mesh_runtime.control.istio.istio_objects` is created, or replaced when it
exists (with the resourceVersion read: a concurrent edit is a KubeConflict, never
overwritten); an object an earlier `up` of the same topology wrote (its labels say so) that
the topology no longer has is deleted. Objects meshproof did not write are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mesh_runtime.control.istio import istio_objects, owner_labels
from mesh_runtime.kube.client import KubeClient
from mesh_runtime.kube.errors import KubeNotFound
from mesh_runtime.kube.resources import (
    AUTHORIZATION_POLICY,
    DESTINATION_RULE,
    PEER_AUTHENTICATION,
    VIRTUAL_SERVICE,
    Resource,
)
from mesh_runtime.topology import Topology

RESOURCES = {
    r.kind: r
    for r in (VIRTUAL_SERVICE, DESTINATION_RULE, PEER_AUTHENTICATION, AUTHORIZATION_POLICY)
}


@dataclass
class Published:
    """What `publish_policies` did, as `Kind name` lines."""

    created: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Topology settings Istio's API cannot say (the control plane's defaults apply)."""


def publish_policies(kube: KubeClient, topology: Topology, namespace: str) -> Published:
    rendered = istio_objects(topology, namespace)
    done = Published(notes=list(rendered.notes))
    wanted: set[tuple[str, str]] = set()
    for obj in rendered.objects:
        resource = RESOURCES[obj["kind"]]
        name = obj["metadata"]["name"]
        wanted.add((obj["kind"], name))
        _write(kube, resource, namespace, obj, done)
    selector = ",".join(f"{k}={v}" for k, v in owner_labels(topology.name).items())
    for kind, resource in RESOURCES.items():
        for existing in kube.list(resource, namespace, label_selector=selector):
            name = existing["metadata"]["name"]
            if (kind, name) not in wanted:
                kube.delete(resource, namespace, name)
                done.deleted.append(f"{kind} {name}")
    return done


def _write(
    kube: KubeClient, resource: Resource, namespace: str, obj: dict[str, Any], done: Published
) -> None:
    label = f"{resource.kind} {obj['metadata']['name']}"
    try:
        current = kube.get(resource, namespace, obj["metadata"]["name"])
    except KubeNotFound:
        kube.create(resource, namespace, obj)
        done.created.append(label)
        return
    metadata = {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}
    kube.replace(resource, namespace, {**obj, "metadata": metadata})
    done.replaced.append(label)
