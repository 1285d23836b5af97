"""Trends: one experiment over many runs — each headline metric against its SLO threshold."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data, widgets
from harness.report import figures, trends
from harness.report.text import plural
from harness.store import RunRecord
from harness.store.model import SUMMARY_METRICS

CHART = {"displaylogo": False}


def main() -> None:
    st.title("Trends")
    reports = data.reports_dir()
    records = [record for _, record, _ in data.records(reports) if record is not None]
    if not records:
        st.info(f"No runs in `{reports}` yet.")
        return
    counts = pd.Series([r.experiment.name for r in records]).value_counts()
    names = sorted(counts.index, key=lambda n: (-counts[n], n))
    wanted = st.query_params.get("experiment")
    with st.sidebar:
        name = st.selectbox(
            "experiment", names, index=names.index(wanted) if wanted in names else 0,
            format_func=lambda n: f"{n} ({plural(counts[n], 'run')})",
        )  # fmt: skip
    st.query_params["experiment"] = name
    runs = [r for r in records if r.experiment.name == name]
    st.caption(
        f"`{name}` over {plural(len(runs), 'run')}. A red diamond marks a run where the metric changed "
        "(E-divisive means, as the nightly gate tests); the dashed line is the SLO threshold."
    )
    _history(runs)


def _history(runs: list[RunRecord]) -> None:
    frame = trends.history(runs)
    thresholds = trends.slo_thresholds(runs[-1])
    status = frame["status"].value_counts()
    tiles = st.columns(5)
    tiles[0].metric("runs", len(frame), border=True)
    for tile, name in zip(tiles[1:], ("passed", "failed", "inconclusive", "aborted"), strict=True):
        tile.metric(name, int(status.get(name, 0)), border=True)
    metrics = [m for m in SUMMARY_METRICS if frame[m].notna().any()]
    columns = st.columns(2)
    for index, metric in enumerate(metrics):
        one = frame.assign(changed=trends.changed_runs(frame[metric].tolist()))
        op, threshold = thresholds.get(metric, (None, None))
        figure = figures.trend_figure(one, metric, threshold, op)
        figure.update_layout(title={"text": widgets.LABELS.get(metric, metric)})
        columns[index % 2].plotly_chart(figure, config=CHART)
    st.subheader("Runs")
    widgets.table(frame)


if __name__ == "__main__":
    main()
