"""The control plane's durable state: the current MeshConfig, rewritten on every change.

A control plane restarted with the same command line (as the harness's process faults do)
resumes from its state, at the same version and with every policy change made so far,
instead of going back to the initial config that sidecars have long moved past.

`DurableState` is the one interface (load, save); `FileState` keeps it in a file (the
local and docker runtimes, `--state-file`), `state_configmap.ConfigMapState` in a
ConfigMap (the kubernetes runtime, `--state-configmap`), where a new pod finds it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.validation import load_model


class DurableState(Protocol):
    """Where the control plane's current config outlives its process."""

    def load(self) -> MeshConfig | None:
        """The saved config, or None when nothing was saved yet."""
        ...

    def save(self, config: MeshConfig) -> None:
        """Keep `config` as the current one (replacing what was saved)."""
        ...


class FileState:
    """The state in a file, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> MeshConfig | None:
        return load_state(self.path)

    def save(self, config: MeshConfig) -> None:
        save_state(self.path, config)


def load_state(path: Path) -> MeshConfig | None:
    """The saved config, or None when there is no state file yet."""
    if not path.exists():
        return None
    return load_model(path, MeshConfig)


def save_state(path: Path, config: MeshConfig) -> None:
    """Write `config` to `path` atomically (a reader sees the old or the new file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(config.model_dump_json(indent=1))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
