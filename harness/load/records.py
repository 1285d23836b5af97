"""One row per request: the timing arithmetic and the JSON-lines form of the records.

Times are seconds since `t0`. `latency_ms` runs from the actual send to the end of the
answer (service time); `corrected_ms` from the *intended* send, so that a request that had
to wait for a free connection, because the target stalled, carries that wait, as wrk2
corrects for coordinated omission. A request is never sent before its intended time, so
`corrected_ms >= latency_ms`; a send a hair early (timer granularity) does not make the
corrected latency smaller than the service time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from harness.load.schema import json_line


def latencies_ms(intended_s: float, sent_s: float, done_s: float) -> tuple[float, float]:
    """`(latency_ms, corrected_ms)`: from the actual send and from the intended send."""
    latency = (done_s - sent_s) * 1000.0
    corrected = (done_s - min(intended_s, sent_s)) * 1000.0
    return latency, corrected


def is_failure(status: int) -> bool:
    """A failed request: no answer (status 0) or a 5xx, as the `error_rate` SLO counts it."""
    return status == 0 or status >= 500


def error_text(error: BaseException | None) -> str:
    """The `error` column for a request without an answer: 'timeout', or the error, short."""
    if error is None:
        return "no response"
    if isinstance(error, TimeoutError):
        return "timeout"
    text = str(error).strip()
    if "timed out" in text:
        return "timeout"
    return f"{type(error).__name__}: {text}"[:200] if text else type(error).__name__


class Record(NamedTuple):
    """One request; its fields are `harness.load.schema.RECORD_COLUMNS`, in that order.

    A named tuple: a worker makes one a request, and a frozen dataclass's `__init__`
    (`object.__setattr__` a field) cost twice as much."""

    intended_s: float
    sent_s: float
    latency_ms: float
    corrected_ms: float
    status: int
    bytes: int
    route: str
    method: str
    trace_id: str
    error: str

    @classmethod
    def of(
        cls,
        intended_s: float,
        sent_s: float,
        done_s: float,
        *,
        status: int,
        nbytes: int,
        route: str,
        method: str,
        trace_id: str,
        error: str = "",
    ) -> Record:
        latency, corrected = latencies_ms(intended_s, sent_s, done_s)
        return cls(
            intended_s, sent_s, latency, corrected, status, nbytes, route, method, trace_id, error
        )

    def json_line(self) -> str:
        """The record as one JSON object and a newline (microsecond resolution)."""
        return json_line(self)


def iter_worker_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of one worker's file, as dicts, one at a time (a torn last line is skipped)."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.endswith("\n"):
                yield json.loads(line)
