"""Pieces every page shows the same way: run labels, status badges, verdict and number tables."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from harness.report.labels import LABELS
from harness.report.text import (
    TILES,
    VERDICT_COLUMNS,
    no_verdicts_text,
    run_notes,
    summary_text,
    verdict_rows,
)
from harness.store import RunRecord

STATUS_COLOUR = {
    "passed": "green",
    "failed": "red",
    "aborted": "orange",
    "inconclusive": "yellow",
    "error": "red",
    "running": "blue",
}
Run = tuple[Path, RunRecord]
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def plain_markdown(text: str) -> str:
    """`text` as Streamlit markdown that shows it as written: every ASCII punctuation mark
    backslash-escaped (CommonMark), so a note's `<b>`, `*`, `$` or `:red[...]` stays text."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def show_notes(record: RunRecord) -> None:
    """The run's notes (scaled with --duration, a fault cut short) in one warning, if any."""
    lines = run_notes(record)
    if lines:
        st.warning("\n".join(f"- {plain_markdown(line)}" for line in lines))


def run_label(record: RunRecord) -> str:
    """'2026-11-27 15:40 · catalog-503 · FAILED'."""
    when = record.started_at.replace("T", " ")[:16]
    return f"{when} · {record.experiment.name} · {record.status.upper()}"


def status_badge(status: str) -> None:
    colour = STATUS_COLOUR.get(status, "gray")
    st.badge(status.upper(), color=colour)  # type: ignore[arg-type]


def pick_run(runs: Sequence[Run], label: str, key: str, default: int = -1) -> Run | None:
    """A run chosen in a select box; the query parameter `key` (its folder's name, the run
    id unless the run was copied) preselects it."""
    if not runs:
        return None
    folders = [path.name for path, _ in runs]
    wanted = st.query_params.get(key)
    index = folders.index(wanted) if wanted in folders else default % len(runs)
    choice = st.selectbox(
        label, range(len(runs)), index=index, key=f"pick-{key}",
        format_func=lambda i: folder_label(*runs[i]),
    )  # fmt: skip
    st.query_params[key] = folders[choice]
    return runs[choice]


def folder_label(path: Path, record: RunRecord) -> str:
    """`run_label`, with the folder when it is not named by the run's id (a copied run)."""
    label = run_label(record)
    return label if path.name == record.id else f"{label} · {path.name}"


def verdict_frame(record: RunRecord) -> pd.DataFrame:
    """The SLO verdicts as a table: SLO, phase, measured, threshold, result."""
    return pd.DataFrame(verdict_rows(record), columns=list(VERDICT_COLUMNS))


def _result_style(value: object) -> str:
    if value == "PASS":
        return "color: #1b7f5a; font-weight: 600"
    if value == "FAIL":
        return "color: #c1121f; font-weight: 700; background-color: #fde2e4"
    if value == "INCONCLUSIVE":
        return "color: #8a6d00; font-weight: 700; background-color: #fff3bf"
    return ""


def show_verdicts(record: RunRecord) -> None:
    frame = verdict_frame(record)
    if frame.empty:
        st.info(no_verdicts_text(record))
        return
    styled = frame.style.map(_result_style, subset=["result"])
    st.dataframe(styled, hide_index=True, width="stretch")


def headline(record: RunRecord, names: Sequence[str] = ()) -> None:
    """The headline numbers as metric tiles."""
    chosen = names or TILES
    for column, name in zip(st.columns(len(chosen)), chosen, strict=True):
        column.metric(LABELS.get(name, name), summary_text(name, record.summary), border=True)


def number_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """Column formats for a table of metrics: ms with 2 decimals, rates as %, ..."""
    config: dict[str, Any] = {}
    for column in frame.columns:
        name = str(column)
        if name.endswith("_ms"):
            config[name] = st.column_config.NumberColumn(_title(name), format="%.2f ms")
        elif name in ("error_rate", "trace_completeness") or name.endswith("_share"):
            config[name] = st.column_config.NumberColumn(_title(name), format="percent")
        elif name in ("rps", "sidecar_cpu_per_krps") or name.endswith("cpu_cores"):
            config[name] = st.column_config.NumberColumn(_title(name), format="%.3g")
        elif name.endswith("_mb"):
            config[name] = st.column_config.NumberColumn(_title(name), format="%.1f MB")
    return config


def _title(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    text = name.removesuffix("_ms").replace("corrected_", "corrected ").replace("_", " ")
    text = (
        text.replace("rss mb", "RSS")
        .replace("cpu cores", "CPU cores")
        .replace("share", "sidecar / service")
    )
    return text.replace("p999", "p99.9")


def table(frame: pd.DataFrame) -> None:
    """A metrics table: units in the headers' formats; short tables shown whole."""
    frame = frame.dropna(axis="columns", how="all") if len(frame) else frame
    config = number_columns(frame)
    if len(frame) <= 25:
        st.dataframe(
            frame, hide_index=True, width="stretch", column_config=config, height="content"
        )
    else:
        st.dataframe(frame, hide_index=True, width="stretch", column_config=config)
