"""A trace's waterfall rows: the harness's record, spans in call order, missing spans."""

from __future__ import annotations

import pandas as pd

from harness.analysis.traces import expected_spans
from harness.report.waterfall import HarnessRequest, waterfall_rows
from harness.report.waterfall_html import waterfall_table
from tests.fixtures.make_run import span_record

T0 = 1_800_000_000.0
TRACE = "ab" * 16


def _span(span_id: str, parent: str, service: str, name: str, kind: str, start_ms: float,
          end_ms: float, **attributes: object) -> dict[str, object]:  # fmt: skip
    times = (int((T0 + 10 + start_ms / 1000) * 1e9), int((T0 + 10 + end_ms / 1000) * 1e9))
    return span_record(TRACE, span_id, parent, name, kind, service, times, "UNSET", attributes)


def test_rows_follow_the_calls_and_mark_what_is_missing() -> None:
    """Harness rows first (intended and send), spans depth first by start with their
    status, flags, retry and peer, and the span the call graph expected but the trace
    lacks (catalog's own span) as a missing row."""
    spans = pd.DataFrame(
        [
            # listed out of order: the rows put them in call order
            _span("c2", "b1", "frontend", "outbound catalog", "CLIENT", 5.0, 9.0,
                  **{"upstream_cluster": "catalog", "retry.attempt": 1,
                     "upstream.instance": "catalog-1", "http.response.status_code": 200}),
            _span("a1", "ff", "frontend", "inbound", "SERVER", 1.0, 12.0,
                  **{"http.response.status_code": 200, "peer.principal": "spiffe://x/sa/load"}),
            _span("c1", "b1", "frontend", "outbound catalog", "CLIENT", 2.0, 4.0,
                  **{"upstream_cluster": "catalog", "retry.attempt": 0, "response_flags": "URX",
                     "http.response.status_code": 503}),
            _span("b1", "a1", "frontend", "frontend handle", "SERVER", 1.5, 11.0),
            _span("d1", "c2", "catalog", "inbound", "SERVER", 5.5, 8.5),
        ]
    )  # fmt: skip
    request = HarnessRequest(TRACE, 9.998, 10.0, 12.5, 14.5, 200, phase="before", route="/")
    expected = expected_spans({"frontend": ["catalog"], "catalog": []}, "frontend", "mesh")
    rows = waterfall_rows(spans, request, expected, t0_s=T0)

    assert [r.row for r in rows] == ["harness"] * 2 + ["span"] * 5 + ["missing"]
    intended, sent = rows[0], rows[1]
    assert round(intended.start_ms or 0, 3) == -2.0 and intended.duration_ms == 14.5
    assert sent.start_ms == 0.0 and sent.duration_ms == 12.5
    placed = [(r.span_id, r.depth) for r in rows if r.row == "span"]
    assert placed == [("a1", 0), ("b1", 1), ("c1", 2), ("c2", 2), ("d1", 3)]
    by_id = {r.span_id: r for r in rows if r.row == "span"}
    assert round(by_id["a1"].start_ms or 0, 3) == 1.0
    assert round(by_id["c2"].duration_ms or 0, 3) == 4.0
    assert (by_id["c1"].status, by_id["c1"].flags, by_id["c1"].retry) == ("503 UNSET", "URX", "0")
    assert (by_id["c2"].retry, by_id["c2"].peer) == ("1", "catalog-1")
    assert by_id["a1"].peer == "spiffe://x/sa/load"
    assert by_id["c1"].label == "frontend sidecar outbound -> catalog"
    assert rows[-1].label == "catalog handle" and rows[-1].start_ms is None

    table = waterfall_table(rows, TRACE)
    assert table.count('data-row="span"') == 5 and table.count('data-row="missing"') == 1
    assert 'data-span-id="c2"' in table and "missing: catalog handle" in table


def test_without_a_request_or_clock_the_first_span_is_zero() -> None:
    """An orphan trace (no harness request): no harness row, times from its first span."""
    spans = pd.DataFrame([_span("a1", "", "cart", "cart handle", "SERVER", 3.0, 4.0)])
    rows = waterfall_rows(spans, None, {})
    assert [(r.row, r.start_ms, round(r.duration_ms or 0, 3)) for r in rows] == [("span", 0.0, 1.0)]


def test_an_orphan_trace_has_no_missing_rows() -> None:
    """A trace no request started holds a request's tail (its context was lost upstream):
    the call graph's other spans are not marked missing in it."""
    spans = pd.DataFrame(
        [
            _span("c1", "", "cart", "outbound inventory", "CLIENT", 1.0, 3.0,
                  upstream_cluster="inventory"),
            _span("d1", "c1", "inventory", "inbound", "SERVER", 1.5, 2.5),
        ]
    )  # fmt: skip
    expected = expected_spans({"cart": ["inventory"], "inventory": []}, "cart", "mesh")
    rows = waterfall_rows(spans, None, expected)
    assert [(r.row, r.span_id, r.depth) for r in rows] == [("span", "c1", 0), ("span", "d1", 1)]
