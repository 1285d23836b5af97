"""The run's event log: what the engine did and when (the `events` table)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pandas as pd

COLUMNS = ("t_s", "kind", "name", "detail")


class EventLog:
    """Rows `t_s, kind, name, detail`, seconds since `t0`; safe to add from any thread.

    `t0` may be set later (the timeline starts after the deployment is up).
    """

    def __init__(self, t0: float, clock: Callable[[], float] = time.time) -> None:
        self.t0 = t0
        self._clock = clock
        self._rows: list[dict[str, object]] = []
        self._lock = threading.Lock()

    def now_s(self) -> float:
        return self._clock() - self.t0

    def add(self, kind: str, name: str, detail: str = "") -> float:
        """Record an event now; returns its time in seconds since t0."""
        at = self._clock()
        with self._lock:
            self._rows.append({"at": at, "kind": kind, "name": name, "detail": detail})
        return at - self.t0

    def frame(self) -> pd.DataFrame:
        """The events table; times from the current `t0` (events before it are negative)."""
        with self._lock:
            rows = [{**row, "t_s": float(row["at"]) - self.t0} for row in self._rows]  # type: ignore[arg-type]
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
        return frame.astype(
            {"t_s": "float64", "kind": "string", "name": "string", "detail": "string"}
        )
