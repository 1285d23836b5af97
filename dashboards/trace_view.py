"""The Run page's trace view: pick a trace (by id or from ready lists), see its waterfall.

`/run?run=<run>&trace=<trace id>` opens the page on that trace."""

from __future__ import annotations

import re

import streamlit as st

from dashboards import data
from harness.report.forward import forward_line
from harness.report.waterfall import rows_frame
from harness.report.waterfall_html import waterfall_table
from harness.store import RunRecord

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
BY_ID = "a trace id"


def trace_section(path: str, version: int, record: RunRecord) -> None:
    st.subheader("Trace")
    if record.forward is not None:
        st.caption(forward_line(record.forward))
    lists = data.trace_lists(path, version)
    linked = str(st.query_params.get("trace", "")).strip().lower()
    names = [BY_ID, *lists] if linked else [*lists, BY_ID]
    left, right = st.columns([1, 2])
    with left:
        source = st.selectbox("from", names, key="trace_list")
    with right:
        if source == BY_ID:
            typed = st.text_input("trace id (32 hex digits)", value=linked, key="trace_id")
            trace_id = typed.strip().lower()
        else:
            picks = lists[source]
            labels = [f"{p.trace_id}  {p.why}" for p in picks]
            chosen = st.selectbox("trace", labels, key=f"trace_pick_{source}")
            trace_id = picks[labels.index(chosen)].trace_id if chosen else ""
    if not trace_id:
        st.info("Pick a trace from a list, or type its id.")
        return
    if not TRACE_ID.match(trace_id):
        st.warning(f"{trace_id!r} is not a trace id (32 lowercase hex digits).")
        return
    rows = data.trace_rows(path, version, trace_id)
    spans = sum(r.row == "span" for r in rows)
    missing = sum(r.row == "missing" for r in rows)
    if not spans and not any(r.row == "harness" for r in rows):
        st.warning(f"No span and no request of trace {trace_id} in this run.")
        return
    if any(r.row == "harness" for r in rows):
        st.caption(
            f"Trace `{trace_id}`: {spans} spans, {missing} expected spans missing. Times are"
            " milliseconds from the harness's send (the run's clock lined up with the spans'"
            " by the shortest send-to-first-span gap of the run)."
        )
    else:
        st.caption(
            f"Trace `{trace_id}`: {spans} spans, started by no request of the harness (an"
            " orphan trace: a request's context was lost on the way), so none is counted"
            " missing. Times are milliseconds from its first span."
        )
    st.html(waterfall_table(rows, trace_id))
    with st.expander("rows as a table"):
        st.dataframe(rows_frame(rows), hide_index=True, width="stretch")
