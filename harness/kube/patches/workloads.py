"""Workload faults: which pods a pod_delete deletes, and a Deployment's scale. Pure.

A pod_delete deletes only pods that a controller owns (an ownerReference with
`controller: true`, e.g. a ReplicaSet): that controller makes a replacement, which is
the rollback. A pod nobody owns would be gone for good, so the fault refuses it.
"""

from __future__ import annotations

import math
import random
from typing import Any

from pydantic import Field, model_validator

from harness.errors import FaultError
from harness.kube.state import KubeModel
from mesh_runtime.units import Percentage


class PodDeleteParams(KubeModel):
    """pod_delete: `count` pods, or `percentage` % of them (rounded up), of those the
    label selector (the fault's target) matches."""

    count: int | None = Field(None, ge=1)
    percentage: Percentage | None = None
    seed: int | None = None
    """Which pods are picked is random; a seed makes it repeatable."""

    @model_validator(mode="after")
    def _one(self) -> PodDeleteParams:
        if (self.count is None) == (self.percentage is None):
            raise ValueError("expected count or percentage (one of them)")
        if self.percentage == 0:
            raise ValueError("percentage: expected more than 0")
        return self


class DeploymentScaleParams(KubeModel):
    """deployment_scale: `spec.replicas` while the fault lasts (back at its end)."""

    replicas: int = Field(ge=0)


def controller_of(pod: dict[str, Any]) -> str | None:
    """`ReplicaSet/catalog-5d9c` for a pod a controller owns, else None."""
    for owner in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("controller"):
            return f"{owner.get('kind')}/{owner.get('name')}"
    return None


def pods_to_delete(
    pods: list[dict[str, Any]], params: PodDeleteParams, selector: str
) -> list[dict[str, Any]]:
    """The pods to delete, picked at random (repeatably with `seed`) among the live ones
    (not already being deleted). FaultError: too few pods, or one nobody owns."""
    live = sorted(
        (p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")),
        key=lambda p: str(p["metadata"]["name"]),
    )
    wanted = (
        params.count
        if params.count is not None
        else math.ceil(len(live) * (params.percentage or 0.0) / 100.0)
    )
    if wanted > len(live) or not live:
        raise FaultError(
            f"pod_delete: selector {selector!r} matches {len(live)} live pod(s); "
            f"{wanted or 1} wanted"
        )
    chosen = random.Random(params.seed).sample(live, wanted)
    bare = [p["metadata"]["name"] for p in chosen if controller_of(p) is None]
    if bare:
        raise FaultError(
            f"pod_delete: pod(s) {', '.join(bare)} have no controller to replace them; "
            "deleting them would lose them (meshproof deletes only controller-owned pods)"
        )
    return sorted(chosen, key=lambda p: str(p["metadata"]["name"]))


def scale_patch(params: DeploymentScaleParams) -> dict[str, Any]:
    return {"spec": {"replicas": params.replicas}}
