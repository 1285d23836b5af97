"""network_disconnect on the kubernetes runtime: a deny-all NetworkPolicy on the target's pod.

As LitmusChaos' pod-network-partition does: a NetworkPolicy selecting the target part's
pod by the labels its Deployment gives it (`meshproof.deployment`, `meshproof.part`), with
`policyTypes: [Ingress, Egress]` and no rule, so nothing may reach the pod and the pod may
reach nothing. It is created at apply and deleted at revert; its snapshot (absent) and
state are on the ledger first (a `restore_kube_object` step), so `meshproof recover`
deletes exactly it, and it carries the deployment's label, so `down` removes it too.

Targets as on the docker runtime: an instance, 'sidecar:<instance>', 'service:<instance>'
or 'container:<name>' (each means the instance's pod: its app and sidecar share one
network), 'control-plane', 'toxiproxy', 'trace-sink'.

A NetworkPolicy does something only where the cluster's network plugin enforces it (the
bridge and flannel plugins alone do not). So the fault checks its effect: before the
policy, a new TCP connection from another pod of the deployment (a `pods/exec` of a
one-line Python in its app container) to one of the target pod's ports must succeed;
after, one must fail within CUT_TIMEOUT_S. If traffic still flows, the policy is deleted
again and the fault fails, naming the likely cause. Enforcement is stateful in every
plugin that does it (kube-router, Calico, Cilium): connections established before the
policy (a sidecar's pooled keep-alive connections) are not cut; every new one is. Traffic
from the node itself (the kubelet's probes) is let through by kube-router, so the pod stays
Ready.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

from harness.errors import FaultError
from harness.faults.base import FaultContext
from harness.faults.kube import RestoreKubeObject
from harness.faults.kube_place import KubePlace
from harness.faults.kube_process import pod_container
from harness.faults.steps import RollbackEntry
from harness.kube.changes import ObjectChange, apply, read_or_absent, restore
from harness.kube.state import ObjectRef, ObjectState
from harness.spec.faults import ContainerFault
from mesh_runtime.kube.resources import NETWORK_POLICY, POD
from mesh_runtime.runtimes.docker.naming import DEPLOYMENT_LABEL, PART_LABEL
from mesh_runtime.runtimes.kubernetes.workloads import APP_CONTAINER
from mesh_runtime.runtimes.readiness import Deadline, wait_until

CUT_TIMEOUT_S = 10.0
"""How long after the policy was created a new connection may still get through (the
network plugin's controller sees the policy and writes its rules)."""
RESTORE_TIMEOUT_S = 30.0
"""How long after the policy was deleted a new connection may still fail."""
CONNECT_TIMEOUT_S = 1.0
POLL_S = 0.2
NO_ENFORCEMENT = (
    "the cluster's network plugin does not seem to enforce NetworkPolicy (the bridge and"
    " flannel plugins alone do not; kube-router's firewall, Calico or Cilium do)"
)


def policy_name(part: str, mark: str) -> str:
    """`meshproof-disconnect-<part>-<hash of run/fault>`: one per fault and part. Pure."""
    digest = hashlib.sha256(mark.encode()).hexdigest()[:8]
    return f"meshproof-disconnect-{part}"[:240] + f"-{digest}"


def deny_all_policy(deployment_id: str, part: str) -> dict[str, Any]:
    """The NetworkPolicy's labels and spec: the part's pod, no traffic in or out. Pure."""
    return {
        "metadata": {"labels": {DEPLOYMENT_LABEL: deployment_id, PART_LABEL: part}},
        "spec": {
            "podSelector": {"matchLabels": {DEPLOYMENT_LABEL: deployment_id, PART_LABEL: part}},
            "policyTypes": ["Ingress", "Egress"],
        },
    }


def connect_command(address: str, port: int, timeout_s: float = CONNECT_TIMEOUT_S) -> list[str]:
    """A new TCP connection to address:port from inside a container of the mesh's image:
    exit 0 connected, 1 not (refused, unreachable, timed out). Pure."""
    script = (
        "import socket,sys\n"
        f"try: socket.create_connection(({address!r}, {port}), timeout={timeout_s}).close()\n"
        "except OSError as e: sys.exit(f'{type(e).__name__}: {e}')"
    )
    return ["python", "-c", script]


REACHED_PORTS = ("inbound", "gateway", "app")
"""The named ports other pods reach, in the order the check prefers them (a sidecar's
inbound first: its app may listen on the pod's loopback only)."""


def pod_port(pod: Mapping[str, Any]) -> int:
    """The port of the pod the check connects to: a named one other pods reach, else the
    first TCP port a container declares. Pure."""
    ports = [
        port
        for container in (pod.get("spec") or {}).get("containers") or []
        for port in container.get("ports") or []
        if port.get("protocol", "TCP") == "TCP"
    ]
    named = {str(p.get("name")): int(p["containerPort"]) for p in ports}
    for name in REACHED_PORTS:
        if name in named:
            return named[name]
    if ports:
        return int(ports[0]["containerPort"])
    raise FaultError(f"pod {pod['metadata']['name']}: declares no TCP port to check the cut on")


def running(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return (
        not (pod.get("metadata") or {}).get("deletionTimestamp")
        and status.get("phase") == "Running"
        and bool(status.get("podIP"))
    )


def prober_of(pods: list[dict[str, Any]], part: str) -> dict[str, Any] | None:
    """A running pod of another part with an app container (the mesh's image). Pure."""
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        names = {c.get("name") for c in (pod.get("spec") or {}).get("containers") or []}
        if labels.get(PART_LABEL) != part and APP_CONTAINER in names and running(pod):
            return pod
    return None


def refuse_unless_policies(name: str, place: KubePlace) -> None:
    """FaultError (one line) unless RBAC lets the place's user get, create and delete
    NetworkPolicies, list pods and exec in them (asked before the deploy too:
    harness.faults.kube_access)."""
    asks = [(verb, NETWORK_POLICY, None) for verb in ("get", "create", "delete")] + [
        ("list", POD, None),
        ("create", POD, "exec"),
    ]
    denied = [
        f"{verb} {resource.plural}{'/' + sub if sub else ''}"
        for verb, resource, sub in asks
        if not place.kube.can_i(verb, resource, place.namespace, subresource=sub)
    ]
    if denied:
        raise FaultError(
            f"fault {name!r}: the user of {place.login.kubeconfig} may not"
            f" {', '.join(denied)} in namespace {place.namespace} (RBAC); network_disconnect"
            " creates a NetworkPolicy and checks its effect from another pod (pods/exec)"
        )


class KubeNetworkDisconnectInjector:
    """A deny-all NetworkPolicy on the target's pod for the fault's duration."""

    def __init__(self, fault: ContainerFault, ctx: FaultContext) -> None:
        self.name = fault.name
        self.kind = fault.kind
        self._target = fault.target
        place = KubePlace.of_runtime(ctx, fault.kind)
        self._place = place
        self._kube = place.kube
        self._part, _ = pod_container(ctx.deployment, fault.target)
        placement = ctx.deployment.kubernetes
        assert placement is not None  # of_runtime checked
        self._deployment_id = placement.deployment_id
        self._mark = f"{place.run or 'meshproof'}/{fault.name}"
        self._ref = ObjectRef.of(
            NETWORK_POLICY, place.namespace, policy_name(self._part, self._mark)
        )
        self._change: ObjectChange | None = None
        self._applied: ObjectState | None = None
        self._probe: tuple[dict[str, Any], str, int] | None = None
        self.timings: dict[str, float] = {}
        """Measured: `cut_s` (policy created -> a new connection fails), `restored_s`
        (policy deleted -> a new connection succeeds)."""
        refuse_unless_policies(self.name, place)

    def rollback_entry(self) -> RollbackEntry:
        snapshot = read_or_absent(self._kube, self._ref)
        if snapshot.existed:
            raise FaultError(f"fault {self.name!r}: {self._ref} already exists; nothing changed")
        patch = deny_all_policy(self._deployment_id, self._part)
        self._change = ObjectChange(snapshot=snapshot, patch=patch, mark=self._mark)
        step = RestoreKubeObject(login=self._place.login, change=self._change)
        return RollbackEntry(fault=self.name, kind=self.kind, target=self._target, steps=[step])

    def apply(self) -> None:
        if self._change is None:
            raise FaultError(f"fault {self.name!r}: rollback_entry() comes before apply()")
        self._probe = self._find_probe()
        if not self._connects():
            raise FaultError(
                f"fault {self.name!r}: {self._describe_probe()} fails before the fault:"
                " cannot tell whether the NetworkPolicy cuts it; nothing changed"
            )
        began = time.monotonic()
        self._applied = apply(self._kube, self._change)
        try:
            cut = wait_until(
                lambda: not self._connects(), Deadline.after(CUT_TIMEOUT_S), interval=POLL_S
            )
        except BaseException:  # the check itself failed: take the policy away again
            restore(self._kube, self._change, applied=self._applied)
            raise
        if cut != "ready":
            restore(self._kube, self._change, applied=self._applied)
            raise FaultError(
                f"fault {self.name!r}: {self._describe_probe()} still succeeds"
                f" {CUT_TIMEOUT_S:g}s after the deny-all {self._ref} was created: {NO_ENFORCEMENT};"
                " the policy was deleted again"
            )
        self.timings["cut_s"] = time.monotonic() - began

    def revert(self) -> None:
        if self._change is None:
            return
        began = time.monotonic()
        restore(self._kube, self._change, applied=self._applied)
        if self._probe is None:
            return
        back = wait_until(self._connects, Deadline.after(RESTORE_TIMEOUT_S), interval=POLL_S)
        if back != "ready":
            raise FaultError(
                f"fault {self.name!r}: {self._ref} deleted, but {self._describe_probe()}"
                f" still fails after {RESTORE_TIMEOUT_S:g}s"
            )
        self.timings["restored_s"] = time.monotonic() - began

    # --- the check ------------------------------------------------------------------------

    def _find_probe(self) -> tuple[dict[str, Any], str, int]:
        """(a pod to connect from, the target pod's address, a port of it)."""
        pods = self._kube.list(POD, self._place.namespace, label_selector=self._place.selector)
        targets = [
            p
            for p in pods
            if ((p.get("metadata") or {}).get("labels") or {}).get(PART_LABEL) == self._part
            and running(p)
        ]
        if not targets:
            raise FaultError(f"fault {self.name!r}: {self._part} has no running pod")
        prober = prober_of(pods, self._part)
        if prober is None:
            raise FaultError(
                f"fault {self.name!r}: no other running pod of the deployment to check the cut from"
            )
        target = targets[0]
        return prober, str(target["status"]["podIP"]), pod_port(target)

    def _connects(self) -> bool:
        assert self._probe is not None
        prober, address, port = self._probe
        result = self._kube.exec(
            self._place.namespace,
            prober["metadata"]["name"],
            APP_CONTAINER,
            connect_command(address, port),
        )
        if result.exit_code not in (0, 1):
            why = result.error or result.stderr.strip() or f"exit code {result.exit_code}"
            raise FaultError(f"fault {self.name!r}: {self._describe_probe()}: {why}")
        return result.exit_code == 0

    def _describe_probe(self) -> str:
        assert self._probe is not None
        prober, address, port = self._probe
        return (
            f"a new connection from pod {prober['metadata']['name']} to {self._part}"
            f" ({address}:{port})"
        )
