"""What every resource sampler shares: a thread that samples every interval, the rows kept
in memory and appended (JSON lines) to a file as they come.

A sampler says how to read its processes once (`sample`); psutil for local processes
(`harness.observe.resources`), the engine's stats API for containers
(`mesh_runtime.runtimes.docker.stats`). Both make rows of the resources table.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any

from mesh_runtime.errors import MeshproofError

COLUMNS = ["t_s", "role", "name", "pid", "cpu_s", "cpu_cores", "rss_mb"]
"""The resources table's columns."""
MB = 1024 * 1024


class PeriodicSampler(ABC):
    """Calls `sample` every `interval` s in a thread between `start` and `stop`."""

    thread_name = "sampler"
    open_error: type[MeshproofError] = MeshproofError
    """Raised (with the file and the reason) when `out` cannot be opened."""

    def __init__(self, *, interval: float, out: Path | None) -> None:
        self._interval = interval
        self._out_path = out
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._out: IO[str] | None = None

    @abstractmethod
    def sample(self) -> list[dict[str, Any]]:
        """Read every process once; record and return the new rows."""

    def start(self) -> None:
        """Take the first reading of every process, then sample in a background thread."""
        if self._out_path is not None:
            try:
                self._out = self._out_path.open("a", encoding="utf-8")
            except OSError as exc:
                raise self.open_error(f"{self._out_path}: cannot write samples: {exc}") from exc
        self._prime()
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling (after one last sample) and close the output file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval * 5 + 5)
            self._thread = None
        if self._out is not None:
            self._out.close()
            self._out = None
        self._close()

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._rows)

    def frame(self) -> Any:
        """The resources table so far (a pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=COLUMNS)

    def _prime(self) -> None:
        """The first reading, before the thread starts."""
        self.sample()

    def _close(self) -> None:  # noqa: B027  (a hook: most samplers hold nothing)
        """Release what sampling held, after the last sample."""

    def _record(self, new: list[dict[str, Any]]) -> None:
        if not new:
            return
        with self._lock:
            self._rows.extend(new)
            if self._out is not None:
                self._out.write("".join(json.dumps(r) + "\n" for r in new))
                self._out.flush()

    def _loop(self) -> None:
        next_at = time.monotonic() + self._interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            self.sample()
            next_at += self._interval
            if next_at < time.monotonic():  # fell behind (a stalled machine): do not burst
                next_at = time.monotonic() + self._interval
        self.sample()
