"""Run: one run — verdicts, timeline with faults, latency, mesh signals, graph, resources, traces."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboards import data, widgets
from dashboards.trace_view import trace_section
from harness.report import figures, graph, mesh, traces
from harness.report.host_text import HOST_TABLE_COLUMNS, host_note, host_rows
from harness.report.labels import LABELS
from harness.report.text import (
    METRICS_NONE,
    behind_line,
    format_value,
    load_text,
    metrics_read,
    no_faults_text,
    stop_text,
)
from harness.spec.phase import Phase
from harness.store import RunRecord
from mesh_runtime.errors import MeshproofError

CHART = {"displaylogo": False}


def main() -> None:
    reports = data.reports_dir()
    runs = [(path, record) for path, record, _ in data.records(reports) if record is not None]
    with st.sidebar:
        chosen = widgets.pick_run(runs, "run", "run")
    if chosen is None:
        st.title("Run")
        st.info(f"No runs in `{reports}` yet.")
        return
    path, record = chosen
    version = data.stamp(path)
    _header(record)
    sections = (
        _timeline, _latency, _signals, _graph, _resources, _traces, trace_section, _faults,
    )  # fmt: skip
    for section in sections:
        try:
            section(str(path), version, record)
        except MeshproofError as exc:
            st.warning(widgets.plain_markdown(f"{section.__name__.strip('_')}: {exc}"))


def _header(record: RunRecord) -> None:
    st.title(record.experiment.title or record.experiment.name)
    left, right = st.columns([1, 6], vertical_alignment="center")
    with left:
        widgets.status_badge(record.status)
    env = record.environment
    source = f"metrics from `{record.metrics_source}`" if metrics_read(record) else METRICS_NONE
    right.caption(
        f"run `{record.id}` · experiment `{record.experiment.name}` · started "
        f"{record.started_at} · {format_value('duration_s', record.duration_s)} · runtime "
        f"`{record.runtime}` ({record.mode}) · {source} · "
        f"meshproof {env.meshproof or '?'}, sidecar {env.sidecar_version or '?'}"
    )
    if record.error:
        st.error(widgets.plain_markdown(stop_text(record)))
    behind = behind_line(record)
    if behind:
        st.warning(widgets.plain_markdown(behind), icon=":material/warning:")
    widgets.show_notes(record)
    widgets.headline(record)
    st.subheader("SLO verdicts")
    widgets.show_verdicts(record)


def _timeline(path: str, version: int, record: RunRecord) -> None:
    st.subheader("Timeline")
    windows = data.timeline(path, version)
    if windows.empty:
        st.info("No request records in this run.")
        return
    host = data.host_timeline(path, version)
    figure = figures.timeline_figure(windows, record.faults, record.phases, host)
    st.plotly_chart(figure, config=CHART)
    st.caption(
        "Per second of intended send time. Solid: service time (from the actual send); "
        "dotted: corrected for coordinated omission (from the intended send)."
        + (" Below: the host's disturbance (the probe beside the run)." if len(host) else "")
    )
    rows = host_rows(record)
    if rows:
        st.markdown("**Host disturbance by phase**")
        widgets.table(pd.DataFrame(rows, columns=list(HOST_TABLE_COLUMNS)))
        st.caption(host_note(record))


def _latency(path: str, version: int, record: RunRecord) -> None:
    st.subheader("Latency by phase")
    phases = tuple(record.phases)
    table = data.phase_percentiles(path, version, phases)
    widgets.table(table)
    ladder = data.ladder(path, version, record.whole_phase())
    st.plotly_chart(figures.ladder_figure({"whole run": ladder}), config=CHART)


def _signals(path: str, version: int, record: RunRecord) -> None:
    st.subheader("Mesh signals")
    signals = data.signals(path, version)
    summary = record.summary
    left, middle, right = st.columns(3)
    left.metric("retries / 1000 requests", format_value("retries", summary.retries_per_krequests))
    middle.metric("outlier ejections", format_value("ejections", summary.ejections))
    right.metric("circuit-breaker overflows", format_value("overflows", summary.overflows))
    if signals.empty:
        st.info("No retry, ejection or overflow counters in this run's metrics.")
        return
    st.plotly_chart(figures.signals_figure(signals, record.faults, record.phases), config=CHART)


def _graph(path: str, version: int, record: RunRecord) -> None:
    st.subheader("Service graph")
    ingress = data.ingress(path, version)
    edges = data.edges(path, version, record.whole_phase(), ingress)
    if edges.empty:
        st.info("No edges: the run has neither edge metrics nor spans.")
        return
    st.plotly_chart(graph.service_graph_figure(edges), config=CHART)
    left, right = st.columns(2)
    with left:
        st.markdown("**Edges**")
        widgets.table(edges)
    with right:
        st.markdown("**Services** (from spans)")
        services = data.services(path, version)
        if services.empty:
            st.info("No spans in this run.")
        else:
            widgets.table(services)


def _resources(path: str, version: int, record: RunRecord) -> None:
    st.subheader("Resources")
    per_process = data.resources(path, version, record.whole_phase())
    if per_process.empty:
        st.info("No resource samples in this run.")
        return
    overhead = mesh.sidecar_overhead(per_process)
    tiles = st.columns(4)
    tiles[0].metric(
        LABELS["sidecar_cpu_per_krps"], format_value("cpu", record.summary.sidecar_cpu_per_krps)
    )
    tiles[1].metric("sidecar peak RSS", format_value("rss_mb", record.summary.sidecar_rss_mb))
    tiles[2].metric("sidecar CPU vs services", _share(overhead["cpu_share"]))
    tiles[3].metric("sidecar memory vs services", _share(overhead["rss_share"]))
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Per instance: the service and its sidecar** (mean CPU cores, peak RSS)")
        widgets.table(mesh.by_instance(per_process))
        others = per_process[~per_process["role"].isin(["service", "sidecar"])]
        if not others.empty:
            st.markdown("**Other processes**")
            widgets.table(others)
    with right:
        over_time = data.resources_over_time(path, version)
        st.plotly_chart(figures.resources_figure(over_time), config=CHART)


def phase_load_frame(record: RunRecord) -> pd.DataFrame:
    """A row per phase: its span, the RPS achieved and intended, how late the load was."""
    rows = []
    for phase in record.phases:
        summary = record.phase_summary(phase.name)
        values = summary.values if summary else {}
        late, lag = values.get("late_share"), values.get("max_send_lag_ms")
        rows.append(
            {
                "phase": phase.name,
                "start_s": phase.start_s,
                "end_s": phase.end_s,
                "rps": values.get("rps"),
                "intended rps": values.get("target_rps"),
                "late_share": late,
                "max_send_lag_ms": lag,
                "load": load_text(late, lag),
            }
        )
    return pd.DataFrame(rows)


def _share(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.0f} %"


def _traces(path: str, version: int, record: RunRecord) -> None:
    st.subheader("Trace completeness")
    view = data.trace_view(path, version)
    tiles = st.columns(4)
    tiles[0].metric(
        "complete traces", format_value("trace_completeness", record.summary.trace_completeness)
    )
    if view is None:
        st.info("No spans in this run (or no call graph to judge them against).")
        return
    tiles[1].metric("incomplete (in sample)", f"{view.judged - view.complete} of {view.judged}")
    tiles[2].metric("orphan spans", f"{view.orphan_spans} in {view.orphan_traces} traces")
    tiles[3].metric("spans with a missing parent", str(view.broken_parent_spans))
    source = "the topology file" if view.graph_from == "topology" else "the spans themselves"
    st.caption(f"Expected spans follow the call graph from `{view.ingress}` (read from {source}).")
    if not view.missing:
        st.success("Every judged trace holds every span the call graph implies.")
        return
    left, right = st.columns(2)
    missing = pd.DataFrame(
        {"missing span": list(view.missing), "traces": list(view.missing.values())}
    )
    with left:
        st.markdown("**Which span was missing**")
        st.dataframe(missing, hide_index=True, width="stretch")
    with right:
        st.markdown("**Examples of incomplete traces**")
        examples = pd.DataFrame(
            {
                "trace_id": [e["trace_id"] for e in view.examples],
                "missing": [traces.missing_text(e) for e in view.examples],
                "spans": [e["spans"] for e in view.examples],
            }
        )
        st.dataframe(examples, hide_index=True, width="stretch")


def _faults(path: str, version: int, record: RunRecord) -> None:
    st.subheader("Faults and phases")
    rows = []
    for fault in record.faults:
        summary = record.phase_summary(Phase.during(fault.name))
        recovery = summary.values.get("recovery_s") if summary else None
        rows.append(
            {
                "fault": fault.name,
                "kind": fault.kind,
                "target": fault.target,
                "start_s": fault.start_s,
                "end_s": fault.end_s,
                "recovery": format_value("recovery_s", recovery),
                "params": ", ".join(f"{k}={v}" for k, v in fault.params.items() if v is not None),
            }
        )
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.caption(no_faults_text(record))
    widgets.table(phase_load_frame(record))
    st.caption(
        "RPS achieved (answers per second) beside the schedule's intended RPS; late: share of "
        "the phase's requests that left over 10 ms after their intended time."
    )
    st.caption(f"Run directory: `{Path(path)}`")


if __name__ == "__main__":
    main()
