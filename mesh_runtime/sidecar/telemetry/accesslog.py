"""The sidecar's JSON access log: one line per request, Envoy's fields and names.

Lines are buffered in memory and written in one `write` when a second has passed since
the last write (checked on every line and on `tick()`, which the sidecar calls from a
timer so that lines never wait long when traffic stops), when the buffer is full, and on
`close()`. The disk is touched about once a second with one write to the page cache, so
the event loop never waits on it for long. Without a path nothing is formatted or written.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from mesh_runtime.errors import InvalidInput

Direction = Literal["inbound", "outbound"]


@dataclass(frozen=True, slots=True)
class AccessLogEntry:
    """One request as the sidecar saw it; None fields are written as null."""

    start_time: float
    """Wall-clock time the request arrived, seconds since the epoch."""
    method: str
    path: str
    direction: Direction
    response_code: int
    """0 when no response was sent (Envoy's convention)."""
    duration_ms: float
    response_flags: str = "-"
    protocol: str = "HTTP/1.1"
    bytes_received: int = 0
    bytes_sent: int = 0
    upstream_host: str | None = None
    upstream_cluster: str | None = None
    route_name: str | None = None
    attempts: int = 1
    trace_id: str | None = None
    downstream_remote_address: str | None = None
    downstream_peer_principal: str | None = None
    """The caller's SPIFFE ID when it came over mTLS (inbound)."""


def format_start_time(epoch_s: float) -> str:
    """Envoy's START_TIME: ISO 8601 UTC with milliseconds, '2026-11-27T15:31:31.123Z'."""
    millis = int(epoch_s * 1000)
    seconds, ms = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


def format_line(entry: AccessLogEntry) -> str:
    """One JSON object with Envoy's field names, newline-terminated."""
    record: dict[str, Any] = {
        "start_time": format_start_time(entry.start_time),
        "method": entry.method,
        "path": entry.path,
        "protocol": entry.protocol,
        "response_code": entry.response_code,
        "response_flags": entry.response_flags,
        "bytes_received": entry.bytes_received,
        "bytes_sent": entry.bytes_sent,
        "duration_ms": round(entry.duration_ms, 3),
        "upstream_host": entry.upstream_host,
        "upstream_cluster": entry.upstream_cluster,
        "route_name": entry.route_name,
        "attempts": entry.attempts,
        "trace_id": entry.trace_id,
        "downstream_remote_address": entry.downstream_remote_address,
        "direction": entry.direction,
        "downstream_peer_principal": entry.downstream_peer_principal,
    }
    return json.dumps(record, separators=(",", ":")) + "\n"


class AccessLog:
    """Buffered JSON-lines writer; a no-op when `path` is None."""

    def __init__(
        self,
        path: str | Path | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        flush_interval_s: float = 1.0,
        max_buffered_lines: int = 10_000,
    ) -> None:
        self._clock = clock
        self._interval = flush_interval_s
        self._max_lines = max_buffered_lines
        self._buffer: list[str] = []
        self._last_flush = clock()
        self.dropped = 0
        """Lines lost because the file could not be written."""
        self._file: IO[str] | None = None
        if path is not None:
            try:
                self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise InvalidInput(
                    str(path), "", f"cannot open access log: {exc.strerror}"
                ) from None

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def log(self, entry: AccessLogEntry) -> None:
        """Buffer one line; writes the buffer out if a second has passed or it is full."""
        if self._file is None:
            return
        self._buffer.append(format_line(entry))
        if (
            len(self._buffer) >= self._max_lines
            or self._clock() - self._last_flush >= self._interval
        ):
            self.flush()

    def tick(self) -> None:
        """Write buffered lines if a second has passed; call it from a periodic timer."""
        if self._buffer and self._clock() - self._last_flush >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Write every buffered line now; a write error drops them and counts `dropped`."""
        self._last_flush = self._clock()
        if self._file is None or not self._buffer:
            return
        lines, self._buffer = self._buffer, []
        try:
            self._file.write("".join(lines))
            self._file.flush()
        except OSError:
            self.dropped += len(lines)

    def close(self) -> None:
        """Write what is buffered and close the file; later lines are ignored."""
        if self._file is None:
            return
        self.flush()
        file, self._file = self._file, None
        with contextlib.suppress(OSError):
            file.close()
