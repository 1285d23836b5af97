"""Spans read from the trace sink's JSON-lines file."""

from __future__ import annotations

import json
from pathlib import Path

from harness.observe.traces import read_spans


def _span(span_id: str, start_s: float, parent: str = "") -> dict[str, object]:
    return {
        "trace_id": "ab" * 16,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": "GET /",
        "kind": "SERVER",
        "service": "catalog",
        "instance": "catalog-0",
        "start_ns": int(start_s * 1e9),
        "end_ns": int(start_s * 1e9) + 1000,
        "status_code": "UNSET",
        "attributes": {"http.status_code": 200},
    }


def test_spans_from_t0_on_with_a_torn_last_line(tmp_path: Path) -> None:
    """Spans before t0 and a half-written last line are left out; the rest are rows."""
    path = tmp_path / "spans.jsonl"
    lines = [json.dumps(_span("01" * 8, 99.0)), json.dumps(_span("02" * 8, 101.0, "01" * 8))]
    path.write_text("\n".join(lines) + '\n{"trace_id": "ab", "span_')
    table = read_spans(path, t0=100.0)
    assert table["span_id"].tolist() == ["02" * 8]
    assert table["parent_span_id"].tolist() == ["01" * 8]
    assert json.loads(table["attributes"][0]) == {"http.status_code": 200}
    assert table["start_ns"].dtype == "int64"


def test_missing_file_is_an_empty_table(tmp_path: Path) -> None:
    """No spans file yet (no span arrived) is an empty spans table, not an error."""
    table = read_spans(tmp_path / "none.jsonl", t0=0.0)
    assert table.empty and "trace_id" in table.columns


def test_records_that_are_not_spans_are_skipped(tmp_path: Path) -> None:
    """Lines that are JSON but not span records are skipped."""
    path = tmp_path / "spans.jsonl"
    path.write_text('[1, 2]\n{"trace_id": "x"}\n' + json.dumps(_span("03" * 8, 5.0)) + "\n")
    assert read_spans(path, t0=0.0)["span_id"].tolist() == ["03" * 8]


def test_an_all_zero_parent_is_read_as_none(tmp_path: Path) -> None:
    """A span whose parent_span_id is 16 hex zeros (OTLP's "no id", as a sink before
    session 25 stored a root an SDK sent so) is a root: its row has no parent; a real
    parent is kept."""
    path = tmp_path / "spans.jsonl"
    root, child = _span("01" * 8, 5.0, "0" * 16), _span("02" * 8, 5.0, "01" * 8)
    path.write_text(json.dumps(root) + "\n" + json.dumps(child) + "\n")
    assert read_spans(path, t0=0.0)["parent_span_id"].tolist() == ["", "01" * 8]
