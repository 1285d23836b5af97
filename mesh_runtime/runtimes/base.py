"""What every runtime offers: bring a topology up, report on it, take it down, poke it.

The local runtime runs processes on 127.0.0.1; a docker runtime runs containers and
follows the same protocol, so the harness does not care which one it drives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Protocol

from mesh_runtime.errors import DeployError, MeshproofError
from mesh_runtime.runtimes import deployment as state
from mesh_runtime.runtimes.deployment import (
    Deployment,
    KubernetesSource,
    ProcessRecord,
    ProxyRecord,
)
from mesh_runtime.runtimes.plan import Plan, PlanFiles, ProcessSpec, Tools, make_plan
from mesh_runtime.runtimes.ports import port_allocator
from mesh_runtime.runtimes.supervisor import Supervisor, http_ok
from mesh_runtime.runtimes.workdir import fresh_dir
from mesh_runtime.topology import MeshMode, Topology

GOES_ON_AS_IS = (MeshproofError, KeyboardInterrupt, SystemExit)
"""What an `up` that failed half-way raises again as it is once it has undone its start:
meshproof's own errors, an interrupt, and an exit (SIGTERM in a program that unwinds on
it), none of them a failed deploy a caller might try again."""


class Runtime(Protocol):
    name: str

    def up(
        self,
        topology_path: str | Path,
        *,
        mode: MeshMode = "mesh",
        otlp_endpoint: str | None = None,
        sidecar_command: Sequence[str] | None = None,
        config_source: KubernetesSource | None = None,
    ) -> Deployment:
        """Start every part of the topology and wait until the mesh serves; or raise DeployError.

        `config_source`: the control plane takes its policies from Istio objects there."""
        ...

    def down(self, deployment: Deployment) -> None:
        """Stop every part; nothing of the deployment is left running."""
        ...

    def refuse_if_running(self, topology_name: str) -> None:
        """Raise DeployError when that topology is up already (as `up` would)."""
        ...

    def status(self, deployment: Deployment) -> dict[str, Any]:
        """Each part: role, pid, ports, alive, ready; plus the deployment's URLs."""
        ...

    def restart(self, deployment: Deployment, name: str) -> Deployment:
        """Stop one part and start it again the same way; the updated deployment."""
        ...

    def signal(self, deployment: Deployment, name: str, sig: int) -> None:
        """Send a signal (SIGSTOP, SIGCONT, SIGKILL, ...) to one part."""
        ...


Progress = Callable[[str], None]
"""Where a runtime says what it is doing ('starting catalog-0', 'catalog-0 ready')."""


def quiet(message: str) -> None:
    """The default progress sink: says nothing."""


class StateKeeper:
    """What every runtime does with its state root: state files, and supervisors of the
    host processes that record each start in the deployment's state file."""

    READY_TIMEOUT: ClassVar[float] = 60.0
    """Each wait for a part to be ready, unless the runtime is made with another."""

    def __init__(
        self,
        *,
        state_root: Path | None = None,
        progress: Progress = quiet,
        ready_timeout: float | None = None,
        stop_grace: float = 5.0,
        cert_lifetime_s: float | None = None,
    ) -> None:
        """State under `state_root` (default `$MESHPROOF_STATE_DIR` or `.meshproof`);
        `cert_lifetime_s`: the lifetime of the certificates the control plane issues to the
        sidecars of what this runtime brings up (None: its default, 1 h)."""
        root = state_root if state_root is not None else state.state_root()
        self.state_root = root.resolve()
        self.progress = progress
        self.ready_timeout = self.READY_TIMEOUT if ready_timeout is None else ready_timeout
        self.stop_grace = stop_grace
        self.cert_lifetime_s = cert_lifetime_s

    def state_file(self, topology_name: str) -> Path:
        return state.state_file(self.state_root, topology_name)

    def load(self, topology_name: str) -> Deployment:
        return state.load(self.state_file(topology_name))

    def _fresh_plan(
        self,
        topology: Topology,
        topology_path: str | Path,
        mode: MeshMode,
        tools: Tools,
        otlp_endpoint: str | None,
        config_source: KubernetesSource | None = None,
    ) -> Plan:
        """The plan of `topology` in a fresh work dir, its ports allocated now."""
        work = state.work_dir(self.state_root, topology.name)
        fresh_dir(work)
        with port_allocator() as allocate:
            return make_plan(
                topology,
                topology_file=str(topology_path),
                mode=mode,
                allocate_port=allocate,
                work_dir=work,
                tools=tools,
                otlp_endpoint=otlp_endpoint,
                config_source=config_source,
                cert_lifetime_s=self.cert_lifetime_s,
            )

    @contextmanager
    def _recorded_up(
        self, deployment: Deployment, undo: Callable[[], None], undoing: str
    ) -> Iterator[None]:
        """Around carrying `deployment` out: its state file saved first (so `down` cleans up
        after an `up` that died half-way) and again at the end. On any failure `undo()` takes
        away what was started (`undoing` says so) and the error goes on: `GOES_ON_AS_IS` as it
        is, another as DeployError `<topology>: up failed: <error>`."""
        path = self.state_file(deployment.name)
        state.save(deployment, path)
        try:
            yield
        except BaseException as exc:
            self.progress(f"failed; {undoing}")
            undo()
            if isinstance(exc, GOES_ON_AS_IS):
                raise
            raise DeployError(f"{deployment.name}: up failed: {exc}") from exc
        state.save(deployment, path)

    def _supervisor(self, deployment: Deployment, *, record: bool) -> Supervisor:
        """Host processes of `deployment`; with `record`, each start saved in the state file."""
        path = self.state_file(deployment.name)

        def started(process: ProcessRecord) -> None:
            deployment.processes.append(process)
            state.save(deployment, path)

        logs = PlanFiles(Path(deployment.work_dir)).logs
        if record:
            return Supervisor(logs, marker=deployment.work_dir, on_started=started)
        return Supervisor(logs, marker=deployment.work_dir)


def deployment_of(
    plan: Plan, *, runtime: str, control_token: str, proxies: Sequence[ProxyRecord]
) -> Deployment:
    """The handle of a deployment about to be carried out (no process yet)."""
    sidecars = any(record.admin_port is not None for record in plan.instances)
    return Deployment(
        topology_file=plan.topology_file,
        runtime=runtime,
        mode=plan.mode,
        ingress_url=plan.ingress_url,
        tcp_ingress=dict(plan.tcp_ingress),
        grpc_ingress=dict(plan.grpc_ingress),
        control_url=plan.control_url,
        control_token=control_token if plan.control_url else None,
        admin_token_file=str(plan.files.admin_token) if sidecars else None,
        prometheus_url=plan.prometheus_url,
        toxiproxy_url=plan.toxiproxy_url,
        trace_file=str(plan.trace_file) if plan.trace_file else None,
        work_dir=str(plan.work_dir),
        instances=list(plan.instances),
        proxies=list(proxies),
        processes=[],
        config_source=plan.config_source,
    )


def status_of(
    deployment: Deployment,
    alive: Callable[[ProcessRecord], bool],
    extra: Callable[[ProcessRecord], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What `meshproof status` shows: each part (alive, ready) and the deployment's URLs.

    No secret is in it: neither token nor the admin token file's content."""
    processes = []
    for record in deployment.processes:
        up = alive(record)
        row: dict[str, Any] = {"name": record.name, "role": record.role, "pid": record.pid}
        row.update(extra(record) if extra else {})
        row["ports"] = record.ports
        row["alive"] = up
        row["ready"] = up and http_ok(ProcessSpec.from_record(record).ready_url)
        processes.append(row)
    return {
        "topology": deployment.name,
        "topology_file": deployment.topology_file,
        "runtime": deployment.runtime,
        "mode": deployment.mode,
        "ingress_url": deployment.ingress_url,
        "prometheus_url": deployment.prometheus_url,
        "control_url": deployment.control_url,
        "toxiproxy_url": deployment.toxiproxy_url,
        "trace_file": deployment.trace_file,
        "processes": processes,
    }
