"""Corrected-latency arithmetic and the JSON-lines form of a request record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pandas.api.types import is_float_dtype, is_integer_dtype, is_string_dtype

from harness.analysis.records import read_requests
from harness.load.records import (
    Record,
    error_text,
    is_failure,
    iter_worker_records,
    latencies_ms,
)
from harness.load.schema import RECORD_COLUMNS, REQUEST_RECORD


def test_on_time_request_has_equal_latencies() -> None:
    """Sent at its intended time, a request's corrected latency equals its service time."""
    assert latencies_ms(1.0, 1.0, 1.012) == pytest.approx((12.0, 12.0))


def test_late_send_adds_the_wait_to_the_corrected_latency_only() -> None:
    """Sent 490 ms late (no free connection), 10 ms service: corrected 500 ms, latency 10 ms."""
    latency, corrected = latencies_ms(2.0, 2.49, 2.5)
    assert latency == pytest.approx(10.0)
    assert corrected == pytest.approx(500.0)


def test_early_send_never_makes_corrected_smaller_than_latency() -> None:
    """Timer slop that sends a hair early leaves corrected == latency, not less."""
    latency, corrected = latencies_ms(1.0005, 1.0, 1.01)
    assert corrected == pytest.approx(latency) == pytest.approx(10.0)


@pytest.mark.parametrize(("status", "failed"), [(0, True), (200, False), (404, False), (503, True)])
def test_failures_are_no_answer_or_5xx(status: int, failed: bool) -> None:
    """No response and 5xx count as errors, 4xx does not (as the error_rate SLO says)."""
    assert is_failure(status) is failed


def test_json_line_holds_every_column_and_escapes_text(tmp_path: Path) -> None:
    """A record's line is valid JSON with the requests-table columns, text escaped."""
    record = Record.of(
        0.5,
        0.501,
        0.521,
        status=0,
        nbytes=0,
        route='we"ird',
        method="POST",
        trace_id="ab" * 16,
        error='ConnectionRefusedError: [Errno 111] "refused"',
    )
    line = record.json_line()
    assert line.endswith("\n")
    row = json.loads(line)
    assert tuple(row) == RECORD_COLUMNS
    assert row["route"] == 'we"ird'
    assert row["latency_ms"] == pytest.approx(20.0)
    assert row["corrected_ms"] == pytest.approx(21.0)
    path = tmp_path / "r.jsonl"
    path.write_text(line + line[:-10])  # a torn last line, as after a crash
    assert list(iter_worker_records(path)) == [row]


def test_record_fields_are_the_schema_columns() -> None:
    """Record holds exactly the schema's columns, in order: what json_line writes and the
    analysis reads (harness.load.schema) cannot drift apart."""
    assert Record._fields == RECORD_COLUMNS


def test_json_line_is_read_back_with_the_schema_types(tmp_path: Path) -> None:
    """A line json_line wrote is read by the analysis into every column, typed by the schema."""
    record = Record.of(1.25, 1.2500004, 1.2625, status=503, nbytes=12, route="r", method="GET",
                       trace_id="cd" * 16, error="")  # fmt: skip
    path = tmp_path / "requests-w0.jsonl"
    path.write_text(record.json_line() + record.json_line(), encoding="utf-8")
    frame = read_requests([path])
    assert tuple(frame.columns) == RECORD_COLUMNS
    typed = {"float64": is_float_dtype, "int64": is_integer_dtype, "string": is_string_dtype}
    assert all(typed[column.kind](frame[column.name]) for column in REQUEST_RECORD)
    row = frame.iloc[0]
    assert (row["status"], row["bytes"], row["trace_id"]) == (503, 12, "cd" * 16)
    assert row["sent_s"] == pytest.approx(1.25, abs=1e-6)
    assert row["latency_ms"] == pytest.approx(12.5, abs=1e-3)


def test_error_text_names_timeouts_and_keeps_other_errors_short() -> None:
    """Timeouts (the socket's, or a message saying so) read 'timeout'; others their type."""
    assert error_text(TimeoutError("timed out")) == "timeout"
    assert error_text(OSError("connect timed out")) == "timeout"
    assert error_text(ConnectionRefusedError(111, "Connection refused")).startswith(
        "ConnectionRefusedError: "
    )
    assert len(error_text(ValueError("x" * 1000))) == 200
    assert error_text(None) == "no response"
