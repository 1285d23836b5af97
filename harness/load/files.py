"""Small JSON state files of the load: replaced atomically, read without tearing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_status(path: Path, status: dict[str, Any]) -> None:
    """Replace the status file atomically, so a reader never sees half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(status), encoding="utf-8")
    os.replace(tmp, path)


def read_status(path: Path) -> dict[str, Any] | None:
    """The last status a worker wrote, or None if there is none (yet)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def master_port(state_path: Path) -> int | None:
    """The port in the Locust master's state file, once it listens (None before)."""
    state = read_status(state_path)
    return int(state["port"]) if state and "port" in state else None
