"""What each container sees of the deployment's work dir: the files its process reads or
writes, nothing else. Pure: a role and the plan's files in, mounts out.

The work dir holds every secret of the deployment (the control token, the admin token, the
CA's root key and bootstrap secret, one credential per sidecar). Bound whole into every
container, any of them could read another service's credential and get its certificate;
as Kubernetes mounts a pod its own service account token only, each part gets:

| part          | mounts (the plan's paths, the same on the host and in the container)      |
| ------------- | ------------------------------------------------------------------------- |
| control plane | mesh-config.json, control-token (read-only); ca/ (its root key and the    |
|               | bootstrap secret; it writes the root on first start) and control-plane/   |
|               | (its state file) writable                                                 |
| sidecar       | credentials/<its instance>, admin-token (read-only)                       |
| trace sink    | spans.jsonl (writable)                                                    |
| app, pod,     | nothing                                                                   |
| Toxiproxy     |                                                                           |

The control plane replaces its state file atomically (a temporary file renamed over it),
which a file mount cannot take, so in a container its `--state-file` is moved into a
folder of its own (`state_file_in_container`). A sidecar writes its TLS key and
certificate to a temporary folder of the container, and logs to stdout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mesh_runtime.runtimes.plan import PlanFiles

CONTROL_DIR = "control-plane"
"""The control plane's writable folder in the work dir (its state file)."""


@dataclass(frozen=True)
class Mount:
    """One path of the work dir bound into a container at the same path."""

    path: Path
    writable: bool = False
    directory: bool = False
    """A folder (made before the container starts); else a file that must exist."""


def control_dir(files: PlanFiles) -> Path:
    return files.work_dir / CONTROL_DIR


def state_file_in_container(files: PlanFiles) -> Path:
    """Where the containerised control plane keeps its state file."""
    return control_dir(files) / files.control_state.name


def container_command(role: str, command: tuple[str, ...], files: PlanFiles) -> tuple[str, ...]:
    """The command with the control plane's state file in its own folder; others as given."""
    if role != "control-plane":
        return command
    old, new = str(files.control_state), str(state_file_in_container(files))
    return tuple(new if arg == old else arg for arg in command)


def mounts_of(role: str, instance: str | None, files: PlanFiles) -> tuple[Mount, ...]:
    """The mounts of a container of `role` (`instance`: a sidecar's own instance)."""
    if role == "control-plane":
        return (
            Mount(files.mesh_config),
            Mount(files.control_token),
            Mount(files.ca_dir, writable=True, directory=True),
            Mount(control_dir(files), writable=True, directory=True),
        )
    if role == "sidecar":
        if instance is None:
            raise ValueError("a sidecar's mounts need its instance")
        return (Mount(files.credential(instance)), Mount(files.admin_token))
    if role == "trace-sink":
        return (Mount(files.spans, writable=True),)
    return ()


def binds(mounts: tuple[Mount, ...]) -> dict[str, dict[str, str]]:
    """The Docker API's `binds` of `mounts` (same path inside, `ro` unless writable)."""
    return {
        str(m.path): {"bind": str(m.path), "mode": "rw" if m.writable else "ro"} for m in mounts
    }
