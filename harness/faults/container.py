"""Container faults, docker runtime only: kill, pause (freeze / thaw), restart, and
disconnection from the deployment's network.

Targets: an instance ('catalog-1': its app container), 'service:<instance>',
'sidecar:<instance>', 'control-plane', 'toxiproxy', 'trace-sink', or
'container:<process name>'. `network_disconnect` of an app or sidecar detaches the
instance's pod (the namespace both share: as a Kubernetes pod, they go off the network
together); of any other part, that part's own container.

Rollback steps name the Docker container, so `meshproof recover` undoes a fault with the
Docker engine and the step alone: `start_container` (start it if it is not running, wait
until its ready URL answers), `unpause_container`, `connect_network` (connect again, with
its alias, if it is not). The engine client is made on a step's first use.
"""

from __future__ import annotations

import signal
from typing import Literal

from harness.errors import FaultError
from harness.faults.base import FaultContext
from harness.faults.steps import DeploymentStep, RollbackEntry, StepKind, StepTools
from harness.faults.targets import process_name
from harness.spec.faults import ContainerFault
from harness.spec.targets import PLAIN_PARTS
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.docker.engine import Engine, connect
from mesh_runtime.runtimes.docker.runtime import DockerRuntime
from mesh_runtime.runtimes.plan import ProcessSpec
from mesh_runtime.runtimes.readiness import Deadline, wait_until
from mesh_runtime.runtimes.supervisor import http_ok

READY_TIMEOUT_S = 60.0


def container_target(deployment: Deployment, target: str) -> str:
    """The process-table name a container fault's target names. Pure."""
    kind, _, rest = target.partition(":")
    if kind == "container" and rest:
        name = rest
    elif kind in ("sidecar", "service") or target == "control-plane":
        return process_name(deployment, target)
    else:
        name = target
    known = [p.name for p in deployment.processes if p.container_id is not None]
    if name not in known:
        raise FaultError(
            f"target {target!r}: no container of that name (an instance, 'sidecar:<instance>', "
            f"'service:<instance>', {', '.join(PLAIN_PARTS)}, or 'container:<name>'; "
            f"containers: {', '.join(known)})"
        )
    return name


def network_alias(deployment: Deployment, name: str) -> str:
    """The name a part answers to on the mesh network (an app's or sidecar's: its pod's)."""
    record = deployment.process(name)
    if record.role in ("service", "sidecar"):
        return name.removesuffix("-sidecar")
    return name


class ContainerInjector:
    """One container fault; `kind` picks what apply / revert do."""

    def __init__(self, fault: ContainerFault, ctx: FaultContext) -> None:
        self.name = fault.name
        self.kind = fault.kind
        self._fault = fault
        self._ctx = ctx
        if ctx.deployment.runtime != "docker":
            raise FaultError(
                f"fault {fault.name!r}: {fault.kind} needs the docker runtime "
                f"(this deployment runs on the {ctx.deployment.runtime} runtime)"
            )
        runtime = ctx.need_runtime(fault.kind)
        if not isinstance(runtime, DockerRuntime):
            raise FaultError(f"fault {fault.name!r}: {fault.kind} needs a DockerRuntime")
        self._runtime = runtime
        self._part = container_target(ctx.deployment, fault.target)
        pod = fault.kind == "network_disconnect"
        self._container = runtime.container_of(ctx.deployment, self._part, pod=pod)
        self._network = runtime.network_of(ctx.deployment)
        self._alias = network_alias(ctx.deployment, self._part)
        self._engine = Engine(runtime.engine.client, FaultError)

    def rollback_entry(self) -> RollbackEntry:
        state_file = self._ctx.state_path
        step: DeploymentStep
        if self.kind == "container_pause":
            step = UnpauseContainer(state_file=state_file, container=self._container)
        elif self.kind == "network_disconnect":
            step = ConnectNetwork(
                state_file=state_file,
                container=self._container,
                network=self._network,
                alias=self._alias,
            )
        else:
            record = self._ctx.deployment.process(self._part)
            step = StartContainer(
                state_file=state_file,
                container=self._container,
                name=self._part,
                ready_url=ProcessSpec.from_record(record).ready_url,
            )
        return RollbackEntry(
            fault=self.name, kind=self.kind, target=self._fault.target, steps=[step]
        )

    def apply(self) -> None:
        if self.kind == "container_kill":
            self._engine.kill(self._container, signal.SIGKILL.name)
        elif self.kind == "container_pause":
            self._engine.pause(self._container)
        elif self.kind == "container_restart":
            self._ctx.restart(self._part)
        else:
            self._engine.disconnect(self._network, self._container)

    def revert(self) -> None:
        if self.kind == "container_kill":
            self._start_again()
        elif self.kind == "container_pause":
            _unpause(self._engine, self._container)
        elif self.kind == "network_disconnect":
            _reconnect(self._engine, self._network, self._container, self._alias)

    def _start_again(self) -> None:
        """Start the killed container and wait until it is ready; the deployment updated."""
        updated = self._runtime.start(self._ctx.deployment, self._part)
        self._ctx.deployment = updated


# --- rollback steps and how to carry them out -------------------------------------------


class StartContainer(DeploymentStep):
    action: Literal["start_container"] = "start_container"
    container: str
    name: str
    ready_url: str

    def describe(self) -> str:
        return f"start container {self.container} (if stopped) and wait until it is ready"


class UnpauseContainer(DeploymentStep):
    action: Literal["unpause_container"] = "unpause_container"
    container: str

    def describe(self) -> str:
        return f"unpause container {self.container}"


class ConnectNetwork(DeploymentStep):
    action: Literal["connect_network"] = "connect_network"
    container: str
    network: str
    alias: str

    def describe(self) -> str:
        return f"connect container {self.container} to network {self.network}"


def docker_engine(tools: StepTools) -> Engine:
    """The Docker engine client the steps of one recovery share."""
    return tools.shared("docker-engine", lambda: Engine(connect(), FaultError))


def start_container(step: StartContainer, tools: StepTools) -> None:
    engine = docker_engine(tools)
    if engine.state(step.container).status == "missing":
        return  # removed: the deployment is gone
    if engine.state(step.container).status != "running":
        engine.start(step.container)
    _wait_ready(step.ready_url, step.container)


def unpause_container(step: UnpauseContainer, tools: StepTools) -> None:
    _unpause(docker_engine(tools), step.container)


def connect_network(step: ConnectNetwork, tools: StepTools) -> None:
    _reconnect(docker_engine(tools), step.network, step.container, step.alias)


START_CONTAINER = StepKind(StartContainer, start_container)
UNPAUSE_CONTAINER = StepKind(UnpauseContainer, unpause_container)
CONNECT_NETWORK = StepKind(ConnectNetwork, connect_network)


def _unpause(engine: Engine, container: str) -> None:
    if engine.state(container).status == "paused":
        engine.unpause(container)


def _reconnect(engine: Engine, network: str, container: str, alias: str) -> None:
    if engine.state(container).status == "missing":
        return
    if network not in engine.networks_of(container):
        engine.connect(network, container, alias)


def _wait_ready(url: str, container: str) -> None:
    if wait_until(lambda: http_ok(url), Deadline.after(READY_TIMEOUT_S), interval=0.2) != "ready":
        raise FaultError(f"container {container} not ready at {url} after {READY_TIMEOUT_S:.0f}s")
