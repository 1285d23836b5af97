"""Runs: every run of the reports folder, filtered by experiment and status; open one."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import pandas as pd
import streamlit as st

from dashboards import data, widgets
from harness.report.text import intended_rate, load_text, record_tally, tally_text
from harness.store.reader import shown

COLUMNS = [
    "started",
    "experiment",
    "status",
    "open",
    "rps",
    "intended rps",
    "load",
    "p99_ms",
    "error_rate",
    "trace_completeness",
    "sidecar_cpu_per_krps",
    "SLOs passed",
    "duration_s",
    "runtime",
    "mode",
    "id",
    "folder",
]


def runs_frame(runs: Sequence[widgets.Run]) -> pd.DataFrame:
    """One row per run, newest first, with its headline numbers; a run is opened by its
    folder (two folders hold one run id when a run was copied)."""
    rows = []
    for path, record in runs:
        rows.append(
            {
                "started": pd.Timestamp(record.started_at).tz_localize(None),
                "experiment": record.experiment.name,
                "status": record.status,
                "runtime": record.runtime,
                "mode": record.mode,
                "duration_s": record.duration_s,
                "rps": record.summary.rps,
                "intended rps": intended_rate(record.summary.rps, record.summary.target_rps),
                "load": load_text(record.summary.late_share, record.summary.max_send_lag_ms),
                "p99_ms": record.summary.p99_ms,
                "error_rate": record.summary.error_rate,
                "trace_completeness": record.summary.trace_completeness,
                "sidecar_cpu_per_krps": record.summary.sidecar_cpu_per_krps,
                "SLOs passed": tally_text(record_tally(record)),
                "id": record.id,
                "folder": path.name,
                "open": f"run?run={quote(path.name)}",
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values("started", ascending=False, kind="stable").reset_index(drop=True)


def _load_style(value: object) -> str:
    behind = isinstance(value, str) and value.startswith("BEHIND")
    return "color: #c1121f; font-weight: 700" if behind else ""


def _status_style(value: object) -> str:
    colour = {"passed": "#1b7f5a", "failed": "#c1121f", "inconclusive": "#8a6d00",
              "aborted": "#b26b00", "error": "#c1121f"}  # fmt: skip
    return f"color: {colour[value]}; font-weight: 600" if value in colour else ""


def _tiles(frame: pd.DataFrame) -> None:
    counts = frame["status"].value_counts()
    tiles = st.columns(5)
    tiles[0].metric("runs", len(frame), border=True)
    statuses = ("passed", "failed", "inconclusive", "aborted")
    for tile, status in zip(tiles[1:], statuses, strict=True):
        tile.metric(status, int(counts.get(status, 0)), border=True)


def main() -> None:
    st.title("Runs")
    reports = data.reports_dir()
    st.caption(f"Every run in the reports folder `{reports}`, newest first.")
    entries = data.records(reports)
    readable = [(path, record) for path, record, _ in entries if record is not None]
    if not readable:
        st.info(f"No runs in `{reports}` yet: `meshproof run experiments/<name>.yaml` makes one.")
    else:
        _runs(runs_frame(readable))
    broken = [(path, problem) for path, record, problem in entries if record is None]
    if broken:
        what = "run directory" if len(broken) == 1 else "run directories"
        with st.expander(f"{len(broken)} {what} could not be read"):
            for path, problem in broken:
                st.markdown(f"- `{shown(path.name)}`: {widgets.plain_markdown(problem)}")


def _runs(frame: pd.DataFrame) -> None:
    left, right = st.columns(2)
    experiments = left.multiselect("experiment", sorted(frame["experiment"].unique()))
    statuses = right.multiselect("status", sorted(frame["status"].unique()))
    if experiments:
        frame = frame[frame["experiment"].isin(experiments)]
    if statuses:
        frame = frame[frame["status"].isin(statuses)]
    _tiles(frame)
    config = widgets.number_columns(frame)
    config["duration_s"] = st.column_config.NumberColumn("duration", format="%.0f s")
    config["started"] = st.column_config.DatetimeColumn(
        "started (UTC)", format="YYYY-MM-DD HH:mm:ss"
    )
    config["rps"] = st.column_config.NumberColumn(
        "RPS", format="%.3g", help="achieved: answers per second of measured time"
    )
    config["intended rps"] = st.column_config.NumberColumn(
        "intended RPS", format="%.3g", help="the schedule's rate, shown when the RPS is off it"
    )
    config["load"] = st.column_config.TextColumn(
        "load", help="on time, or BEHIND its schedule: share of requests late, largest lag"
    )
    styled = frame.style.map(_status_style, subset=["status"]).map(_load_style, subset=["load"])
    st.dataframe(styled, hide_index=True, width="stretch", column_config=config)
    if frame.empty:
        return
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    labels = {
        row.folder: f"{row.started:%Y-%m-%d %H:%M:%S} · {row.experiment} · {row.status}"
        + ("" if row.folder == row.id else f" · {row.folder}")
        for row in frame.itertuples(index=False)
    }
    chosen = left.selectbox("open a run", list(labels), format_func=labels.__getitem__)
    if right.button("Open run", type="primary", width="stretch"):
        st.switch_page("views/run.py", query_params={"run": chosen})


if __name__ == "__main__":
    main()
