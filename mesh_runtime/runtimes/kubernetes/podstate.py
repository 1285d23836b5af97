"""What the cluster says about each part of a deployment. Pure: objects in, rows out.

A part is one of the deployment's Deployments (an instance, the control plane, ...). Its
state is what its pods' status says, never more: `Running` and ready only when the pod's
`Ready` condition is True; a pod that no scheduler has placed is `Pending` with the
reason the scheduler gave (`Unschedulable: 0/1 nodes are available: ...`) or, when no
scheduler has looked at it, "not scheduled (no scheduler or no node has taken it)"; and a
Deployment with no pod at all says that no controller has made one yet (an API server
without kube-controller-manager makes none).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mesh_runtime.runtimes.docker.naming import PART_LABEL, ROLE_LABEL

NO_POD = "no pod (no controller has made one yet: is kube-controller-manager running?)"
NOT_SCHEDULED = "not scheduled (no scheduler or no node has taken it)"


@dataclass(frozen=True)
class PartState:
    """One part as `status` shows it."""

    name: str
    role: str
    pods: tuple[str, ...]
    phase: str
    """The pod's phase (Pending, Running, ...), or "none" when there is no pod."""
    ready: bool
    reason: str = ""
    """Why it is not ready ('' when it is)."""

    def line(self) -> str:
        return f"{self.name}: {self.phase}" + (f" ({self.reason})" if self.reason else "")


def pod_state(pod: Mapping[str, Any]) -> tuple[str, bool, str]:
    """(phase, ready, reason) of one pod from its status."""
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready = (conditions.get("Ready") or {}).get("status") == "True"
    if ready:
        return phase, True, ""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return phase, False, "terminating"
    scheduled = conditions.get("PodScheduled")
    if not (pod.get("spec") or {}).get("nodeName"):
        if scheduled and scheduled.get("status") == "False":
            why = f"{scheduled.get('reason', '')}: {scheduled.get('message', '')}".strip(": ")
            return phase, False, " ".join(why.split())
        return phase, False, NOT_SCHEDULED
    return phase, False, _container_reason(status) or "not ready"


def _container_reason(status: Mapping[str, Any]) -> str:
    """The first waiting or terminated container's reason (ErrImageNeverPull, ...), else
    the running containers the kubelet does not call ready (their readiness probe fails)."""
    containers = status.get("containerStatuses") or []
    for container in containers:
        for key in ("waiting", "terminated"):
            state = (container.get("state") or {}).get(key)
            if state:
                text = f"{container.get('name')}: {state.get('reason', key)}"
                message = state.get("message")
                return f"{text}: {message}" if message else text
    unready = [str(c.get("name")) for c in containers if not c.get("ready")]
    if unready:
        return f"{', '.join(unready)} not ready (readiness probe failing)"
    return ""


def part_states(
    deployments: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]
) -> list[PartState]:
    """Each Deployment's state from its pods (matched by the part label)."""
    by_part: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        part = ((pod.get("metadata") or {}).get("labels") or {}).get(PART_LABEL)
        if part:
            by_part.setdefault(part, []).append(pod)
    out = []
    for deployment in deployments:
        meta = deployment.get("metadata") or {}
        name = str(meta.get("name"))
        role = str((meta.get("labels") or {}).get(ROLE_LABEL, ""))
        own = sorted(by_part.get(name, []), key=lambda p: str(p["metadata"]["name"]))
        if not own:
            out.append(PartState(name, role, (), "none", False, NO_POD))
            continue
        states = [pod_state(pod) for pod in own]
        ready = next((s for s in states if s[1]), None)
        phase, is_ready, reason = ready or states[0]
        names = tuple(str(p["metadata"]["name"]) for p in own)
        out.append(PartState(name, role, names, phase, is_ready, reason))
    return out


def not_ready_summary(states: Iterable[PartState], limit: int = 4) -> str:
    """'catalog-0: Pending (...); cart-0: none (...); and 3 more' for one line."""
    waiting = [s for s in states if not s.ready]
    shown = "; ".join(s.line() for s in waiting[:limit])
    more = len(waiting) - limit
    return shown + (f"; and {more} more" if more > 0 else "")
