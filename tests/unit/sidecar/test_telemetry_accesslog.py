"""JSON access log: line format, buffering by a fake clock, flush on close, no-op without path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mesh_runtime.errors import InvalidInput
from mesh_runtime.sidecar.telemetry.accesslog import (
    AccessLog,
    AccessLogEntry,
    format_line,
    format_start_time,
)

FIELDS = [
    "start_time",
    "method",
    "path",
    "protocol",
    "response_code",
    "response_flags",
    "bytes_received",
    "bytes_sent",
    "duration_ms",
    "upstream_host",
    "upstream_cluster",
    "route_name",
    "attempts",
    "trace_id",
    "downstream_remote_address",
    "direction",
    "downstream_peer_principal",
]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def entry(**overrides: object) -> AccessLogEntry:
    fields: dict[str, object] = {
        "start_time": 1_700_000_000.25,
        "method": "GET",
        "path": "/items/1",
        "direction": "outbound",
        "response_code": 200,
        "duration_ms": 3.14159,
        "bytes_received": 10,
        "bytes_sent": 1024,
        "upstream_host": "127.0.0.1:9001",
        "upstream_cluster": "catalog",
        "route_name": "default",
        "attempts": 2,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "downstream_remote_address": "127.0.0.1:50000",
        "response_flags": "URX",
    }
    fields.update(overrides)
    return AccessLogEntry(**fields)  # type: ignore[arg-type]


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_line_has_envoy_fields_in_order() -> None:
    """A line is one JSON object with Envoy's field names, in a fixed order."""
    line = format_line(entry())
    assert line.endswith("\n") and line.count("\n") == 1
    record = json.loads(line)
    assert list(record) == FIELDS
    assert record["start_time"] == "2023-11-14T22:13:20.250Z"
    assert record["duration_ms"] == 3.142
    assert record["response_flags"] == "URX"
    assert record["attempts"] == 2
    assert record["direction"] == "outbound"


def test_missing_values_are_null() -> None:
    """Fields the sidecar does not know are written as null."""
    record = json.loads(format_line(AccessLogEntry(0.0, "GET", "/", "inbound", 0, 0.5)))
    assert record["upstream_host"] is None
    assert record["trace_id"] is None
    assert record["response_code"] == 0
    assert record["response_flags"] == "-"


def test_start_time_is_utc_with_milliseconds() -> None:
    """START_TIME is ISO 8601 UTC with three fraction digits."""
    assert format_start_time(0.0) == "1970-01-01T00:00:00.000Z"
    assert format_start_time(1.9995) == "1970-01-01T00:00:01.999Z"


def test_lines_are_buffered_until_a_second_passes(tmp_path: Path) -> None:
    """Lines stay in memory within a second and are written once it has passed."""
    clock = FakeClock()
    path = tmp_path / "access.log"
    log = AccessLog(path, clock=clock)
    log.log(entry(path="/a"))
    clock.now += 0.5
    log.log(entry(path="/b"))
    assert path.read_text() == ""
    clock.now += 0.6
    log.log(entry(path="/c"))
    assert [r["path"] for r in read_lines(path)] == ["/a", "/b", "/c"]
    log.close()


def test_tick_writes_lines_when_traffic_stops(tmp_path: Path) -> None:
    """tick() writes lines older than a second even with no new request."""
    clock = FakeClock()
    path = tmp_path / "access.log"
    log = AccessLog(path, clock=clock)
    log.log(entry())
    log.tick()
    assert path.read_text() == ""
    clock.now += 1.0
    log.tick()
    assert len(read_lines(path)) == 1
    log.close()


def test_full_buffer_is_written_at_once(tmp_path: Path) -> None:
    """Reaching the line limit writes the buffer without waiting for the second."""
    path = tmp_path / "access.log"
    log = AccessLog(path, clock=FakeClock(), max_buffered_lines=3)
    for _ in range(3):
        log.log(entry())
    assert len(read_lines(path)) == 3
    log.close()


def test_close_writes_the_rest_and_later_lines_are_ignored(tmp_path: Path) -> None:
    """close() writes buffered lines; logging after close writes nothing."""
    path = tmp_path / "access.log"
    log = AccessLog(path, clock=FakeClock())
    log.log(entry())
    log.close()
    log.log(entry())
    log.close()
    assert len(read_lines(path)) == 1


def test_log_appends_to_an_existing_file(tmp_path: Path) -> None:
    """A restarted sidecar appends to its log rather than truncating it."""
    path = tmp_path / "access.log"
    for _ in range(2):
        log = AccessLog(path, clock=FakeClock())
        log.log(entry())
        log.close()
    assert len(read_lines(path)) == 2


def test_no_path_writes_nothing(tmp_path: Path) -> None:
    """Without a path the log is disabled and creates no file."""
    log = AccessLog(None)
    assert not log.enabled
    log.log(entry())
    log.flush()
    log.close()
    assert list(tmp_path.iterdir()) == []


def test_unopenable_path_is_one_clear_error(tmp_path: Path) -> None:
    """A path in a missing directory fails at start with the path in the message."""
    bad = tmp_path / "missing" / "access.log"
    with pytest.raises(InvalidInput, match="cannot open access log"):
        AccessLog(bad)
