"""What a fault snapshots of a Kubernetes object, as JSON the fault ledger can hold. Pure.

    ref = ObjectRef.of(VIRTUAL_SERVICE, "shop", "catalog")
    snapshot = Snapshot.of(ref, kube.get(VIRTUAL_SERVICE, "shop", "catalog"))
    snapshot.state          # ObjectState(spec, labels, annotations): what rollback restores

An object's *state* is what meshproof compares and restores: its `spec`, `metadata.labels`
and `metadata.annotations`. Not `status` (controllers write it all the time), nor the
annotations a controller writes (`CONTROLLER_ANNOTATIONS`: the deployment controller numbers
each new pod template in `deployment.kubernetes.io/revision`; a restore keeps the object's
current value), nor the rest of `metadata` (the server's own bookkeeping).
`resourceVersion` is kept beside it: a patch made with it lands only on that version of
the object.

A fault marks every object it changes with the annotation `MARK_ANNOTATION` =
`<run>/<fault>`: an object without the mark does not carry that fault's change (it was
never applied, or someone else's edit took it away), so there is nothing of it to undo.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from mesh_runtime.kube.resources import Resource

MARK_ANNOTATION = "meshproof.io/fault"
"""The annotation naming the run and fault whose change an object carries."""
CONTROLLER_ANNOTATIONS = frozenset({"deployment.kubernetes.io/revision"})
"""Annotations a controller owns and rewrites as it works, like status: never compared,
never restored (a rollout restart cut short would otherwise read as someone's edit)."""


class KubeModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectRef(KubeModel):
    """Which object: its resource (group, version, plural, kind), namespace and name."""

    group: str
    version: str
    plural: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, resource: Resource, namespace: str, name: str) -> ObjectRef:
        return cls(
            group=resource.group,
            version=resource.version,
            plural=resource.plural,
            kind=resource.kind,
            namespace=namespace,
            name=name,
        )

    @property
    def resource(self) -> Resource:
        return Resource(self.group, self.version, self.plural, self.kind)

    def __str__(self) -> str:
        """`virtualservices.networking.istio.io shop/catalog`, as the server names it."""
        return f"{self.resource} {self.namespace}/{self.name}"


class ObjectState(KubeModel):
    """The part of an object a fault changes and rollback restores."""

    spec: dict[str, Any] | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}

    @field_validator("annotations")
    @classmethod
    def _not_the_controllers(cls, annotations: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in annotations.items() if k not in CONTROLLER_ANNOTATIONS}

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjectState:
        metadata = obj.get("metadata") or {}
        spec = obj.get("spec")
        return cls(
            spec=dict(spec) if isinstance(spec, dict) else None,
            labels=dict(metadata.get("labels") or {}),
            annotations=dict(metadata.get("annotations") or {}),
        )

    def document(self) -> dict[str, Any]:
        """The state as an object fragment: `{"spec", "metadata": {"labels", "annotations"}}`."""
        doc: dict[str, Any] = {
            "metadata": {"labels": dict(self.labels), "annotations": dict(self.annotations)}
        }
        if self.spec is not None:
            doc["spec"] = self.spec
        return doc

    @property
    def mark(self) -> str | None:
        return self.annotations.get(MARK_ANNOTATION)

    def onto(self, obj: dict[str, Any]) -> dict[str, Any]:
        """`obj` (a whole object as read) with this state in place of its own, keeping its
        controllers' annotations; for a PUT."""
        out = dict(obj)
        metadata = dict(out.get("metadata") or {})
        kept = {
            k: v
            for k, v in (metadata.get("annotations") or {}).items()
            if k in CONTROLLER_ANNOTATIONS
        }
        annotations = {**self.annotations, **kept}
        for key, value in (("labels", self.labels), ("annotations", annotations)):
            if value:
                metadata[key] = dict(value)
            else:
                metadata.pop(key, None)
        out["metadata"] = metadata
        if self.spec is None:
            out.pop("spec", None)
        else:
            out["spec"] = self.spec
        return out


class Snapshot(KubeModel):
    """An object as a fault found it, before changing it (or, `existed` False: the object
    the fault is about to create, which rollback deletes)."""

    ref: ObjectRef
    state: ObjectState
    resource_version: str = ""
    uid: str = ""
    existed: bool = True

    @classmethod
    def of(cls, ref: ObjectRef, obj: dict[str, Any]) -> Snapshot:
        metadata = obj.get("metadata") or {}
        return cls(
            ref=ref,
            state=ObjectState.of(obj),
            resource_version=str(metadata.get("resourceVersion", "")),
            uid=str(metadata.get("uid", "")),
        )

    @classmethod
    def absent(cls, ref: ObjectRef) -> Snapshot:
        """The snapshot of an object that does not exist yet (meshproof will create it)."""
        return cls(ref=ref, state=ObjectState(), existed=False)
