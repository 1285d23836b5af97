"""One trace as a waterfall: its spans in call order, the spans it lacks, the harness's record.

Pure: `waterfall_rows(spans, request, expected, t0_s)` turns one trace's spans (spans table
rows), the harness's record of the request that started it (None for a trace no request
started) and the span multiset the call graph expects into rows. The dashboard's Run page
and the HTML report draw the same rows (`harness.report.waterfall_html`).

Times are milliseconds from the harness's send of the request. The harness records its
times in seconds since the run's t0 and the spans in wall-clock nanoseconds on the same
host clock; `t0_s` (the run's t0 as wall-clock seconds, `harness.report.trace_pick` estimates
it from the whole run) puts both on one axis. Without it the first span's start is 0.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from harness.analysis.traces import span_labels
from harness.report.missing_spans import Children, place_missing

RowKind = Literal["harness", "span", "missing"]

HTTP_STATUS = "http.response.status_code"
RESPONSE_FLAGS = "response_flags"
RETRY_ATTEMPT = "retry.attempt"
PEER_ATTRIBUTES = ("peer.principal", "upstream.instance")


@dataclass(frozen=True)
class HarnessRequest:
    """The harness's record of one request (a requests table row)."""

    trace_id: str
    intended_s: float
    sent_s: float
    latency_ms: float
    corrected_ms: float
    status: int
    error: str = ""
    phase: str = ""
    route: str = ""

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> HarnessRequest:
        return cls(
            trace_id=str(row["trace_id"]),
            intended_s=float(row["intended_s"]),
            sent_s=float(row["sent_s"]),
            latency_ms=float(row["latency_ms"]),
            corrected_ms=float(row["corrected_ms"]),
            status=int(row["status"]),
            error=str(row.get("error") or ""),
            phase=str(row.get("phase") or ""),
            route=str(row.get("route") or ""),
        )


@dataclass(frozen=True)
class WaterfallRow:
    row: RowKind
    depth: int
    label: str
    """The span's label in the call graph's vocabulary ('catalog handle', ...)."""
    service: str
    operation: str
    kind: str
    start_ms: float | None
    """From the harness's send (negative: before it); None for a missing span."""
    duration_ms: float | None
    status: str
    flags: str = ""
    retry: str = ""
    peer: str = ""
    span_id: str = ""
    parent_span_id: str = ""


def waterfall_rows(
    spans: pd.DataFrame,
    request: HarnessRequest | None,
    expected: Mapping[str, int],
    t0_s: float | None = None,
    calls: Mapping[str, Sequence[str]] | None = None,
) -> list[WaterfallRow]:
    """The harness's rows, then every span depth first (children by start), with one row
    per span the call graph expected that the trace lacks under the span that should be
    its parent (`harness.report.missing_spans`; `calls`, the call graph, names a missing
    handle's caller where there are no sidecar spans). A trace no request started (an
    orphan: a request's context lost on the way) is no request's trace: none is missing."""
    spans = spans.reset_index(drop=True)
    origin_ns = _origin_ns(spans, request, t0_s)
    rows = _harness_rows(request) if request is not None else []
    labels = [str(label) for label in span_labels(spans)] if len(spans) else []
    starts = [int(start) for start in spans["start_ns"]] if len(spans) else []
    children = _children(spans, starts)
    lacking = Counter(expected) - Counter(labels) if request is not None else Counter()
    missing = place_missing(children, labels, starts, lacking, expected, calls or {})
    for node, depth in _depth_first(children, starts):
        if node < len(labels):
            rows.append(_span_row(spans.iloc[node], labels[node], depth, origin_ns))
        else:
            rows.append(_missing_row(missing[node - len(labels)], depth))
    return rows


def _missing_row(label: str, depth: int) -> WaterfallRow:
    return WaterfallRow(
        row="missing",
        depth=depth,
        label=label,
        service=label.split(" ", 1)[0],
        operation=label,
        kind="",
        start_ms=None,
        duration_ms=None,
        status="missing",
    )


def _origin_ns(spans: pd.DataFrame, request: HarnessRequest | None, t0_s: float | None) -> int:
    if request is not None and t0_s is not None:
        return round((t0_s + request.sent_s) * 1e9)
    return int(spans["start_ns"].min()) if len(spans) else 0


def _harness_rows(request: HarnessRequest) -> list[WaterfallRow]:
    """From the intended time (corrected latency) and from the send (service time)."""
    status = str(request.status) if request.status else f"no answer {request.error}".strip()
    late_ms = (request.sent_s - request.intended_s) * 1000
    return [
        WaterfallRow(
            row="harness",
            depth=0,
            service="harness",
            kind="CLIENT",
            label="harness intended -> answer (corrected latency)",
            operation=f"{request.route} intended".strip(),
            start_ms=-late_ms,
            duration_ms=request.corrected_ms,
            status=status,
        ),
        WaterfallRow(
            row="harness",
            depth=0,
            service="harness",
            kind="CLIENT",
            label="harness send -> answer (latency)",
            operation=f"{request.route} sent".strip(),
            start_ms=0.0,
            duration_ms=request.latency_ms,
            status=status,
        ),
    ]


def _children(spans: pd.DataFrame, starts: list[int]) -> Children:
    """Parent row index (None: no parent in the trace) -> child row indexes by start."""
    ids = {str(s): i for i, s in enumerate(spans["span_id"])} if len(spans) else {}
    children: Children = defaultdict(list)
    for index, parent in enumerate(spans["parent_span_id"] if len(spans) else []):
        children[ids.get(str(parent or ""))].append(index)
    for below in children.values():
        below.sort(key=lambda i: starts[i])
    return children


def _depth_first(children: Children, starts: list[int]) -> list[tuple[int, int]]:
    """(node, depth) in call order: the roots (no parent in the trace) in their order, each
    followed by its children in theirs."""
    out: list[tuple[int, int]] = []
    seen: set[int] = set()
    # a cycle of parent ids (a broken exporter) has no root: each is walked from its first span
    unplaced = sorted(range(len(starts)), key=lambda i: starts[i])
    for roots in (children.get(None, []), unplaced):
        stack = [(i, 0) for i in reversed(roots) if i not in seen]
        while stack:
            node, depth = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            out.append((node, depth))
            stack.extend((i, depth + 1) for i in reversed(children.get(node, [])))
    return out


def _span_row(span: pd.Series, label: str, depth: int, origin_ns: int) -> WaterfallRow:
    attributes = _attributes(span.get("attributes"))
    http = attributes.get(HTTP_STATUS)
    status = str(span.get("status_code") or "UNSET")
    peer = next((str(attributes[k]) for k in PEER_ATTRIBUTES if attributes.get(k)), "")
    return WaterfallRow(
        row="span",
        depth=depth,
        label=label,
        service=str(span["service"]),
        operation=str(span["name"]),
        kind=str(span["kind"]),
        start_ms=(int(span["start_ns"]) - origin_ns) / 1e6,
        duration_ms=(int(span["end_ns"]) - int(span["start_ns"])) / 1e6,
        status=f"{http} {status}" if http is not None else status,
        flags=str(attributes.get(RESPONSE_FLAGS, "") or ""),
        retry="" if attributes.get(RETRY_ATTEMPT) is None else str(attributes[RETRY_ATTEMPT]),
        peer=peer,
        span_id=str(span["span_id"]),
        parent_span_id=str(span.get("parent_span_id") or ""),
    )


def _attributes(value: object) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(str(value)) if value else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def rows_frame(rows: list[WaterfallRow]) -> pd.DataFrame:
    """The rows as a table (what the dashboard lists beside the drawing)."""
    return pd.DataFrame([row.__dict__ for row in rows])
