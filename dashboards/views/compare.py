"""Compare: two runs side by side — the judge's verdict, deltas with intervals, distributions.

The judgement is `harness.compare.compare_runs` (latency on time windows: Mann-Whitney with
Hodges-Lehmann bands on the windows' medians, block-bootstrap bands on percentiles;
proportions tests; a Kayenta-like score), each metric with its unit and where its
tolerance came from (a stored calibration or the defaults); the plain headline deltas and
both runs' SLO verdicts are shown beside it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboards import data, widgets
from harness.compare import ComparisonResult
from harness.compare.output import tolerance_line
from harness.report import deltas, figures
from harness.store import RunRecord
from mesh_runtime.errors import MeshproofError

CHART = {"displaylogo": False}


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
    for section in (_distributions, _phases):
        try:
            section(base, cand)
        except MeshproofError as exc:  # a table of either run that cannot be read
            st.warning(widgets.plain_markdown(f"{section.__name__.strip('_')}: {exc}"))
    st.subheader("SLO verdicts")
    side = deltas.verdicts_side_by_side(base[1], cand[1])
    styled = side.style.map(_style_result, subset=["baseline", "candidate"])
    st.dataframe(styled, hide_index=True, width="stretch")


def _judgement(base: Path, cand: Path) -> None:
    st.subheader("Judgement")
    try:
        result = data.comparison(str(base), data.stamp(base), str(cand), data.stamp(cand))
    except MeshproofError as exc:
        st.warning(widgets.plain_markdown(f"The runs could not be compared: {exc}"))
        return
    colour = {"Pass": "green", "Marginal": "orange", "Fail": "red", "Inconclusive": "yellow"}.get(
        result.verdict, "gray"
    )
    st.badge(f"{result.verdict.upper()} · score {result.score:.0f}", color=colour)  # type: ignore[arg-type]
    tiles = st.columns(4)
    tiles[0].metric("verdict", result.verdict, border=True)
    tiles[1].metric("score", f"{result.score:.0f} / 100", border=True)
    tiles[2].metric("metrics passed", f"{result.passed} of {result.judged}", border=True)
    tiles[3].metric("critical failures", str(len(result.critical_failures)), border=True)
    if result.critical_failures:
        st.error("Critical metrics failed: " + ", ".join(result.critical_failures))
    for note in result.notes:
        st.caption(note)
    frame = judged_frame(result)
    st.plotly_chart(figures.interval_figure(frame), config=CHART)
    styled = frame.style.map(_style_class, subset=["classification"])
    config = {
        name: st.column_config.NumberColumn(format="%.4g")
        for name in ("baseline", "candidate", "delta", "low", "high", "tolerance", "request_shift")
    }
    config["p_value"] = st.column_config.NumberColumn("p-value", format="%.3g")
    st.dataframe(styled, hide_index=True, width="stretch", column_config=config, height="content")
    st.caption(
        f"Tests at alpha {result.alpha:g}; latency on time windows (`sample_unit`, n a side: "
        "each window's median, or whole windows drawn by a block bootstrap), never on every "
        "request as an independent draw (`request_shift` is the per-request shift, shown "
        "only for comparison); delta is candidate minus baseline with its confidence band; "
        "High / Low beyond the tolerance in the harmful direction fails the metric "
        "(Kayenta's judge)."
    )
    st.caption(tolerance_line(result))


def judged_frame(result: ComparisonResult) -> pd.DataFrame:
    """The judge's metrics as a table, the failed ones first."""
    columns = ["metric", "unit", "classification", "baseline", "candidate", "delta", "low",
               "high", "tolerance", "tolerance_source", "sample_unit", "baseline_n",
               "candidate_n", "request_shift", "p_value", "critical", "failed", "method",
               "reason"]  # fmt: skip
    frame = pd.DataFrame([m.model_dump() for m in result.metrics])
    if frame.empty:
        return pd.DataFrame(columns=columns)
    return frame.sort_values("failed", ascending=False, kind="stable")[columns]


def _style_class(value: object) -> str:
    return {"Pass": "color: #1b7f5a", "High": "color: #c1121f; font-weight: 700",
            "Low": "color: #c1121f; font-weight: 700"}.get(str(value), "color: #6c757d")  # fmt: skip


def _deltas(base: RunRecord, cand: RunRecord) -> None:
    st.subheader("Headline numbers, plain deltas")
    frame = deltas.headline_deltas(base, cand)
    frame["metric"] = frame["metric"].map(lambda m: widgets.LABELS.get(m, m))
    config = {
        "baseline": st.column_config.NumberColumn(format="%.4g"),
        "candidate": st.column_config.NumberColumn(format="%.4g"),
        "delta": st.column_config.NumberColumn(format="%+.3g"),
        "change": st.column_config.NumberColumn(format="percent"),
    }
    styled = frame.style.map(_style_direction, subset=["direction"])
    st.dataframe(styled, hide_index=True, width="stretch", column_config=config, height="content")
    st.caption("Direction is descriptive (a change beyond 5 % of the baseline), not a test.")


def _distributions(base: tuple[Path, RunRecord], cand: tuple[Path, RunRecord]) -> None:
    st.subheader("Latency distributions (measured part of each run)")
    histograms, ladders = {}, {}
    for role, (path, record) in (("baseline", base), ("candidate", cand)):
        version = data.stamp(path)
        histograms[role] = data.histogram(str(path), version, record.whole_phase())
        ladders[role] = data.ladder(str(path), version, record.whole_phase())
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
