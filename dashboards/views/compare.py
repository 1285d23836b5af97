"""Compare: two runs side by side — distributions overlaid, deltas, verdicts.

When `harness.compare` offers `compare_runs(baseline_dir, candidate_dir)` its judgement
(Mann-Whitney, Kayenta-like score) is shown; the plain deltas are shown either way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import data, widgets
from harness.report import deltas, figures
from harness.store import RunRecord

CHART = {"displaylogo": False}


def compare_function() -> Callable[[Path, Path], Any] | None:
    """`harness.compare.compare_runs` if that package exists (it is built in parallel)."""
    try:
        module = importlib.import_module("harness.compare")
    except ImportError:
        return None
    found = getattr(module, "compare_runs", None)
    return found if callable(found) else None


def _style_direction(value: object) -> str:
    colours = {"better": "#1b7f5a", "worse": "#c1121f", "same": "#6c757d"}
    return f"color: {colours[value]}; font-weight: 600" if value in colours else ""


def _style_result(value: object) -> str:
    return {"PASS": "color: #1b7f5a", "FAIL": "color: #c1121f; font-weight: 700"}.get(
        str(value), ""
    )


def main() -> None:
    st.title("Compare")
    reports = data.reports_dir()
    runs = [(path, record) for path, record, _ in data.records(reports) if record is not None]
    if len(runs) < 2:
        st.info(f"Comparing needs two runs; `{reports}` has {len(runs)}.")
        return
    with st.sidebar:
        base = widgets.pick_run(runs, "baseline", "baseline", default=-2)
        cand = widgets.pick_run(runs, "candidate", "candidate", default=-1)
    assert base is not None and cand is not None
    st.caption(
        f"baseline **{widgets.run_label(base[1])}** vs candidate **{widgets.run_label(cand[1])}**"
    )
    if base[0] == cand[0]:
        st.warning("The baseline and the candidate are the same run.")
    _judgement(base[0], cand[0])
    _deltas(base[1], cand[1])
    _distributions(base, cand)
    _phases(base, cand)
    st.subheader("SLO verdicts")
    side = deltas.verdicts_side_by_side(base[1], cand[1])
    styled = side.style.map(_style_result, subset=["baseline", "candidate"])
    st.dataframe(styled, hide_index=True, width="stretch")


def _judgement(base: Path, cand: Path) -> None:
    compare = compare_function()
    if compare is None:
        st.caption("Statistical judgement: `harness.compare` is not installed; plain deltas below.")
        return
    st.subheader("Judgement")
    try:
        result = compare(base, cand)
    except Exception as exc:  # a judge in progress must not take the page down
        st.warning(f"harness.compare failed: {exc}")
        return
    summary = {k: getattr(result, k) for k in ("verdict", "score") if hasattr(result, k)}
    if summary:
        tiles = st.columns(len(summary))
        for tile, (name, value) in zip(tiles, summary.items(), strict=True):
            tile.metric(name, str(value), border=True)
    metrics = getattr(result, "metrics", None)
    if metrics:
        rows = [m.model_dump() if hasattr(m, "model_dump") else vars(m) for m in metrics]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _deltas(base: RunRecord, cand: RunRecord) -> None:
    st.subheader("Headline numbers")
    frame = deltas.headline_deltas(base, cand)
    frame["metric"] = frame["metric"].map(lambda m: widgets.LABELS.get(m, m))
    config = {
        "baseline": st.column_config.NumberColumn(format="%.4g"),
        "candidate": st.column_config.NumberColumn(format="%.4g"),
        "delta": st.column_config.NumberColumn(format="%+.3g"),
        "change": st.column_config.NumberColumn(format="percent"),
    }
    styled = frame.style.map(_style_direction, subset=["direction"])
    st.dataframe(styled, hide_index=True, width="stretch", column_config=config)
    st.caption("Direction is descriptive (a change beyond 5 % of the baseline), not a test.")


def _distributions(base: tuple[Path, RunRecord], cand: tuple[Path, RunRecord]) -> None:
    st.subheader("Latency distributions (measured part of each run)")
    histograms, ladders = {}, {}
    for role, (path, record) in (("baseline", base), ("candidate", cand)):
        version = data.stamp(path)
        histograms[role] = data.histogram(str(path), version, widgets.whole_phase(record))
        ladders[role] = data.ladder(str(path), version, widgets.whole_phase(record))
    left, right = st.columns(2)
    left.plotly_chart(figures.distribution_figure(histograms), config=CHART)
    right.plotly_chart(figures.ladder_figure(ladders, corrected=False), config=CHART)


def _phases(base: tuple[Path, RunRecord], cand: tuple[Path, RunRecord]) -> None:
    st.subheader("p99 by phase")
    frames = []
    for role, (path, record) in (("baseline", base), ("candidate", cand)):
        table = data.phase_percentiles(str(path), data.stamp(path), tuple(record.phases))
        frames.append(table.set_index("phase")[["p99_ms", "error_rate"]].add_prefix(f"{role} "))
    joined = pd.concat(frames, axis=1).reset_index()
    config = {
        column: st.column_config.NumberColumn(
            format="%.2f ms" if column.endswith("p99_ms") else "percent"
        )
        for column in joined.columns
        if column != "phase"
    }
    st.dataframe(joined, hide_index=True, width="stretch", column_config=config)


if __name__ == "__main__":
    main()
