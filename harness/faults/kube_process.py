"""Process and container faults on the kubernetes runtime: signals sent inside the pod.

The runtime's pods share one process namespace (`shareProcessNamespace: true`), so a
container's processes are ordinary processes a signal reaches (a namespace's PID 1 drops
SIGKILL and SIGSTOP sent from inside). The harness signals them with a command exec'd
into the target container through the API server (`pods/exec`, as `kubectl exec`): one
exec lists the pod's processes (`procs`: the container's are those in its cgroup), one
sends the signal. Then the kubelet does what it does with a container that ended: it
starts it again (its restart count goes up).

    process_kill       SIGKILL the container's main process; at the end, wait until
                       the kubelet has started it again and it is ready
    container_kill     SIGKILL every process of the container; the same wait
    process_pause,     SIGSTOP every process of the container, SIGCONT them at the end
    container_pause    (only those: each named by pid and start time, in the ledger)
    process_restart,   SIGTERM the main process (SIGKILL after a grace, as `docker
    container_restart  restart`), and wait until the kubelet has started it again and it
                       is ready; nothing to revert

Targets: 'sidecar:<instance>' (the instance pod's `sidecar` container), 'service:<instance>'
or an instance (its `app`), 'control-plane', 'toxiproxy', 'trace-sink' (their pods' one
container), 'container:<instance>-sidecar' / 'container:<instance>'.

Rollback steps name the kubeconfig, namespace, pod and container, so `meshproof recover`
undoes a fault from the ledger alone: `kube_container_ready` (wait until the kubelet has
restarted the container and it is ready), `kube_resume_processes` (SIGCONT exactly the
processes the fault stopped that still run).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import FaultError
from harness.faults.base import FaultContext
from harness.faults.kube_place import KubeLogin, KubePlace
from harness.faults.steps import DeploymentStep, RollbackEntry, StepKind, StepTools
from harness.spec.faults import ContainerFault, ProcessFault
from mesh_runtime.errors import MeshproofError
from mesh_runtime.kube.errors import KubeNotFound
from mesh_runtime.kube.resources import POD
from mesh_runtime.runtimes.docker.naming import PART_LABEL
from mesh_runtime.runtimes.kubernetes.procs import (
    LIST_COMMAND,
    Listing,
    PodProcess,
    parse_listing,
    signal_command,
)
from mesh_runtime.runtimes.kubernetes.workloads import APP_CONTAINER, SIDECAR_CONTAINER
from mesh_runtime.runtimes.readiness import Deadline, wait_until

if TYPE_CHECKING:
    from mesh_runtime.kube.client import KubeClient
    from mesh_runtime.runtimes.deployment import Deployment

READY_TIMEOUT_S = 90.0
"""How long a restarted container may take to be ready (the kubelet's restart back-off
included: a container that ended twice within minutes waits 10 s, then 20 s, ...)."""
TERM_GRACE_S = 10.0
"""How long a SIGTERMed main process may drain before it is SIGKILLed (docker's default)."""
POLL_S = 0.25
SINGLE_PARTS = ("control-plane", "toxiproxy", "trace-sink")
"""Parts whose pod has one container, named as the part."""


def pod_container(deployment: Deployment, target: str) -> tuple[str, str]:
    """(part, container) a process or container fault's `target` names. Pure."""
    instances = {r.instance: r for r in deployment.instances}
    role, _, rest = target.partition(":")
    if role == "container" and rest:
        part, container = _container_name(rest, set(instances))
    elif role in ("sidecar", "service") and rest:
        part, container = rest, SIDECAR_CONTAINER if role == "sidecar" else APP_CONTAINER
    elif target in SINGLE_PARTS:
        part, container = target, target
    else:
        part, container = target, APP_CONTAINER
    if part in SINGLE_PARTS:
        if part == "control-plane" and deployment.control_url is None:
            raise FaultError(f"target {target!r}: a no-mesh deployment runs no control plane")
        return part, container
    record = instances.get(part)
    if record is None:
        raise FaultError(
            f"target {target!r}: expected 'sidecar:<instance>', 'service:<instance>', an "
            f"instance, {', '.join(SINGLE_PARTS)} or 'container:<name>' (instances: "
            f"{', '.join(sorted(instances))})"
        )
    if container == SIDECAR_CONTAINER and record.admin_port is None:
        raise FaultError(f"target {target!r}: {part} has no sidecar (a no-mesh deployment)")
    return part, container


def _container_name(name: str, instances: set[str]) -> tuple[str, str]:
    """'catalog-0-sidecar' -> (catalog-0, sidecar); 'catalog-0' -> (catalog-0, app)."""
    instance = name.removesuffix(f"-{SIDECAR_CONTAINER}")
    if instance != name and instance in instances:
        return instance, SIDECAR_CONTAINER
    if name in SINGLE_PARTS:
        return name, name
    return name, APP_CONTAINER


def container_status(pod: Mapping[str, Any], container: str) -> Mapping[str, Any]:
    """The pod's status of `container` ({} when the kubelet has reported none). Pure."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return next((s for s in statuses if s.get("name") == container), {})


def started_again(pod: Mapping[str, Any], container: str, restarts_before: int) -> bool:
    """Whether the kubelet has started `container` again since it had `restarts_before`
    restarts, and it is running and ready. Pure."""
    status = container_status(pod, container)
    running = "running" in (status.get("state") or {})
    restarts = int(status.get("restartCount") or 0)
    return running and bool(status.get("ready")) and restarts > restarts_before


class PodContainer(KubeLogin):
    """Where a fault acts: a kubeconfig and context, and a container of a pod."""

    namespace: str
    pod: str
    pod_uid: str
    container: str

    def describe(self) -> str:
        return f"container {self.container} of pod {self.namespace}/{self.pod}"


class KubeContainerReady(DeploymentStep):
    action: Literal["kube_container_ready"] = "kube_container_ready"
    where: PodContainer
    restarts_before: int

    def describe(self) -> str:
        return f"wait until the kubelet has restarted {self.where.describe()} and it is ready"


class KubeResumeProcesses(DeploymentStep):
    action: Literal["kube_resume_processes"] = "kube_resume_processes"
    where: PodContainer
    processes: list[tuple[int, int]]
    """(pid, start time) of each process the fault stopped."""

    def describe(self) -> str:
        pids = ", ".join(str(pid) for pid, _ in self.processes)
        return f"SIGCONT pid(s) {pids} in {self.where.describe()}"


def container_ready(step: KubeContainerReady, tools: StepTools) -> None:
    kube = step.where.client(tools)
    wait_started_again(kube, step.where, step.restarts_before)


def resume_processes(step: KubeResumeProcesses, tools: StepTools) -> None:
    resume_stopped(step.where.client(tools), step.where, step.processes)


KUBE_CONTAINER_READY = StepKind(KubeContainerReady, container_ready)
KUBE_RESUME_PROCESSES = StepKind(KubeResumeProcesses, resume_processes)


# --- the pod, through the API server ------------------------------------------------------


def list_processes(kube: KubeClient, where: PodContainer) -> Listing:
    """Every process of the pod, as seen from inside `where`'s container."""
    result = kube.exec(where.namespace, where.pod, where.container, LIST_COMMAND)
    if result.error or result.exit_code not in (0, 2):  # grep: 2 when a process ended
        why = result.error or result.stderr.strip() or f"exit code {result.exit_code}"
        raise FaultError(f"{where.describe()}: cannot list its processes: {why}")
    try:
        return parse_listing(result.stdout)
    except ValueError as exc:
        raise FaultError(f"{where.describe()}: cannot list its processes: {exc}") from None


def signal_processes(
    kube: KubeClient, where: PodContainer, signal_name: str, pids: list[int]
) -> None:
    """Send SIG`signal_name` to `pids` from inside the container (a gone pid is skipped)."""
    if not pids:
        return
    result = kube.exec(
        where.namespace, where.pod, where.container, signal_command(signal_name, pids)
    )
    if result.error and result.exit_code is None:
        raise FaultError(f"{where.describe()}: cannot send SIG{signal_name}: {result.error}")


def resume_stopped(kube: KubeClient, where: PodContainer, stopped: list[tuple[int, int]]) -> None:
    """SIGCONT the processes of `stopped` that still run (a pod that is gone: nothing)."""
    try:
        listing = list_processes(kube, where)
    except KubeNotFound:
        return  # the pod is gone, and its processes with it
    signal_processes(kube, where, "CONT", still_running(listing, stopped))


def still_running(listing: Listing, wanted: list[tuple[int, int]]) -> list[int]:
    """The pids of `wanted` (pid, start time) that still name the same process. Pure."""
    running = {(p.pid, p.start) for p in listing.processes}
    return [pid for pid, start in wanted if (pid, start) in running]


def wait_started_again(kube: KubeClient, where: PodContainer, restarts_before: int) -> None:
    """Until the container was started again and is ready; a pod that is gone (replaced
    by its Deployment) is not waited for. FaultError after READY_TIMEOUT_S."""
    seen: dict[str, Any] = {}

    def done() -> bool:
        try:
            pod = kube.get(POD, where.namespace, where.pod)
        except KubeNotFound:
            return True
        if (pod.get("metadata") or {}).get("uid") != where.pod_uid:
            return True
        seen["status"] = container_status(pod, where.container)
        return started_again(pod, where.container, restarts_before)

    deadline = Deadline.after(READY_TIMEOUT_S)
    if wait_until(done, deadline, interval=POLL_S) != "ready":
        state = (seen.get("status") or {}).get("state") or {}
        raise FaultError(
            f"{where.describe()}: not started again and ready after {READY_TIMEOUT_S:.0f}s"
            f" (state: {', '.join(state) or 'unknown'})"
        )


# --- the injector -------------------------------------------------------------------------


def refuse_unless_exec(name: str, kind: str, place: KubePlace) -> None:
    """FaultError (one line) unless RBAC lets the place's user exec in, get and list pods
    (asked before the deploy too: harness.faults.kube_access)."""
    asks = (("create", "exec", "pods/exec"), ("get", None, "pods"), ("list", None, "pods"))
    denied = [
        f"{verb} {what}"
        for verb, sub, what in asks
        if not place.kube.can_i(verb, POD, place.namespace, subresource=sub)
    ]
    if denied:
        context = f" (context {place.login.context})" if place.login.context else ""
        raise FaultError(
            f"fault {name!r}: the user of {place.login.kubeconfig}{context} may not "
            f"{', '.join(denied)} in namespace {place.namespace} (RBAC); {kind} "
            "signals the container's processes through pods/exec, as `kubectl exec`"
        )


class KubeContainerInjector:
    """One process or container fault on the kubernetes runtime; `kind` picks what
    apply / revert do."""

    def __init__(self, fault: ProcessFault | ContainerFault, ctx: FaultContext) -> None:
        self.name = fault.name
        self.kind = fault.kind
        self._target = fault.target
        self._state_file: Path = ctx.state_path
        self._part, self._container = pod_container(ctx.deployment, fault.target)
        place = KubePlace.of_runtime(ctx, fault.kind)
        self._login, self._namespace, self._kube = place.login, place.namespace, place.kube
        self._selector = f"{place.selector},{PART_LABEL}={self._part}"
        refuse_unless_exec(self.name, self.kind, place)
        self._where: PodContainer | None = None
        self._restarts = 0
        self._stopped: list[tuple[int, int]] = []
        self._signalled_at = 0.0
        self.timings: dict[str, float] = {}
        """Measured: `ready_again_s`, from the signal to the container ready again."""

    def rollback_entry(self) -> RollbackEntry:
        where = self._current()
        steps: list[DeploymentStep]
        if self.kind.endswith("_pause"):
            self._stopped = [(p.pid, p.start) for p in self._container_processes(where)]
            steps = [
                KubeResumeProcesses(
                    state_file=self._state_file, where=where, processes=self._stopped
                )
            ]
        else:
            steps = [
                KubeContainerReady(
                    state_file=self._state_file, where=where, restarts_before=self._restarts
                )
            ]
        return RollbackEntry(fault=self.name, kind=self.kind, target=self._target, steps=steps)

    def apply(self) -> None:
        where = self._here()
        self._signalled_at = time.monotonic()
        if self.kind == "process_kill":
            signal_processes(self._kube, where, "KILL", [self._main(where).pid])
        elif self.kind == "container_kill":
            pids = [p.pid for p in self._container_processes(where)]
            signal_processes(self._kube, where, "KILL", pids)
        elif self.kind.endswith("_pause"):
            listing = list_processes(self._kube, where)
            signal_processes(self._kube, where, "STOP", still_running(listing, self._stopped))
        else:
            self._restart(where)
        self.timings["apply_s"] = time.monotonic() - self._signalled_at

    def revert(self) -> None:
        where = self._here()
        if self.kind.endswith("_kill"):
            wait_started_again(self._kube, where, self._restarts)
            self.timings["ready_again_s"] = time.monotonic() - self._signalled_at
        elif self.kind.endswith("_pause"):
            resume_stopped(self._kube, where, self._stopped)

    def _restart(self, where: PodContainer) -> None:
        """SIGTERM the main process; SIGKILL what is left after the grace; wait until the
        kubelet has started the container again and it is ready."""
        main = self._main(where)
        signal_processes(self._kube, where, "TERM", [main.pid])

        def ended() -> bool:
            try:
                listing = list_processes(self._kube, where)
            except MeshproofError:
                return True  # the container is gone: exec has nowhere to run
            return not still_running(listing, [(main.pid, main.start)])

        if wait_until(ended, Deadline.after(TERM_GRACE_S), interval=0.5) != "ready":
            pids = [p.pid for p in self._container_processes(where)]
            signal_processes(self._kube, where, "KILL", pids)
        wait_started_again(self._kube, where, self._restarts)
        self.timings["ready_again_s"] = time.monotonic() - self._signalled_at

    def _current(self) -> PodContainer:
        """The part's running pod (read now), and the container's restart count."""
        pods = self._kube.list(POD, self._namespace, label_selector=self._selector)
        live = [
            p
            for p in pods
            if not (p.get("metadata") or {}).get("deletionTimestamp")
            and "running" in (container_status(p, self._container).get("state") or {})
        ]
        if not live:
            raise FaultError(
                f"fault {self.name!r}: {self._part} has no pod whose {self._container} "
                f"container runs in namespace {self._namespace}"
            )
        pod = live[0]
        self._restarts = int(container_status(pod, self._container).get("restartCount") or 0)
        self._where = PodContainer(
            kubeconfig=self._login.kubeconfig,
            context=self._login.context,
            namespace=self._namespace,
            pod=pod["metadata"]["name"],
            pod_uid=pod["metadata"]["uid"],
            container=self._container,
        )
        return self._where

    def _here(self) -> PodContainer:
        if self._where is None:
            raise FaultError(f"fault {self.name!r}: rollback_entry() comes before apply()")
        return self._where

    def _container_processes(self, where: PodContainer) -> list[PodProcess]:
        found = list_processes(self._kube, where).own_container()
        if not found:
            raise FaultError(f"{where.describe()}: no process runs in it")
        _refuse_init(where, found)
        return found

    def _main(self, where: PodContainer) -> PodProcess:
        main = list_processes(self._kube, where).main_process()
        if main is None:
            raise FaultError(f"{where.describe()}: its main process is not running")
        _refuse_init(where, [main])
        return main


def _refuse_init(where: PodContainer, processes: list[PodProcess]) -> None:
    """FaultError when one of `processes` is the pod's PID 1 (a signal would be dropped)."""
    if any(p.pid == 1 for p in processes):
        raise FaultError(
            f"{where.describe()}: its main process is the pod's PID 1, which ignores SIGKILL"
            " and SIGSTOP sent from inside: the pod does not share its process namespace"
            " (deployed by an older meshproof? `down` and `up` again: shareProcessNamespace)"
        )
