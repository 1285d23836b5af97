"""Process faults through the runtime: kill, pause, restart, rolling restart, control plane
outage. The runtime checks a pid's create_time before it signals it, and restarts a
process with the command line and ports it was started with, waiting until it is ready.

Rollback steps: `ensure_running` (start the process again through its runtime if its
recorded pid no longer runs) and `resume_process` (SIGCONT, only if the pid is still the
paused process)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Literal

import psutil

from harness.errors import FaultError
from harness.faults.base import FaultContext
from harness.faults.steps import DeploymentStep, RollbackEntry, StepKind, StepTools
from harness.faults.targets import process_name, sidecars_for
from harness.spec.faults import ControlPlaneOutageFault, ProcessFault, RollingRestartFault
from mesh_runtime.runtimes import deployment as state
from mesh_runtime.runtimes.deployment import ProcessRecord
from mesh_runtime.runtimes.supervisor import is_running


class EnsureRunning(DeploymentStep):
    action: Literal["ensure_running"] = "ensure_running"
    name: str

    def describe(self) -> str:
        return f"make sure {self.name} runs"


class ResumeProcess(DeploymentStep):
    action: Literal["resume_process"] = "resume_process"
    name: str
    pid: int
    create_time: float

    def describe(self) -> str:
        return f"SIGCONT {self.name} (pid {self.pid})"


def ensure_running(step: EnsureRunning, tools: StepTools) -> None:
    record = state.load(step.state_file).process(step.name)
    if not is_running(record):
        tools.restart(step.state_file, step.name)


def resume_process(step: ResumeProcess, tools: StepTools) -> None:
    resume_pid(step.pid, step.create_time)


ENSURE_RUNNING = StepKind(EnsureRunning, ensure_running)
RESUME_PROCESS = StepKind(ResumeProcess, resume_process)


class _ProcessFault:
    kind = ""

    def __init__(self, name: str, target: str, process: str, ctx: FaultContext) -> None:
        self.name = name
        self._target = target
        self._process = process
        self._ctx = ctx
        ctx.need_runtime(self.kind)

    def rollback_entry(self) -> RollbackEntry:
        step = EnsureRunning(state_file=self._ctx.state_path, name=self._process)
        return RollbackEntry(fault=self.name, kind=self.kind, target=self._target, steps=[step])


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

    def rollback_entry(self) -> RollbackEntry:
        record = self._record
        step = ResumeProcess(
            state_file=self._ctx.state_path,
            name=record.name,
            pid=record.pid,
            create_time=record.create_time,
        )
        return RollbackEntry(fault=self.name, kind=self.kind, target=self._target, steps=[step])

    def apply(self) -> None:
        self._ctx.signal(self._process, signal.SIGSTOP)

    def revert(self) -> None:
        resume_pid(self._record.pid, self._record.create_time)


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

    def rollback_entry(self) -> RollbackEntry:
        steps = [EnsureRunning(state_file=self._ctx.state_path, name=n) for n in self._sidecars]
        return RollbackEntry(
            fault=self.name, kind="rolling_restart", target=self._fault.target, steps=steps
        )

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


def resume_pid(pid: int, create_time: float) -> None:
    """SIGCONT `pid`'s process group, but only if it is still the process that was paused."""
    try:
        process = psutil.Process(pid)
        if abs(process.create_time() - create_time) > 0.05:
            return  # the pid was reused: the paused process is long gone
    except psutil.NoSuchProcess:
        return
    except psutil.Error as exc:
        raise FaultError(f"pid {pid}: cannot inspect: {exc}") from exc
    try:
        os.killpg(pid, signal.SIGCONT)
    except ProcessLookupError:
        return
    except PermissionError as exc:
        raise FaultError(f"pid {pid}: cannot SIGCONT: {exc}") from exc


def restart_from_state_file(state_file: Path, name: str) -> None:
    """Start process `name` again through the runtime its deployment's state file names."""
    from mesh_runtime.runtimes.registry import runtime_of  # runtimes import much; only here

    deployment = state.load(state_file)
    # The runtime finds the state file from its root: <root>/deployments/<topology>.json.
    # A docker deployment is restarted by the docker runtime (its state file says which).
    runtime_of(deployment, state_root=state_file.parent.parent).restart(deployment, name)
