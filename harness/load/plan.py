"""What the driver hands to the Locust processes: one JSON file, the `LoadPlan`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from harness.spec.load import LoadSpec
from mesh_runtime.target import IngressAccess

GRACE_S = 2.0
"""Beyond the hard deadline, time for a process to flush its files and exit."""
SLOW_START_ENV = "MESHPROOF_TEST_WORKER_START_DELAY_S"
"""Test hook: a Locust worker started with this set (seconds) waits that long before it
connects to its master, as a worker on an overloaded host comes up late."""


class LoadPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: LoadSpec
    target_url: str
    work_dir: Path
    """The master's load directory (a worker writes nothing: `harness.load.transport`)."""
    t0: float | None
    """Wall-clock time (`time.time()`) the schedule starts at; None: the master picks it
    once every worker is ready, and tells the workers."""
    parent_pid: int
    """The orchestrator; the master (and the workers it starts itself) exit when it is
    gone. A worker of another machine (`meshproof load-worker`) has no such parent."""
    ingress: IngressAccess | None = None
    """Host header, extra headers and TLS of the ingress; None: plain `target_url`."""
    tcp_targets: dict[str, str] = {}
    """tcp service -> host:port its TCP routes connect to (`Deployment.tcp_ingress`)."""
    grpc_targets: dict[str, str] = {}
    """grpc service -> host:port its gRPC routes call (`Deployment.grpc_ingress`)."""

    def deadline(self, t0: float) -> float:
        """Wall-clock time by which every request has been sent and answered or timed out."""
        return t0 + self.spec.total_duration + self.spec.timeout

    def as_json(self, indent: int | None = None) -> str:
        """The plan as the Locust processes get it: fields at their defaults left out, so
        the processes of an earlier revision (a benchmark's baseline, `LoadDriver(source=)`)
        read a plan that differs from theirs only in options they do not have, at their
        defaults."""
        return self.model_dump_json(indent=indent, exclude_defaults=True)

    def write(self, path: Path) -> None:
        path.write_text(self.as_json(indent=2), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> LoadPlan:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))
