"""The external "runtime": a mesh someone else runs, described by a target file.

`up(target_file)` deploys nothing. It reads the target file and returns a `Deployment`
whose URLs are the target's (ingress, Prometheus, Toxiproxy) and whose `target` carries
the rest (Host header, extra headers, TLS, Prometheus auth and matchers, the Kubernetes
context and namespaces), and saves it as the state file
`<state root>/deployments/external-<name>.json`: the fault ledger's rollback steps name
that file, so `meshproof recover` can undo a fault on the external mesh after the harness
died. The only process it may start is the harness's own OTLP receiver, when the target
file has `traces:` (the mesh's collector exports spans to it).

`down()` stops that receiver and removes the state file; nothing of the mesh is touched.
`refuse_if_running` refuses while the state file exists: a run is under way, or one was
killed (then `meshproof recover` undoes its faults and `meshproof down external-<name>`
forgets it). There is no process of the mesh to restart or signal.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mesh_runtime.errors import DeployError
from mesh_runtime.runtimes import deployment as state
from mesh_runtime.runtimes.base import GOES_ON_AS_IS, StateKeeper, status_of
from mesh_runtime.runtimes.deployment import Deployment, KubernetesSource, ProxyRecord
from mesh_runtime.runtimes.plan import ProcessSpec
from mesh_runtime.runtimes.ports import listen_problem
from mesh_runtime.runtimes.supervisor import is_running
from mesh_runtime.target import TargetFile, load_target
from mesh_runtime.topology import MeshMode

PREFIX = "external-"
SPANS_FILE = "spans.jsonl"


def deployment_name(target: TargetFile) -> str:
    """`external-<name>`: never the name of a topology meshproof deploys itself."""
    return f"{PREFIX}{target.name}"


def external_deployment(target: TargetFile, target_file: Path, work_dir: Path) -> Deployment:
    """The handle of an external mesh: the target's URLs, no process of meshproof's. Pure."""
    proxies = [
        ProxyRecord(
            name=proxy.name,
            edge=proxy.edge,
            instance=proxy.instance or "",
            listen="",
            upstream="",
        )
        for proxy in (target.toxiproxy.proxies if target.toxiproxy else [])
    ]
    return Deployment(
        topology_file=str(target_file),
        runtime="external",
        mode="mesh",
        ingress_url=target.ingress.url,
        prometheus_url=target.prometheus.url,
        toxiproxy_url=target.toxiproxy.url if target.toxiproxy else None,
        trace_file=str(work_dir / SPANS_FILE) if target.traces else None,
        work_dir=str(work_dir),
        proxies=proxies,
        target=target,
    )


def receiver_spec(target: TargetFile, spans: Path) -> ProcessSpec:
    """The harness's OTLP/HTTP receiver on the target's `traces.listen` address."""
    assert target.traces is not None
    command = (
        sys.executable,
        "-m",
        "mesh_runtime.tracesink",
        "--host",
        target.traces.host,
        "--port",
        str(target.traces.port),
        "--out",
        str(spans),
    )
    return ProcessSpec("trace-sink", "trace-sink", command, {"port": target.traces.port})


class ExternalRuntime(StateKeeper):
    """A mesh meshproof did not deploy (see the module docstring)."""

    name = "external"
    READY_TIMEOUT = 30.0

    def up(
        self,
        topology_path: str | Path,
        *,
        mode: MeshMode = "mesh",
        otlp_endpoint: str | None = None,
        sidecar_command: Sequence[str] | None = None,
        config_source: KubernetesSource | None = None,
    ) -> Deployment:
        """`topology_path` is the target file. Nothing is deployed (see the module docstring)."""
        if mode != "mesh" or sidecar_command or config_source is not None:
            raise DeployError(
                f"{topology_path}: an external target runs as it is (no no-mesh mode, no"
                " sidecar or configuration source of meshproof's)"
            )
        target_file = Path(topology_path).resolve()
        target = load_target(target_file)
        name = deployment_name(target)
        self.refuse_if_running(name)
        if target.traces is not None:
            taken = listen_problem(target.traces.host, target.traces.port)
            if taken:
                raise DeployError(
                    f"{target_file}: traces.listen: the OTLP receiver cannot listen on"
                    f" {target.traces.listen}: {taken}"
                )
        work = state.work_dir(self.state_root, name)
        work.mkdir(parents=True, exist_ok=True)
        deployment = external_deployment(target, target_file, work)
        path = self.state_file(name)
        state.save(deployment, path)
        if target.traces is not None:
            self._start_receiver(deployment, target, work)
        self.progress(
            f"{name}: external {target.mesh} mesh at {target.ingress.url}; nothing deployed"
        )
        return deployment

    def _start_receiver(self, deployment: Deployment, target: TargetFile, work: Path) -> None:
        supervisor = self._supervisor(deployment, record=True)
        spec = receiver_spec(target, work / SPANS_FILE)
        self.progress(f"starting the OTLP receiver on {spec.ports['port']}")
        try:
            supervisor.start_and_wait([spec], self.ready_timeout)
        except BaseException as exc:
            self._forget(deployment)
            if isinstance(exc, GOES_ON_AS_IS):
                raise
            raise DeployError(f"{deployment.name}: OTLP receiver: {exc}") from exc

    def refuse_if_running(self, topology_name: str) -> None:
        """DeployError while `external-<name>`'s state file exists (see the module docstring)."""
        name = topology_name if topology_name.startswith(PREFIX) else f"{PREFIX}{topology_name}"
        path = self.state_file(name)
        if path.exists():
            raise DeployError(
                f"a run against {name} is under way or was killed (state file {path}):"
                f" `meshproof recover` undoes its faults, then `meshproof down {name}`"
            )

    def down(self, deployment: Deployment) -> None:
        """Stop the OTLP receiver (if any) and drop the state file; the mesh is not touched."""
        self._forget(deployment)

    def _forget(self, deployment: Deployment) -> None:
        supervisor = self._supervisor(deployment, record=False)
        supervisor.stop_all(list(deployment.processes), self.stop_grace)
        left = [r for r in deployment.processes if is_running(r)]
        if left:
            names = ", ".join(f"{r.name} (pid {r.pid})" for r in left)
            raise DeployError(f"{deployment.name}: still running after down: {names}")
        state.remove(self.state_file(deployment.name))

    def status(self, deployment: Deployment) -> dict[str, Any]:
        return status_of(deployment, is_running)

    def restart(self, deployment: Deployment, name: str) -> Deployment:
        raise DeployError(
            f"{deployment.name}: meshproof runs no process {name!r} of an external mesh"
        )

    def signal(self, deployment: Deployment, name: str, sig: int) -> None:
        raise DeployError(
            f"{deployment.name}: meshproof runs no process {name!r} of an external mesh"
        )
