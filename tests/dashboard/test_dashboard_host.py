"""The host's disturbance on the Run page, in the HTML report and in report.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from harness.report import figures as report_figures
from harness.report.host import HOST_COLUMNS, host_timeline
from harness.report.host_text import HOST_TABLE_COLUMNS, host_rows
from harness.report.html import write_html
from harness.store import load_run
from tests.dashboard.apptest import dashboard, figures, frame_with, open_page


@pytest.fixture
def app(reports: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The dashboard app, reading the generated reports folder."""
    return dashboard(reports, monkeypatch)


def test_host_view_is_the_windows_host_columns(run_dirs: dict[str, Path]) -> None:
    """host_timeline reads the per-second host columns of windows.parquet unchanged."""
    run = run_dirs["new"]
    ours = host_timeline(run)
    theirs = pq.read_table(run / "windows.parquet").to_pandas()
    assert list(ours.columns) == ["second", *HOST_COLUMNS]
    np.testing.assert_allclose(ours["foreign_cpu_cores"], theirs["foreign_cpu_cores"])
    np.testing.assert_allclose(ours["sched_lag_p99_ms"], theirs["sched_lag_p99_ms"])


def test_a_run_without_the_probe_draws_the_timeline_without_host_rows(
    run_dirs: dict[str, Path], tmp_path: Path
) -> None:
    """Windows without host columns (an older run): empty view, a three-row timeline."""
    frame = pq.read_table(run_dirs["new"] / "windows.parquet").to_pandas()
    old = tmp_path / "old-run"
    old.mkdir()
    frame.drop(columns=list(HOST_COLUMNS)).to_parquet(old / "windows.parquet")
    assert host_timeline(old).empty
    record = load_run(run_dirs["new"])
    figure = report_figures.timeline_figure(frame, record.faults, record.phases, host_timeline(old))
    assert "yaxis4" not in figure.layout.to_plotly_json()


def test_run_page_draws_the_host_under_the_timeline_and_tables_it_by_phase(
    app: AppTest, run_dirs: dict[str, Path]
) -> None:
    """The timeline has the scheduling lag, foreign CPU and load; a table per phase."""
    record = load_run(run_dirs["new"])
    open_page(app, "run", run=record.id)
    names = {trace.get("name") for figure in figures(app) for trace in figure["data"]}
    assert {"scheduling lag p99", "foreign CPU cores", "load average", "steal %"} <= names
    table = frame_with(app, "scheduling lag p50 / p99 / max").set_index("phase")
    assert list(table.columns) == list(HOST_TABLE_COLUMNS[1:])
    whole = record.phase_summary("whole")
    assert whole is not None and whole.host is not None
    assert table.loc["whole", "load (max)"] == f"{whole.host.load1_max:.2f}"


def test_report_md_and_html_have_a_host_section(run_dirs: dict[str, Path], tmp_path: Path) -> None:
    """report.md has a Host table row per phase; the HTML report the same rows."""
    run = run_dirs["new"]
    record = load_run(run)
    report = (run / "report.md").read_text()
    host = report.split("## Host", 1)[1].split("\n## ", 1)[0]
    rows = host_rows(record)
    assert len(rows) == len(record.phase_summaries) > 3
    for row in rows:
        assert f"| {row[0]} | {row[1]} |" in host
    assert "the probe itself used 0.9 % of a core" in host
    out = write_html(run, tmp_path / "report.html")
    assert "scheduling lag p50 / p99 / max" in out.read_text()
