"""The runtimes by name: `meshproof up --runtime NAME`, `target.runtime`, and the runtime a
state file was written by (`Deployment.runtime`), so down / status / recover use the same.

`RUNTIMES` deploy a topology file; `external` "deploys" a target file (a mesh someone
else runs, `mesh_runtime.runtimes.external`): an experiment's `target.external` or
`meshproof run --target FILE` chooses it, never `--runtime`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mesh_runtime.errors import DeployError
from mesh_runtime.runtimes.base import Runtime
from mesh_runtime.runtimes.deployment import Deployment, KubernetesPlacement
from mesh_runtime.topology import Topology, load_topology

RUNTIMES = ("local", "docker", "kubernetes")
EXTERNAL = "external"


def _quiet(message: str) -> None:
    """Says nothing."""


def make_runtime(
    name: str,
    *,
    state_root: Path | None = None,
    progress: Callable[[str], None] = _quiet,
    kubernetes: KubernetesPlacement | None = None,
    wait: bool = True,
) -> Runtime:
    """The runtime `name`; `kubernetes` (where `up` deploys) and `wait` (whether `up` waits
    for the pods) are the kubernetes runtime's alone."""
    if name == "local":
        from mesh_runtime.runtimes.local import LocalRuntime

        return LocalRuntime(state_root=state_root, progress=progress)
    if name == "docker":
        from mesh_runtime.runtimes.docker import DockerRuntime

        return DockerRuntime(state_root=state_root, progress=progress)
    if name == "kubernetes":
        from mesh_runtime.runtimes.kubernetes.runtime import KubernetesRuntime

        return KubernetesRuntime(
            state_root=state_root, progress=progress, placement=kubernetes, wait=wait
        )
    if name == EXTERNAL:
        from mesh_runtime.runtimes.external import ExternalRuntime

        return ExternalRuntime(state_root=state_root, progress=progress)
    raise DeployError(f"runtime {name!r} is not available (runtimes: {', '.join(RUNTIMES)})")


def runtime_of(
    deployment: Deployment,
    *,
    state_root: Path | None = None,
    progress: Callable[[str], None] = _quiet,
) -> Runtime:
    """The runtime that made `deployment` (its state file says which)."""
    return make_runtime(deployment.runtime, state_root=state_root, progress=progress)


def deployed_topology(runtime: str, path: str | Path) -> Topology:
    """What `runtime` brings up from `path`, as a topology: the topology file, or for the
    external runtime the target file's call graph (`TargetFile.topology()`)."""
    if runtime == EXTERNAL:
        from mesh_runtime.target import load_target

        return load_target(path).topology()
    return load_topology(path)
