"""report.md: title, status, verdicts, headline numbers, phases and faults, the chart."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from harness.analysis.cpu_split import describe as cpu_line
from harness.report.charts import timeline_png
from harness.report.forward import forward_line
from harness.report.host_text import HOST_TABLE_COLUMNS, host_note, host_rows
from harness.report.text import (
    FAULT_COLUMNS,
    HEADLINE_COLUMNS,
    METRICS_NONE,
    PHASE_COLUMNS,
    VERDICT_COLUMNS,
    behind_line,
    fault_rows,
    format_measured,
    format_value,
    headline_rows,
    metrics_read,
    no_faults_text,
    no_verdicts_text,
    phase_rows,
    run_notes,
    stop_text,
    verdict_rows,
)
from harness.store.model import RunRecord

if TYPE_CHECKING:
    import pandas as pd

TIMELINE_PNG = "timeline.png"


def markdown_report(record: RunRecord, chart: str | None = None) -> str:
    """The Markdown text of a run; `chart` is the timeline PNG's file name, if drawn."""
    parts = [
        f"# {record.experiment.title or record.experiment.name}",
        _header(record),
        "## Verdicts",
        _verdicts(record),
        "## Headline numbers (whole run)",
        _headline(record),
        "## Phases",
        _phases(record),
        "## Faults",
        _faults(record),
    ]
    if any(w.status != "done" for w in record.load_workers):
        parts += ["## Load workers", _load_workers(record)]
    if record.dialect is not None:
        parts += ["## Metrics dialect", _dialect(record)]
    if record.traces is not None:
        parts += ["## Traces", _traces(record)]
    if record.forward is not None:
        parts += ["## Forwarded spans", forward_line(record.forward)]
    if host_rows(record):
        parts += ["## Host", _host(record)]
    if record.cpu is not None:
        parts += ["## CPU (whole run)", cpu_line(record.cpu, external=record.runtime == "external")]
    if chart:
        parts += ["## Timeline", f"![timeline: RPS, error rate, p50/p99; faults shaded]({chart})"]
    return "\n\n".join(parts) + "\n"


def markdown_files(record: RunRecord, windows: pd.DataFrame | None) -> dict[str, str | bytes]:
    """report.md, with its chart drawn first when there are windows (file name -> content)."""
    files: dict[str, str | bytes] = {}
    chart = None
    if windows is not None and not windows.empty:
        end = max((p.end_s for p in record.phases), default=None)
        title = f"{record.experiment.name} - {record.id}"
        warmup = next((p.end_s for p in record.phases if p.name == "warmup"), 0.0)
        files[TIMELINE_PNG] = timeline_png(windows, record.faults, title, end, warmup)
        chart = TIMELINE_PNG
    files["report.md"] = markdown_report(record, chart)
    return files


def _header(record: RunRecord) -> str:
    lines = [
        f"**Status: {record.status.upper()}** - run `{record.id}`",
        "",
        f"- started {record.started_at}, ended {record.ended_at or '-'}, "
        f"{_seconds(record.duration_s)}",
        f"- runtime `{record.runtime}`, mode `{record.mode}`, "
        + (f"metrics from `{record.metrics_source}`" if metrics_read(record) else METRICS_NONE),
        f"- experiment file `{record.experiment.file or '-'}`",
    ]
    if record.error:
        lines.append(f"- **{stop_text(record)}**")
    lines += [f"- {line}" for line in run_notes(record)]
    behind = behind_line(record)
    if behind:  # before anything else is read: the latencies below may not be what users saw
        lines[1:1] = ["", f"> **{behind}.**"]
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _verdicts(record: RunRecord) -> str:
    if not record.verdicts:
        return no_verdicts_text(record)
    rows = [
        [*row[:4], row[4] if row[4] == "PASS" else f"**{row[4]}**"]
        for row in verdict_rows(record, format_measured)
    ]
    table = _table(VERDICT_COLUMNS, rows)
    noisy = [v for v in record.verdicts if v.outcome == "inconclusive"]
    if not noisy:
        return table
    lines = ["", "INCONCLUSIVE: the host was too noisy to judge (exit code 3):", ""]
    lines += [f"- `{v.slo}`: {v.disturbance}" for v in noisy]
    return table + "\n" + "\n".join(lines)


def _headline(record: RunRecord) -> str:
    return _table(HEADLINE_COLUMNS, headline_rows(record))


def _phases(record: RunRecord) -> str:
    if not record.phases:
        return "No phases recorded."
    return _table(PHASE_COLUMNS, phase_rows(record))


def _dialect(record: RunRecord) -> str:
    """Which mesh's metric names were read, and each signal they cannot give (NoData)."""
    dialect = record.dialect
    assert dialect is not None
    lines = [f"Metrics were read in the `{dialect.name}` dialect."]
    if dialect.no_data:
        lines += ["", "No data (no value, never 0) for:", ""]
        lines += [f"- `{signal}`: {reason}" for signal, reason in sorted(dialect.no_data.items())]
    return "\n".join(lines)


def _load_workers(record: RunRecord) -> str:
    """The Locust workers, shown when one did not finish: a lost one's share is unsent."""
    rows = [
        [w.name, w.status, str(w.share), str(w.records), str(w.unsent), _seconds(w.lost_at_s)]
        for w in record.load_workers
    ]
    header = ["worker", "status", "share", "records", "unsent", "lost at"]
    return _table(header, rows)


def _faults(record: RunRecord) -> str:
    if not record.faults:
        return no_faults_text(record)
    rows = [[*row[:2], f"`{row[2]}`", *row[3:]] for row in fault_rows(record)]
    return _table(FAULT_COLUMNS, rows)


def _host(record: RunRecord) -> str:
    return _table(HOST_TABLE_COLUMNS, host_rows(record)) + "\n\n" + host_note(record)


def _traces(record: RunRecord) -> str:
    traces = record.traces
    assert traces is not None
    share = (
        format_value("trace_completeness", traces.complete / traces.requests)
        if traces.requests
        else "no data"
    )
    lines = [
        f"{traces.complete} of {traces.requests} requests answered 2xx (warm-up included) have a "
        f"complete trace ({share}); {traces.broken_parent_spans} spans with a lost parent; "
        f"{traces.orphan_spans} orphan spans in {traces.orphan_traces} traces no request started.",
    ]
    if traces.examples:
        rows = [
            [f"`{e.get('trace_id', '')}`", ", ".join(map(str, e.get("missing", [])))]
            for e in traces.examples[:10]
        ]
        lines += ["", _table(["incomplete trace", "missing spans"], rows)]
    return "\n".join(lines)
