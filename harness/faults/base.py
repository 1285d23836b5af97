"""What every injector is, and the context it works in.

The engine drives an injector in this order, so that a fault is on the ledger before it
touches anything:

    entry = injector.rollback_entry()   # reads the state to restore (policy, behaviour)
    ledger.begin(fault.name, entry)
    injector.apply()
    ...                                 # the fault's duration
    injector.revert()
    ledger.done(fault.name)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from harness.errors import FaultError
from harness.faults.steps import RollbackEntry
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.runtimes import deployment as state
from mesh_runtime.runtimes.base import Runtime
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient


class Injector(Protocol):
    """One fault, applied and reverted; its rollback is typed steps (harness.faults.steps)."""

    name: str

    def rollback_entry(self) -> RollbackEntry:
        """How to undo this fault with nothing but the entry; call before apply()."""
        ...

    def apply(self) -> None: ...

    def revert(self) -> None: ...


@dataclass
class FaultContext:
    """What injectors act through. `deployment` is kept current: a restart through
    `restart()` replaces it with the runtime's updated handle (new pids)."""

    deployment: Deployment
    runtime: Runtime | None = None
    control: ControlPlaneClient | None = None
    toxiproxy: ToxiproxyClient | None = None
    state_file: Path | None = None
    """The deployment's state file; derived from its work dir when not given."""
    push_timeout: float = 10.0
    """How long a policy change may take to reach every sidecar."""
    ready_timeout: float = 30.0
    stop: threading.Event = field(default_factory=threading.Event)
    """Set to cut a long fault (a rolling restart) short."""
    run: str = ""
    """The run's id (its report folder's name): Kubernetes faults mark what they change with it."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.state_file is None:
            root = Path(self.deployment.work_dir).parent.parent
            self.state_file = state.state_file(root, self.deployment.name)

    @property
    def state_path(self) -> Path:
        assert self.state_file is not None  # set in __post_init__
        return self.state_file

    def need_runtime(self, kind: str) -> Runtime:
        if self.runtime is None:
            raise FaultError(f"{kind} needs the deployment's runtime")
        return self.runtime

    def need_control(self, kind: str) -> ControlPlaneClient:
        if self.control is None or self.deployment.control_url is None:
            raise FaultError(f"{kind} needs the control plane (a mesh-mode deployment)")
        return self.control

    def need_toxiproxy(self, kind: str) -> ToxiproxyClient:
        if self.toxiproxy is None or self.deployment.toxiproxy_url is None:
            raise FaultError(f"{kind} needs the deployment's Toxiproxy server")
        return self.toxiproxy

    def restart(self, name: str) -> Deployment:
        """Restart process `name` through the runtime and wait until it is ready."""
        runtime = self.need_runtime("restarting a process")
        with self._lock:
            current = self.deployment
        updated = runtime.restart(current, name)
        with self._lock:
            self.deployment = updated
        return updated

    def signal(self, name: str, sig: int) -> None:
        self.need_runtime("signalling a process").signal(self.deployment, name, sig)

    def sidecar_instances(self) -> list[str]:
        """Instances whose sidecars must see a policy change."""
        return [r.instance for r in self.deployment.instances if r.admin_port is not None]


F = TypeVar("F")


def per_runtime(
    elsewhere: Callable[[F, FaultContext], Injector],
    kubernetes: Callable[[F, FaultContext], Injector],
) -> Callable[[F, FaultContext], Injector]:
    """An injector factory that builds `kubernetes` on the kubernetes runtime's deployment
    (not an external target's) and `elsewhere` on every other runtime."""

    def make(fault: F, ctx: FaultContext) -> Injector:
        on_kubernetes = ctx.deployment.kubernetes is not None and ctx.deployment.target is None
        return (kubernetes if on_kubernetes else elsewhere)(fault, ctx)

    return make
