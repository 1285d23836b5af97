"""The spans of a run, read from the trace sink's JSON-lines file (`deployment.trace_file`;
a sink in a pod: fetched from its `GET /spans` first, `deployment.trace_url`).

The sink appends while the run goes on, so the last line may be half written when this
reads it; such a line (and any other that is not a whole span record) is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from harness.errors import RunError
from harness.store.tables import SPAN_COLUMNS

HTTP_TIMEOUT_S = 30.0

_TEXT = ("trace_id", "span_id", "parent_span_id", "name", "kind", "service", "instance")
_NO_PARENT = "0" * 16
"""OTLP's (and W3C's) all-zero span id: no parent. The sink stores it as ""; a spans file
from an older sink (a compose file's or a cluster's older image) may still have it."""


def span_row(record: Any) -> dict[str, Any] | None:
    """A spans-table row from one sink record, or None if it is not a span record."""
    if not isinstance(record, dict):
        return None
    try:
        row: dict[str, Any] = {key: str(record.get(key) or "") for key in _TEXT}
        row["start_ns"] = int(record["start_ns"])
        row["end_ns"] = int(record["end_ns"])
    except (KeyError, TypeError, ValueError):
        return None
    if not row["trace_id"] or not row["span_id"]:
        return None
    if row["parent_span_id"] == _NO_PARENT:
        row["parent_span_id"] = ""
    row["status_code"] = str(record.get("status_code") or "UNSET")
    attributes = record.get("attributes") or {}
    row["attributes"] = json.dumps(attributes, sort_keys=True, default=str)
    return row


def spans_from_lines(lines: Iterable[str], t0: float) -> list[dict[str, Any]]:
    """Span rows of spans that started at or after `t0` (wall clock seconds)."""
    since_ns = int(t0 * 1_000_000_000)
    rows = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line, or garbage
        row = span_row(record)
        if row is not None and row["start_ns"] >= since_ns:
            rows.append(row)
    return rows


def read_spans(path: str | Path, t0: float) -> pd.DataFrame:
    """The spans table of a run: every span in `path` that started at or after `t0`."""
    try:
        with Path(path).open("r", encoding="utf-8", errors="replace") as handle:
            rows = spans_from_lines(handle, t0)
    except FileNotFoundError:
        rows = []  # no span arrived (yet): the sink creates the file on its first batch
    except OSError as exc:
        raise RunError(f"{path}: cannot read spans: {exc.strerror}") from exc
    table = pd.DataFrame(rows, columns=list(SPAN_COLUMNS))
    return table.astype({"start_ns": "int64", "end_ns": "int64"})


def sink_span_count(sink: str) -> int:
    """How many spans the trace sink at `sink` (base URL) has written; -1 when it does not
    answer (a sink being replaced)."""
    try:
        answer = requests.get(f"{sink}/stats", timeout=5)
        return int(answer.json()["spans"])
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return -1


def fetch_spans(sink: str, dest: Path) -> None:
    """Copy the sink's spans file (`GET /spans`) to `dest`, streamed."""
    try:
        with requests.get(f"{sink}/spans", stream=True, timeout=HTTP_TIMEOUT_S) as answer:
            answer.raise_for_status()
            with dest.open("wb") as out:
                for chunk in answer.iter_content(chunk_size=1 << 20):
                    out.write(chunk)
    except requests.RequestException as exc:
        raise RunError(f"{sink}/spans: cannot fetch the spans: {exc}") from None
    except OSError as exc:
        raise RunError(f"{dest}: cannot write the spans: {exc.strerror}") from exc
