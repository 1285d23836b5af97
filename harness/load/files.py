"""The files a Locust worker writes: its records (appended, buffered) and its status."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_BUFFER = 1 << 20


class RecordSink:
    """Appends record lines to one file; `flush()` pushes them to the OS (called each second)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = path.open("a", encoding="utf-8", buffering=_BUFFER)

    def write(self, line: str) -> None:
        self._handle.write(line)

    def flush(self) -> None:
        if not self._handle.closed:
            self._handle.flush()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()


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
