"""What every runtime offers: bring a topology up, report on it, take it down, poke it.

The local runtime runs processes on 127.0.0.1; a docker runtime runs containers and
follows the same protocol, so the harness does not care which one it drives.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.topology import MeshMode


class Runtime(Protocol):
    name: str

    def up(
        self,
        topology_path: str | Path,
        *,
        mode: MeshMode = "mesh",
        otlp_endpoint: str | None = None,
        sidecar_command: Sequence[str] | None = None,
    ) -> Deployment:
        """Start every part of the topology and wait until the mesh serves; or raise DeployError."""
        ...

    def down(self, deployment: Deployment) -> None:
        """Stop every part; nothing of the deployment is left running."""
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
