"""The docker runtime: the mesh as containers on a network of its own.

`up` makes the same Plan as the local runtime, turns it into containers
(`specs.container_plan`), builds the images if their content changed (`images`), creates
the deployment's network and starts the containers stage by stage, recording each in the
state file the moment it exists. Each instance is a pod: a pod container holding the
network namespace, the app and its sidecar joining it. Prometheus runs on the host,
scraping the published admin ports. Everything is labelled `meshproof.deployment=<id>`, so
`down` removes by label whatever an interrupted `up` left, recorded or not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.errors import (
    ControlPlaneError,
    DeployError,
    ReadinessTimeout,
)
from mesh_runtime.runtimes import deployment as state
from mesh_runtime.runtimes.base import StateKeeper, deployment_of, status_of
from mesh_runtime.runtimes.deployment import Deployment, KubernetesSource, ProcessRecord
from mesh_runtime.runtimes.docker.engine import (
    ContainerState,
    Engine,
    SharedContainerOptions,
    connect,
)
from mesh_runtime.runtimes.docker.images import BASE_IMAGE, ImageBuilder, Images
from mesh_runtime.runtimes.docker.mounts import Mount
from mesh_runtime.runtimes.docker.naming import (
    container_name,
    deployment_id,
    network_name,
    pod_name,
    run_tag,
)
from mesh_runtime.runtimes.docker.specs import (
    ContainerPlan,
    ContainerSpec,
    container_plan,
    container_tools,
)
from mesh_runtime.runtimes.docker.stats import DockerStatsSampler, container_sampler
from mesh_runtime.runtimes.plan import PlanFiles, ProcessSpec
from mesh_runtime.runtimes.prometheus import PrometheusServer, expected_targets, scrape_config
from mesh_runtime.runtimes.readiness import Deadline, wait_until
from mesh_runtime.runtimes.supervisor import http_ok, is_running
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient
from mesh_runtime.runtimes.workdir import DeploymentSecrets, write_deployment_files
from mesh_runtime.tools import find_binary
from mesh_runtime.topology import MeshMode, load_topology

RUNTIME = "docker"


class DockerRuntime(StateKeeper):
    """Containers through the Docker SDK; state under `state_root`, as the local runtime's."""

    name = RUNTIME

    READY_TIMEOUT = 90.0

    def __init__(self, *, base_image: str = BASE_IMAGE, client: Any = None, **options: Any) -> None:
        """`options`: the state root, progress sink and timeouts, as every runtime takes."""
        super().__init__(**options)
        self.base_image = base_image
        self._client = client

    @property
    def engine(self) -> Engine:
        if self._client is None:
            self._client = connect()
        return Engine(self._client)

    # --- up -----------------------------------------------------------------------------

    def up(
        self,
        topology_path: str | Path,
        *,
        mode: MeshMode = "mesh",
        otlp_endpoint: str | None = None,
        sidecar_command: Sequence[str] | None = None,
        config_source: KubernetesSource | None = None,
    ) -> Deployment:
        """`sidecar_command` runs inside the mesh image (a program the image holds).
        A Kubernetes `config_source` is not carried out by this runtime (DeployError)."""
        if config_source is not None:
            raise DeployError(
                "--config-source kubernetes runs on the local runtime only (the control "
                "plane's container cannot reach an API server on the host's loopback)"
            )
        topology = load_topology(topology_path)
        self.refuse_if_running(topology.name)
        images = ImageBuilder(self.engine.client, base=self.base_image, progress=self.progress)
        built = images.ensure()
        tools = container_tools(str(find_binary("prometheus")), sidecar_command)
        plan = self._fresh_plan(topology, topology_path, mode, tools, otlp_endpoint)
        cplan = container_plan(plan)
        keys = DeploymentSecrets.generate()
        deployment = deployment_of(
            plan, runtime=RUNTIME, control_token=keys.control_token, proxies=cplan.proxies
        )
        with self._recorded_up(
            deployment, lambda: self._teardown(deployment), "removing what was started"
        ):
            _write_files(cplan, keys)
            self._carry_out(cplan, deployment, built)
        return deployment

    def _carry_out(self, cplan: ContainerPlan, deployment: Deployment, built: Images) -> None:
        plan = cplan.plan
        dep = deployment_id(deployment.name, deployment.work_dir)
        engine = self.engine
        for kind in ("mesh", "toxiproxy"):
            engine.tag(built.of(kind), run_tag(dep, kind))
        engine.create_network(dep)
        options = SharedContainerOptions(dep, network_name(dep))
        path = self.state_file(deployment.name)
        # First: its first scrape comes >= 5 s after it starts (see make_plan).
        self.progress("starting prometheus (on the host)")
        self._supervisor(deployment, record=True).start_and_wait(
            [cplan.prometheus], self.ready_timeout
        )
        for stage in cplan.stages:
            self.progress("starting " + ", ".join(s.name for s in stage if s.role != "pod"))
            started = []
            for spec in stage:
                container = engine.run(spec, run_tag(dep, spec.image), options)
                if spec.role != "pod":
                    deployment.processes.append(_record(spec, container))
                    state.save(deployment, path)
                    started.append((spec, container))
            self._wait_ready(engine, started)
            if any(spec.role == "toxiproxy" for spec in stage):
                self._create_proxies(cplan)
        self._wait_config(deployment, plan.mesh_config.version)
        self.progress("waiting until Prometheus scrapes every sidecar")
        config = scrape_config(plan.instances)
        PrometheusServer(plan.prometheus_url).wait_for_targets_up(
            expected_targets(config), self.ready_timeout
        )

    def _wait_ready(
        self, engine: Engine, started: list[tuple[ContainerSpec, ContainerState]]
    ) -> None:
        deadline = Deadline.after(self.ready_timeout)
        for spec, container in started:
            url = spec.ready_url
            if url is None:
                continue

            def exited(container: ContainerState = container) -> bool:
                return not engine.state(container.id).running

            outcome = wait_until(lambda url=url: http_ok(url), deadline, failed=exited)  # type: ignore[misc]
            if outcome != "ready":
                how = "exited" if outcome == "failed" else f"not ready at {url}"
                logs = engine.logs(container.id)
                raise (DeployError if outcome == "failed" else ReadinessTimeout)(
                    f"{spec.name} {how} (container {container.name}); last log lines:\n{logs}"
                )
            self.progress(f"{spec.name} ready")

    def _create_proxies(self, cplan: ContainerPlan) -> None:
        client = ToxiproxyClient(cplan.plan.toxiproxy_url)
        for proxy in cplan.proxies:
            client.create_proxy(proxy.name, proxy.listen, proxy.upstream)
        self.progress(f"{len(cplan.proxies)} Toxiproxy proxies created")

    def _wait_config(self, deployment: Deployment, wanted: int) -> None:
        """Wait until every sidecar runs (at least) the initial config version, as the
        control plane sees them (a sidecar's /config_dump answers loopback peers only, and
        a published port's peer is Docker's bridge)."""
        instances = [r.instance for r in deployment.instances if r.admin_port is not None]
        if not instances or deployment.control_url is None:
            return
        try:
            with ControlPlaneClient(deployment.control_url, deployment.control_token) as client:
                client.wait_for_version(wanted, instances, self.ready_timeout, interval=0.1)
        except ControlPlaneError as exc:
            raise ReadinessTimeout(str(exc)) from None
        self.progress(f"every sidecar runs config version {wanted}")

    def refuse_if_running(self, topology_name: str) -> None:
        """DeployError when `topology_name` is up already; a stale state file (its parts all
        gone) is cleaned up instead. `up` calls it first; `meshproof run` before it writes."""
        path = self.state_file(topology_name)
        if not path.exists():
            return
        old = state.load(path)
        if any(self._alive(old, record) for record in old.processes):
            raise DeployError(
                f"{topology_name} is already up (state file {path}); "
                f"run `meshproof down {topology_name}` first"
            )
        self.down(old)

    # --- down / status ------------------------------------------------------------------

    def down(self, deployment: Deployment) -> None:
        self._teardown(deployment)

    def _teardown(self, deployment: Deployment) -> None:
        """Keep the logs, remove every labelled thing, stop Prometheus, drop the state file."""
        dep = deployment_id(deployment.name, deployment.work_dir)
        supervisor = self._supervisor(deployment, record=False)
        hosted = [r for r in deployment.processes if r.container_id is None]
        supervisor.stop_all(hosted, self.stop_grace)
        supervisor.stop_strays(self.stop_grace)
        if deployment.runtime == RUNTIME:
            engine = self.engine
            self._keep_logs(engine, deployment)
            left = engine.remove_all(dep)
            if any(left.values()):
                what = "; ".join(f"{k}: {', '.join(v)}" for k, v in left.items() if v)
                raise DeployError(f"{deployment.name}: still there after down: {what}")
        state.remove(self.state_file(deployment.name))

    def _keep_logs(self, engine: Engine, deployment: Deployment) -> None:
        logs = PlanFiles(Path(deployment.work_dir)).logs
        for record in deployment.processes:
            if record.container_id is None:
                continue
            with contextlib.suppress(OSError):
                logs.mkdir(parents=True, exist_ok=True)
                text = engine.logs(record.container_id, tail="all")
                (logs / f"{record.name}.log").write_text(text, encoding="utf-8")

    def status(self, deployment: Deployment) -> dict[str, Any]:
        dep = deployment_id(deployment.name, deployment.work_dir)

        def container(record: ProcessRecord) -> dict[str, Any]:
            name = container_name(dep, record.name) if record.container_id else None
            return {"container": name}

        status = status_of(deployment, lambda r: self._alive(deployment, r), container)
        return {**status, "network": network_name(dep)}

    def _alive(self, deployment: Deployment, record: ProcessRecord) -> bool:
        if record.container_id is None:
            return is_running(record)
        return self.engine.state(record.container_id).status == "running"

    # --- restart / signal, and the container operations faults use -------------------------

    def restart(self, deployment: Deployment, name: str) -> Deployment:
        """Restart one part (gracefully: SIGTERM, then SIGKILL after the grace) until ready."""
        record = deployment.process(name)
        if record.container_id is None:
            supervisor = self._supervisor(deployment, record=False)
            new = supervisor.restart(record, grace=self.stop_grace, timeout=self.ready_timeout)
        else:
            self.engine.restart(record.container_id, self.stop_grace)
            new = self._ready_again(record)
        return self._replace(deployment, new)

    def start(self, deployment: Deployment, name: str) -> Deployment:
        """Start a stopped (killed) container again and wait until it is ready."""
        record = deployment.process(name)
        if record.container_id is None:
            return self.restart(deployment, name)
        if self.engine.state(record.container_id).status != "running":
            self.engine.start(record.container_id)
        return self._replace(deployment, self._ready_again(record))

    def signal(self, deployment: Deployment, name: str, sig: int) -> None:
        record = deployment.process(name)
        if record.container_id is None:
            self._supervisor(deployment, record=False).signal(record, sig)
            return
        if not self._alive(deployment, record):
            raise DeployError(f"{name} (container {record.container_id[:12]}) is not running")
        self.engine.kill(record.container_id, sig)

    def container_of(self, deployment: Deployment, name: str, *, pod: bool = False) -> str:
        """The Docker name of part `name`; with `pod`, of the pod an app or sidecar is in."""
        dep = deployment_id(deployment.name, deployment.work_dir)
        record = deployment.process(name)
        if pod and record.role in ("service", "sidecar"):
            instance = name.removesuffix("-sidecar")
            return container_name(dep, pod_name(instance))
        return container_name(dep, name)

    def stats_sampler(
        self, deployment: Deployment, *, t0: float, out: Path | None = None
    ) -> DockerStatsSampler:
        """CPU and memory per container from the stats API (the psutil sampler's columns)."""
        return container_sampler(deployment, self.engine.client, t0=t0, out=out)

    def network_of(self, deployment: Deployment) -> str:
        return network_name(deployment_id(deployment.name, deployment.work_dir))

    def _ready_again(self, record: ProcessRecord) -> ProcessRecord:
        assert record.container_id is not None
        url = ProcessSpec.from_record(record).ready_url
        engine = self.engine
        if wait_until(lambda: http_ok(url), Deadline.after(self.ready_timeout)) != "ready":
            raise ReadinessTimeout(
                f"{record.name} not ready at {url} after {self.ready_timeout:.0f}s; last log "
                f"lines:\n{engine.logs(record.container_id)}"
            )
        return _record_update(record, engine.state(record.container_id))

    def _replace(self, deployment: Deployment, new: ProcessRecord) -> Deployment:
        deployment.processes = [new if r.name == new.name else r for r in deployment.processes]
        state.save(deployment, self.state_file(deployment.name))
        return deployment


def _record(spec: ContainerSpec, container: ContainerState) -> ProcessRecord:
    record = ProcessRecord(
        role=spec.role,  # type: ignore[arg-type]  # pods are never recorded
        name=spec.name,
        pid=container.pid,
        ports=dict(spec.ports),
        create_time=0.0,
        command=list(spec.command),
        container_id=container.id,
    )
    return _record_update(record, container)


def _record_update(record: ProcessRecord, container: ContainerState) -> ProcessRecord:
    """The record with the container's current main process (pid, create_time)."""
    create_time = 0.0
    with contextlib.suppress(psutil.Error, ValueError):
        create_time = psutil.Process(container.pid).create_time() if container.pid else 0.0
    return record.model_copy(update={"pid": container.pid, "create_time": create_time})


def _write_files(cplan: ContainerPlan, keys: DeploymentSecrets) -> None:
    """The deployment's files (the mesh config with addresses on the mesh network), then
    each container's mounts made ready. The containers run as the caller's uid, so the
    secrets can stay owner-only."""
    files = cplan.plan.files
    write_deployment_files(files, cplan.mesh_config, cplan.plan.instances, keys)
    for mount in sorted({m for spec in cplan.containers for m in spec.mounts}, key=str):
        _prepare(mount)


def _prepare(mount: Mount) -> None:
    """A writable folder made (owner-only), a writable file made empty (the trace sink's
    spans); a read-only file must be there (Docker would bind an empty folder instead)."""
    try:
        if mount.directory:
            mount.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        elif mount.writable:
            mount.path.touch(exist_ok=True)
        elif not mount.path.is_file():
            raise DeployError(f"{mount.path}: missing; a container needs it")
    except OSError as exc:
        raise DeployError(f"{mount.path}: cannot create it: {exc.strerror}") from exc
