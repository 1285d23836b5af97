"""`meshproof report RUN --html`: one self-contained HTML file of a run.

Self-contained means it opens offline, mailed or attached to a CI job: the CSS is
inline, and the charts are the dashboard's plotly figures with plotly.js embedded once
in the page (no link to any other file or host). It shows what report.md shows —
status, the run's notes (scaled, a fault cut short), verdicts, headline numbers, phases,
faults — plus the dashboard's views: timeline with fault bands, latency by percentile,
mesh signals, service graph, edges, services, per-instance overhead and trace
completeness.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from harness.analysis.cpu_split import describe as cpu_line
from harness.errors import RunError
from harness.report import figures, graph, mesh, requests, trace_pick, traces
from harness.report.forward import forward_line
from harness.report.host import host_timeline
from harness.report.host_text import HOST_TABLE_COLUMNS, host_note, host_rows
from harness.report.labels import LABELS
from harness.report.source import has_table
from harness.report.text import (
    FAULT_COLUMNS,
    HEADLINE_COLUMNS,
    METRICS_NONE,
    TILES,
    VERDICT_COLUMNS,
    behind_line,
    fault_rows,
    format_value,
    headline_rows,
    metrics_read,
    no_faults_text,
    no_verdicts_text,
    run_notes,
    stop_text,
    summary_text,
    verdict_rows,
)
from harness.report.traces import TraceView
from harness.report.waterfall_html import waterfall_table
from harness.store.liveness import seen_here
from harness.store.model import RunRecord
from harness.store.reader import load_run
from mesh_runtime.errors import MeshproofError

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d3557;
       margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
h1 { font-size: 28px; margin: 8px 0 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #e3e6ea; }
.meta { color: #5c677d; font-size: 13px; } code { background: #f1f3f5; padding: 0 4px; border-radius: 3px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 4px; font-weight: 700; font-size: 13px; }
.passed { background: #d8f3dc; color: #1b7f5a; } .inconclusive { background: #fff3bf; color: #8a6d00; } .failed, .error { background: #fde2e4; color: #c1121f; }
.aborted { background: #ffe8cc; color: #b26b00; } .running { background: #dbe9f6; color: #1d3557; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 13.5px; }
th, td { border-bottom: 1px solid #e3e6ea; padding: 5px 8px; text-align: left; }
th { background: #f6f7f9; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.PASS { color: #1b7f5a; font-weight: 600; } td.FAIL { color: #c1121f; font-weight: 700; background: #fde2e4; }
.tiles { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.tile { border: 1px solid #e3e6ea; border-radius: 8px; padding: 10px 16px; min-width: 150px; }
.tile .label { font-size: 12.5px; color: #5c677d; } .tile .value { font-size: 24px; }
.error-box { background: #fde2e4; color: #c1121f; padding: 8px 12px; border-radius: 6px; }
.note { color: #5c677d; font-size: 13px; } .narrow { max-width: 520px; }
.run-notes { background: #fff3bf; color: #8a6d00; padding: 8px 12px 8px 28px; border-radius: 6px; }
"""
CHART_CONFIG = {"displaylogo": False, "responsive": True}


def write_html(run_dir: str | Path, out: str | Path) -> Path:
    """Write the run's HTML report to `out`; returns the path written."""
    run_dir, target = Path(run_dir), Path(out)
    text = render_html(run_dir)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RunError(f"{target}: cannot write the HTML report: {exc.strerror or exc}") from exc
    return target


def render_html(run_dir: Path) -> str:
    """The whole page as text."""
    record = seen_here(load_run(run_dir))  # a run whose harness died is not running
    body = [_header(record), _section("SLO verdicts", _verdicts(record))]
    body.append(_section("Headline numbers (whole run)", _headline(record)))
    body += [_section(title, _guarded(part, record, run_dir)) for title, part in _PARTS]
    body.append(_section("Faults", _faults(record)))
    title = html.escape(f"{record.experiment.name} - {record.id}")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style><script>{get_plotlyjs()}</script></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _section(title: str, content: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{content}</section>"


def _guarded(part: object, record: RunRecord, run_dir: Path) -> str:
    try:
        return part(record, run_dir)  # type: ignore[operator, no-any-return]
    except MeshproofError as exc:
        return f'<p class="note">Not available: {html.escape(str(exc))}</p>'


def _figure(figure: go.Figure) -> str:
    return str(figure.to_html(full_html=False, include_plotlyjs=False, config=CHART_CONFIG))


def table(
    header: Sequence[str], rows: Iterable[Sequence[object]], classes: Sequence[str] = ()
) -> str:
    """An HTML table; numbers right-aligned; `classes` names a CSS class per column."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    lines = []
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            css = classes[index] if index < len(classes) else ""
            if cell in ("PASS", "FAIL"):
                css = str(cell)
            if isinstance(cell, int | float) and not isinstance(cell, bool):
                css = f"{css} num".strip()
            text = cell if isinstance(cell, str) else _number(cell)
            attribute = f' class="{css}"' if css else ""
            cells.append(f"<td{attribute}>{html.escape(text)}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _number(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def frame_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a table, each metric column in its unit (ms, %, MB)."""
    rows = []
    for record in frame.itertuples(index=False):
        rows.append(
            [_cell(str(column), value) for column, value in zip(frame.columns, record, strict=True)]
        )
    return table([str(c) for c in frame.columns], rows)


def _cell(column: str, value: object) -> object:
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, float) and pd.isna(value):
        return "-"
    if column.endswith("_ms"):
        return format_value(column, float(value))  # type: ignore[arg-type]
    if column in ("error_rate", "cpu_share", "rss_share", "trace_completeness"):
        return f"{float(value) * 100:.3g} %"  # type: ignore[arg-type]
    return value


def _header(record: RunRecord) -> str:
    env = record.environment
    meta = (
        f"run <code>{html.escape(record.id)}</code> · experiment "
        f"<code>{html.escape(record.experiment.name)}</code> · started {html.escape(record.started_at)}"
        f" · {format_value('duration_s', record.duration_s)} · runtime <code>{html.escape(record.runtime)}"
        f"</code> ({record.mode}) · {_source(record)} · meshproof "
        f"{html.escape(env.meshproof or '?')}, sidecar {html.escape(env.sidecar_version or '?')}"
    )
    status = f'<span class="badge {record.status}">{record.status.upper()}</span>'
    error = f'<p class="error-box">{html.escape(stop_text(record))}</p>' if record.error else ""
    behind = behind_line(record)
    if behind:
        error += f'<p class="error-box">{html.escape(behind)}</p>'
    notes = "".join(f"<li>{html.escape(line)}</li>" for line in run_notes(record))
    if notes:
        error += f'<ul class="run-notes">{notes}</ul>'
    tiles = "".join(
        f'<div class="tile"><div class="label">{LABELS.get(name, name)}</div>'
        f'<div class="value">{html.escape(summary_text(name, record.summary))}</div></div>'
        for name in TILES
    )
    title = html.escape(record.experiment.title or record.experiment.name)
    return f'<h1>{title}</h1><p>{status} <span class="meta">{meta}</span></p>{error}<div class="tiles">{tiles}</div>'


def _source(record: RunRecord) -> str:
    if not metrics_read(record):
        return METRICS_NONE
    return f"metrics from <code>{html.escape(record.metrics_source)}</code>"


def _verdicts(record: RunRecord) -> str:
    if not record.verdicts:
        return f'<p class="note">{html.escape(no_verdicts_text(record))}</p>'
    return table(VERDICT_COLUMNS, verdict_rows(record))


def _headline(record: RunRecord) -> str:
    rows = [[LABELS.get(name, name), value] for name, value in headline_rows(record)]
    return f'<div class="narrow">{table(HEADLINE_COLUMNS, rows)}</div>'


def _timeline(record: RunRecord, run_dir: Path) -> str:
    windows = requests.timeline(run_dir)
    figure = figures.timeline_figure(windows, record.faults, record.phases, host_timeline(run_dir))
    text = (
        _figure(figure)
        + '<p class="note">Solid: service time; dotted: corrected for coordinated omission.</p>'
    )
    rows = host_rows(record)
    if rows:
        note = html.escape(host_note(record))
        text += table(HOST_TABLE_COLUMNS, rows) + f'<p class="note">{note}</p>'
    return text


def _latency(record: RunRecord, run_dir: Path) -> str:
    phases = frame_table(requests.phase_percentiles(run_dir, record.phases))
    ladder = requests.percentile_ladder(run_dir, record.whole_phase())
    return phases + _figure(figures.ladder_figure({"whole run": ladder}))


def _signals(record: RunRecord, run_dir: Path) -> str:
    signals = mesh.signals_over_time(run_dir)
    if signals.empty:
        return '<p class="note">No retry, ejection or overflow counters in the metrics.</p>'
    return _figure(figures.signals_figure(signals, record.faults, record.phases))


def _graph(record: RunRecord, run_dir: Path) -> str:
    found = traces.call_graph(record, run_dir)
    ingress = found.ingress if found is not None and has_table(run_dir, "requests") else None
    edges = mesh.edges_with_load(run_dir, record.whole_phase(), ingress)
    if edges.empty:
        return '<p class="note">No edges: the run has neither edge metrics nor spans.</p>'
    parts = [_figure(graph.service_graph_figure(edges)), frame_table(edges)]
    services = mesh.services(run_dir)
    if not services.empty:
        parts += ["<h3>Services (from spans)</h3>", frame_table(services)]
    return "".join(parts)


def _resources(record: RunRecord, run_dir: Path) -> str:
    per_process = mesh.resources(run_dir, record.whole_phase())
    if per_process.empty:
        return '<p class="note">No resource samples in this run.</p>'
    overhead = mesh.sidecar_overhead(per_process)
    shares = ", ".join(
        f"{label} {'-' if value is None else f'{value * 100:.0f} %'}"
        for label, value in (("CPU", overhead["cpu_share"]), ("memory", overhead["rss_share"]))
    )
    parts = [f"<p>Sidecars' use as a share of the services' own: {shares}.</p>"]
    if record.cpu is not None:
        line = cpu_line(record.cpu, external=record.runtime == "external")
        parts.append(f"<p>{html.escape(line)}</p>")
    parts.append(frame_table(mesh.by_instance(per_process)))
    parts.append(_figure(figures.resources_figure(mesh.resources_over_time(run_dir))))
    return "".join(parts)


def _traces(record: RunRecord, run_dir: Path) -> str:
    completeness = format_value("trace_completeness", record.summary.trace_completeness)
    view = traces.trace_view(record, run_dir)
    head = f"<p>Complete traces (whole run): <b>{completeness}</b>.</p>"
    if record.forward is not None:
        head += f"<p>{html.escape(forward_line(record.forward))}</p>"
    if view is None:
        return head + '<p class="note">No spans in this run.</p>'
    return head + _trace_details(view) + _waterfalls(record, run_dir)


ORPHAN_NOTE = (
    '<p class="note">An orphan trace: no request of the harness started it (a request\'s'
    " context was lost on the way), so no span is counted missing, and its times are"
    " milliseconds from its first span.</p>"
)


def _waterfalls(record: RunRecord, run_dir: Path) -> str:
    """A handful of traces drawn as waterfalls (slowest, failed, incomplete, retried)."""
    chosen = trace_pick.chosen_traces(trace_pick.ready_lists(record, run_dir))
    if not chosen:
        return ""
    t0_s = trace_pick.run_t0_s(run_dir)
    parts = [
        "<h3>Traces, drawn</h3>",
        "<p class=\"note\">Milliseconds from the harness's send; the harness's own record"
        " (from the intended time and from the send) above the spans; spans the call graph"
        " expected but the trace lacks marked missing.</p>",
    ]
    for name, pick in chosen:
        rows = trace_pick.trace_rows(record, run_dir, pick.trace_id, t0_s)
        orphan = "" if any(r.row == "harness" for r in rows) else ORPHAN_NOTE
        parts.append(
            f"<h4>{html.escape(name)}: <code>{html.escape(pick.trace_id)}</code>"
            f" ({html.escape(pick.why)})</h4>{orphan}" + waterfall_table(rows, pick.trace_id)
        )
    return "".join(parts)


def _trace_details(view: TraceView) -> str:
    parts = [
        f"<p>In a sample of {view.judged} answered requests, {view.judged - view.complete} traces "
        f"were incomplete; {view.orphan_spans} orphan spans in {view.orphan_traces} traces; "
        f"{view.broken_parent_spans} spans with a missing parent.</p>"
    ]
    if view.missing:
        parts.append(table(["missing span", "traces"], list(view.missing.items())))
        rows = [[str(e["trace_id"]), traces.missing_text(e), e["spans"]] for e in view.examples]
        parts += [
            "<h3>Examples of incomplete traces</h3>",
            table(["trace id", "missing", "spans"], rows),
        ]
    return "".join(parts)


def _faults(record: RunRecord) -> str:
    if not record.faults:
        return f'<p class="note">{html.escape(no_faults_text(record))}</p>'
    return table(FAULT_COLUMNS, fault_rows(record))


_PARTS = (
    ("Timeline", _timeline),
    ("Latency by phase", _latency),
    ("Mesh signals", _signals),
    ("Service graph", _graph),
    ("Resources", _resources),
    ("Trace completeness", _traces),
)
