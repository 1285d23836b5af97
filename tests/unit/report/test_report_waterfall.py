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


def test_a_missing_span_sits_under_the_span_that_should_be_its_parent() -> None:
    """catalog is called by frontend (depth 3 in the trace) and by cart: the inbound span of
    cart's call to catalog and its handle are missing. They sit under cart's outbound span
    (depths 6 and 7), before frontend's later call to catalog, not at catalog's first depth
    at the end; of two tries lacking an inbound span, the last try gets the missing one."""
    spans = pd.DataFrame(
        [
            _span("a", "ff", "frontend", "inbound", "SERVER", 0.0, 30.0),
            _span("b", "a", "frontend", "frontend handle", "SERVER", 1.0, 29.0),
            _span("f", "b", "frontend", "outbound cart", "CLIENT", 2.0, 9.0,
                  upstream_cluster="cart"),
            _span("g", "f", "cart", "inbound", "SERVER", 2.5, 8.5),
            _span("h", "g", "cart", "cart handle", "SERVER", 3.0, 8.0),
            _span("i1", "h", "cart", "outbound catalog", "CLIENT", 3.5, 4.0,
                  upstream_cluster="catalog", **{"retry.attempt": 0}),
            _span("i2", "h", "cart", "outbound catalog", "CLIENT", 4.5, 7.5,
                  upstream_cluster="catalog", **{"retry.attempt": 1}),
            _span("c", "b", "frontend", "outbound catalog", "CLIENT", 10.0, 20.0,
                  upstream_cluster="catalog"),
            _span("d", "c", "catalog", "inbound", "SERVER", 10.5, 19.5),
            _span("e", "d", "catalog", "catalog handle", "SERVER", 11.0, 19.0),
        ]
    )  # fmt: skip
    request = HarnessRequest(TRACE, 10.0, 10.0, 31.0, 31.0, 200)
    calls = {"frontend": ["cart", "catalog"], "cart": ["catalog"], "catalog": []}
    expected = expected_spans(calls, "frontend", "mesh")
    rows = waterfall_rows(spans, request, expected, t0_s=T0)

    drawn = [(r.row, r.span_id or r.label, r.depth) for r in rows if r.row != "harness"]
    assert drawn == [
        ("span", "a", 0),
        ("span", "b", 1),
        ("span", "f", 2),
        ("span", "g", 3),
        ("span", "h", 4),
        ("span", "i1", 5),
        ("span", "i2", 5),
        ("missing", "catalog sidecar inbound", 6),
        ("missing", "catalog handle", 7),
        ("span", "c", 2),
        ("span", "d", 3),
        ("span", "e", 4),
    ]


def test_a_missing_call_comes_where_its_parent_would_have_made_it() -> None:
    """frontend calls cart, then catalog; its call to cart is missing with all below it:
    the missing outbound span comes first among frontend's calls, its subtree under it."""
    spans = pd.DataFrame(
        [
            _span("a", "ff", "frontend", "inbound", "SERVER", 0.0, 30.0),
            _span("b", "a", "frontend", "frontend handle", "SERVER", 1.0, 29.0),
            _span("c", "b", "frontend", "outbound catalog", "CLIENT", 10.0, 20.0,
                  upstream_cluster="catalog"),
            _span("d", "c", "catalog", "inbound", "SERVER", 10.5, 19.5),
            _span("e", "d", "catalog", "catalog handle", "SERVER", 11.0, 19.0),
        ]
    )  # fmt: skip
    request = HarnessRequest(TRACE, 10.0, 10.0, 31.0, 31.0, 200)
    calls = {"frontend": ["cart", "catalog"], "cart": [], "catalog": []}
    rows = waterfall_rows(spans, request, expected_spans(calls, "frontend", "mesh"), t0_s=T0)

    drawn = [(r.row, r.span_id or r.label, r.depth) for r in rows if r.row != "harness"]
    assert drawn == [
        ("span", "a", 0),
        ("span", "b", 1),
        ("missing", "frontend sidecar outbound -> cart", 2),
        ("missing", "cart sidecar inbound", 3),
        ("missing", "cart handle", 4),
        ("span", "c", 2),
        ("span", "d", 3),
        ("span", "e", 4),
    ]


def test_without_sidecars_the_call_graph_names_a_missing_handles_caller() -> None:
    """No-mesh: only the services' handle spans. catalog's handle under cart's is missing;
    the call graph says cart calls it, so it sits under cart's handle (depth 2), though
    catalog's other handle is at depth 1."""
    spans = pd.DataFrame(
        [
            _span("a", "ff", "frontend", "frontend handle", "SERVER", 0.0, 30.0),
            _span("b", "a", "cart", "cart handle", "SERVER", 1.0, 9.0),
            _span("c", "a", "catalog", "catalog handle", "SERVER", 10.0, 20.0),
        ]
    )
    request = HarnessRequest(TRACE, 10.0, 10.0, 31.0, 31.0, 200)
    calls = {"frontend": ["cart", "catalog"], "cart": ["catalog"], "catalog": []}
    expected = expected_spans(calls, "frontend", "no-mesh")
    rows = waterfall_rows(spans, request, expected, t0_s=T0, calls=calls)

    drawn = [(r.row, r.span_id or r.label, r.depth) for r in rows if r.row != "harness"]
    assert drawn == [
        ("span", "a", 0),
        ("span", "b", 1),
        ("missing", "catalog handle", 2),
        ("span", "c", 1),
    ]


def test_spans_whose_parents_form_a_cycle_and_what_they_lack_are_all_drawn() -> None:
    """A broken exporter's cycle of parent ids (a -> b -> a) has no root: its spans are
    walked from the first to start, and the missing span under one of them is drawn too."""
    spans = pd.DataFrame(
        [
            _span("a", "b", "frontend", "inbound", "SERVER", 0.0, 30.0),
            _span("b", "a", "frontend", "frontend handle", "SERVER", 1.0, 29.0),
        ]
    )
    request = HarnessRequest(TRACE, 10.0, 10.0, 31.0, 31.0, 200)
    calls = {"frontend": ["catalog"], "catalog": []}
    rows = waterfall_rows(spans, request, expected_spans(calls, "frontend", "mesh"), t0_s=T0)

    drawn = [(r.row, r.span_id or r.label, r.depth) for r in rows if r.row != "harness"]
    assert drawn == [
        ("span", "a", 0),
        ("span", "b", 1),
        ("missing", "frontend sidecar outbound -> catalog", 2),
        ("missing", "catalog sidecar inbound", 3),
        ("missing", "catalog handle", 4),
    ]
