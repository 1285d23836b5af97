"""Process faults through the runtime: kill, pause, restart, rolling restart, control plane
outage. The runtime checks a pid's create_time before it signals it, and restarts a
process with the command line and ports it was started with, waiting until it is ready."""

from __future__ import annotations

import signal
from typing import Any

from harness.errors import FaultError
from harness.faults import rollback
from harness.faults.base import FaultContext, Injector
from harness.faults.targets import process_name, sidecars_for
from harness.spec.faults import (
    ContainerFault,
    ControlPlaneOutageFault,
    ProcessFault,
    RollingRestartFault,
)
from mesh_runtime.runtimes.deployment import ProcessRecord


class _ProcessFault:
    kind = ""

    def __init__(self, name: str, target: str, process: str, ctx: FaultContext) -> None:
        self.name = name
        self._target = target
        self._process = process
        self._ctx = ctx
        ctx.need_runtime(self.kind)

    def rollback_entry(self) -> dict[str, Any]:
        step = rollback.ensure_running(self._ctx.state_path, self._process)
        return rollback.entry(self.name, self.kind, self._target, [step])


class ProcessKillInjector(_ProcessFault):
    """SIGKILL (no drain, no goodbye); revert starts it again and waits until it is ready."""

    kind = "process_kill"

    def __init__(self, fault: ProcessFault, ctx: FaultContext) -> None:
        super().__init__(fault.name, fault.target, process_name(ctx.deployment, fault.target), ctx)

    def apply(self) -> None:
        self._ctx.signal(self._process, signal.SIGKILL)

    def revert(self) -> None:
        self._ctx.restart(self._process)


class ControlPlaneOutageInjector(ProcessKillInjector):
    """The control plane killed; sidecars keep serving with their last good config."""

    kind = "control_plane_outage"

    def __init__(self, fault: ControlPlaneOutageFault, ctx: FaultContext) -> None:
        _ProcessFault.__init__(
            self, fault.name, fault.target, process_name(ctx.deployment, "control-plane"), ctx
        )


class ProcessPauseInjector(_ProcessFault):
    """SIGSTOP: the process holds its connections and answers nothing; SIGCONT resumes it."""

    kind = "process_pause"

    def __init__(self, fault: ProcessFault, ctx: FaultContext) -> None:
        super().__init__(fault.name, fault.target, process_name(ctx.deployment, fault.target), ctx)
        self._paused: ProcessRecord | None = None

    @property
    def _record(self) -> ProcessRecord:
        """The process as it runs when the fault begins (a restart since changes the pid)."""
        if self._paused is None:
            self._paused = self._ctx.deployment.process(self._process)
        return self._paused

    def rollback_entry(self) -> dict[str, Any]:
        record = self._record
        step = rollback.resume_process(
            self._ctx.state_path, record.name, record.pid, record.create_time
        )
        return rollback.entry(self.name, self.kind, self._target, [step])

    def apply(self) -> None:
        self._ctx.signal(self._process, signal.SIGSTOP)

    def revert(self) -> None:
        rollback.resume_pid(self._record.pid, self._record.create_time)


class ProcessRestartInjector(_ProcessFault):
    """A graceful restart through the runtime; nothing to revert. On the local runtime a
    sidecar restarts hot (the new process ready on the same ports, then the old one drains),
    any other process stops (SIGTERM) and starts again."""

    kind = "process_restart"

    def __init__(self, fault: ProcessFault, ctx: FaultContext) -> None:
        super().__init__(fault.name, fault.target, process_name(ctx.deployment, fault.target), ctx)

    def apply(self) -> None:
        self._ctx.restart(self._process)

    def revert(self) -> None:
        """A restart is over when apply() returns."""


class RollingRestartInjector:
    """Sidecars restarted one at a time, `interval` apart, each through the runtime's
    restart before the next: the shape of a mesh upgrade. On the local runtime that is a hot
    restart, as Envoy's: the new sidecar takes over the ports (SO_REUSEPORT) and answers
    ready before the old one is SIGTERMed and drains, so even a single replica's sidecar
    is never gone. Nothing to revert."""

    def __init__(self, fault: RollingRestartFault, ctx: FaultContext) -> None:
        self.name = fault.name
        self._fault = fault
        self._ctx = ctx
        ctx.need_runtime("rolling_restart")
        self._sidecars = sidecars_for(ctx.deployment, fault.target)
        self.restarted: list[str] = []

    def rollback_entry(self) -> dict[str, Any]:
        steps = [rollback.ensure_running(self._ctx.state_path, name) for name in self._sidecars]
        return rollback.entry(self.name, "rolling_restart", self._fault.target, steps)

    def apply(self) -> None:
        for index, name in enumerate(self._sidecars):
            if self._ctx.stop.is_set():
                return
            if index and self._ctx.stop.wait(self._fault.params.interval):
                return
            self._ctx.restart(name)
            self.restarted.append(name)

    def revert(self) -> None:
        """Every sidecar is back when apply() returns."""


def container_fault(fault: ContainerFault, ctx: FaultContext) -> Injector:
    """Container faults belong to the docker runtime; on any other runtime they are refused."""
    runtime = ctx.deployment.runtime
    if runtime != "docker":
        raise FaultError(
            f"fault {fault.name!r}: {fault.kind} needs the docker runtime "
            f"(this deployment runs on the {runtime} runtime)"
        )
    raise FaultError(f"fault {fault.name!r}: {fault.kind} is not supported by harness.faults yet")
