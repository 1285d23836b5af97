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


RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
"""The pod template annotation `kubectl rollout restart` sets: a new value is a new
template, so the Deployment rolls its pods over to it (a new ReplicaSet)."""


def restart_patch(at: str) -> dict[str, Any]:
    """The merge patch of `kubectl rollout restart`, stamped `at` (RFC 3339)."""
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}}


def rollout_unfinished(deployment: dict[str, Any]) -> str:
    """'' once the Deployment's latest rollout is complete, as `kubectl rollout status`
    judges it: the controller saw the latest spec, every replica runs the new template,
    no old one is left and every new one is available (its pods Ready). Else what it
    still waits for."""
    metadata, status = deployment.get("metadata") or {}, deployment.get("status") or {}
    wanted = (deployment.get("spec") or {}).get("replicas", 1)
    if status.get("observedGeneration", 0) < metadata.get("generation", 0):
        return "the controller has not seen the new template yet"
    updated = status.get("updatedReplicas", 0)
    if updated < wanted:
        return f"{updated} of {wanted} new replica(s) made"
    old = status.get("replicas", 0) - updated
    if old > 0:
        return f"{old} old replica(s) pending termination"
    available = status.get("availableReplicas", 0)
    if available < updated:
        return f"{available} of {updated} new replica(s) available"
    return ""
