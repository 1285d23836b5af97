"""rolling_restart and control_plane_outage on the kubernetes runtime, the Kubernetes way.

rolling_restart: each instance has its own Deployment; one at a time, its pod template
gets the annotation `kubectl.kubernetes.io/restartedAt` (what `kubectl rollout restart`
patches), the Deployment rolls its pod over (the new pod Ready before the old one is
stopped: one replica, maxUnavailable 0), the fault waits until that rollout is complete,
pauses `interval`, and goes on with the next. Every Deployment's snapshot and patch (one
`restartedAt`, the fault's start, for all of them) are on the ledger before the first
patch, as `finish_kube_rollout` steps. A restart is not undone: putting the old template
back would restart the pods once more; a completed one loses only the fault's mark
(`changes.unmark`), so the Deployment is its snapshot plus `restartedAt`. What could be
left half-done is a rollout whose new pod never turns Ready (the old pod keeps serving
meanwhile): the step waits for it,
and if it does not complete, restores the Deployment's snapshot (the old template: its
ReplicaSet's pod is still there, so nothing restarts), with the checks of every
Kubernetes fault's restore (harness.kube.changes). A Deployment without the fault's mark
was never patched: left as is.

control_plane_outage: the control plane's Deployment scaled to 0 replicas for the
duration (a deployment_scale, its `restore_kube_object` rollback), back to its
snapshot's replicas at the end; revert waits until its pod is Ready again. The
sidecars keep serving with their last configuration meanwhile.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from harness.errors import FaultError
from harness.faults.base import FaultContext
from harness.faults.kube import DeploymentScaleInjector
from harness.faults.kube_place import KubeLogin, KubePlace, refuse_if_denied
from harness.faults.steps import RollbackEntry, RollbackStep, StepKind, StepTools
from harness.faults.targets import instances_for
from harness.kube.changes import ObjectChange, apply, read, restore, unmark
from harness.kube.patches.workloads import restart_patch, rollout_unfinished
from harness.kube.state import ObjectRef, ObjectState
from harness.spec.faults import ControlPlaneOutageFault, RollingRestartFault
from harness.spec.kube_faults import DeploymentScaleFault
from mesh_runtime.kube.errors import KubeNotFound
from mesh_runtime.kube.resources import DEPLOYMENT
from mesh_runtime.runtimes.deployment import Deployment

if TYPE_CHECKING:
    from mesh_runtime.kube.client import KubeClient

ROLLOUT_TIMEOUT_S = 120.0
"""How long one Deployment's rollout may take (a pod started, its image already on the
node, its sidecar given an identity and configuration, Ready)."""
POLL_S = 0.5


class FinishKubeRollout(RollbackStep):
    action: Literal["finish_kube_rollout"] = "finish_kube_rollout"
    login: KubeLogin
    change: ObjectChange
    wait_s: float = ROLLOUT_TIMEOUT_S

    def describe(self) -> str:
        return (
            f"{self.change.ref}: let the rollout {self.change.mark} began complete, or put"
            " its pod template back if it does not"
        )


def finish_kube_rollout(step: FinishKubeRollout, tools: StepTools) -> None:
    finish_rollout(step.login.client(tools), step.change, wait_s=step.wait_s, force=tools.force)


FINISH_KUBE_ROLLOUT = StepKind(FinishKubeRollout, finish_kube_rollout)


def finish_rollout(
    kube: KubeClient,
    change: ObjectChange,
    *,
    wait_s: float,
    applied: ObjectState | None = None,
    force: bool = False,
) -> str:
    """Nothing half-done of a rollout restart: a Deployment it patched either completes its
    rollout within `wait_s` (its mark then removed) or gets its snapshot back
    (ChangedSince if someone changed it since, unless `force`). Returns what happened, one
    line."""
    ref = change.ref
    try:
        current = kube.get(ref.resource, ref.namespace, ref.name)
    except KubeNotFound:
        return f"{ref}: gone (the deployment is down): nothing to finish"
    if ObjectState.of(current).mark != change.mark:
        return f"{ref}: not restarted by {change.mark}: left as is"
    deadline = time.monotonic() + wait_s
    waiting = rollout_unfinished(current)
    while waiting and time.monotonic() < deadline:
        time.sleep(POLL_S)
        waiting = rollout_unfinished(kube.get(ref.resource, ref.namespace, ref.name))
    if not waiting:  # the restart stays; the fault's mark goes
        unmark(kube, change)
        return f"{ref}: restarted, its rollout complete (mark removed)"
    done = restore(kube, change, applied=applied, force=force)
    return f"{ref}: rollout not complete after {wait_s:g}s ({waiting}); {done}"


def instance_deployments(deployment: Deployment, target: str) -> list[str]:
    """The Deployments (one per instance, named after it) whose pods hold the sidecars
    `target` means ('sidecars': every one), in the deployment's order."""
    with_sidecar = [r.instance for r in deployment.instances if r.admin_port is not None]
    if target in ("sidecars", "all"):
        chosen = with_sidecar
    else:
        named = {r.instance for r in instances_for(deployment, target)}
        chosen = [name for name in with_sidecar if name in named]
    if not chosen:
        raise FaultError(f"target {target!r}: no sidecars to restart (is the mesh mode no-mesh?)")
    return chosen


def wait_rollout(
    kube: KubeClient, ref: ObjectRef, timeout: float, stop: threading.Event | None = None
) -> bool:
    """Wait until the Deployment's rollout is complete: True; False when `stop` was set
    first; FaultError at the deadline, naming what it still waited for."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = rollout_unfinished(kube.get(ref.resource, ref.namespace, ref.name))
        if not waiting:
            return True
        if time.monotonic() >= deadline:
            raise FaultError(f"{ref}: rollout not complete after {timeout:g}s: {waiting}")
        if stop is None:
            time.sleep(POLL_S)
        elif stop.wait(POLL_S):
            return False


def refuse_unless_deployments(name: str, place: KubePlace) -> None:
    """FaultError (one line) unless RBAC lets the place's user get, patch and update
    Deployments (asked before the deploy too: harness.faults.kube_access)."""
    denied = [
        verb
        for verb in ("get", "patch", "update")
        if not place.kube.can_i(verb, DEPLOYMENT, place.namespace)
    ]
    if denied:
        raise FaultError(
            f"fault {name!r}: the user of {place.login.kubeconfig} may not"
            f" {', '.join(denied)} deployments in namespace {place.namespace} (RBAC)"
        )


class KubeRollingRestartInjector:
    """A rollout restart of each instance's Deployment in turn (module docstring)."""

    def __init__(self, fault: RollingRestartFault, ctx: FaultContext) -> None:
        self.name = fault.name
        self._fault = fault
        self._stop = ctx.stop
        place = KubePlace.of_runtime(ctx, fault.kind)
        self._place = place
        self._login, self._namespace, self._kube = place.login, place.namespace, place.kube
        self._mark = f"{place.run or 'meshproof'}/{fault.name}"
        self._names = instance_deployments(ctx.deployment, fault.target)
        self._changes: list[ObjectChange] = []
        self._applied: list[ObjectState] = []
        self.restarted: list[str] = []
        self.check()

    def check(self) -> None:
        """RBAC allows reading, patching and replacing Deployments; each one is there."""
        refuse_unless_deployments(self.name, self._place)
        for ref in self._refs():
            read(self._kube, ref)

    def _refs(self) -> list[ObjectRef]:
        return [ObjectRef.of(DEPLOYMENT, self._namespace, name) for name in self._names]

    def rollback_entry(self) -> RollbackEntry:
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._changes = [
            ObjectChange(snapshot=read(self._kube, ref), patch=restart_patch(at), mark=self._mark)
            for ref in self._refs()
        ]
        steps = [FinishKubeRollout(login=self._login, change=c) for c in self._changes]
        return RollbackEntry(
            fault=self.name, kind=self._fault.kind, target=self._fault.target, steps=steps
        )

    def apply(self) -> None:
        if not self._changes:
            raise FaultError(f"fault {self.name!r}: rollback_entry() comes before apply()")
        for index, change in enumerate(self._changes):
            if self._stop.is_set():
                return
            if index and self._stop.wait(self._fault.params.interval):
                return
            self._applied.append(apply(self._kube, change))
            if not wait_rollout(self._kube, change.ref, ROLLOUT_TIMEOUT_S, self._stop):
                return
            self.restarted.append(change.ref.name)

    def revert(self) -> None:
        """A rollout cut short (the run ended) is waited for, or its template put back."""
        for change, applied in zip(self._changes, self._applied, strict=False):
            finish_rollout(self._kube, change, wait_s=ROLLOUT_TIMEOUT_S, applied=applied)


def outage_as_scale(fault: ControlPlaneOutageFault) -> DeploymentScaleFault:
    """The outage as the deployment_scale it is: `control-plane` at 0 replicas."""
    return DeploymentScaleFault(
        name=fault.name,
        kind="deployment_scale",
        target="control-plane",
        at=fault.at,
        duration=fault.duration,
        params={"replicas": 0},  # type: ignore[arg-type]  # validated into the model
    )


class KubeControlPlaneOutageInjector(DeploymentScaleInjector):
    """The control plane's Deployment at 0 replicas; revert puts its snapshot back and
    waits until its pod is Ready."""

    def __init__(self, fault: ControlPlaneOutageFault, ctx: FaultContext) -> None:
        scale = outage_as_scale(fault)
        place = KubePlace.of_runtime(ctx, fault.kind)
        refuse_if_denied(scale, place)
        super().__init__(scale, place)
        self.kind = fault.kind
        self._target = fault.target
        self.check()

    def revert(self) -> None:
        super().revert()
        wait_rollout(self._kube, self._ref(DEPLOYMENT, "control-plane"), ROLLOUT_TIMEOUT_S)
