"""Each dashboard page run by Streamlit's AppTest against generated run directories."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from harness.compare import compare_runs
from harness.report.text import format_value
from harness.store import load_run
from tests.dashboard.apptest import as_written, dashboard, figures, frame_with, open_page
from tests.fixtures.make_run import make_run, note_run


@pytest.fixture
def app(reports: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The dashboard app, reading the generated reports folder."""
    return dashboard(reports, monkeypatch)


def test_runs_page_lists_every_readable_run(app: AppTest, run_dirs: dict[str, Path]) -> None:
    """The Runs page lists each readable run with its status and numbers, and names the broken one."""
    app.run()
    assert not app.exception
    assert [t.value for t in app.title] == ["Runs"]
    runs = frame_with(app, "id")
    assert sorted(runs["id"]) == sorted(path.name for path in run_dirs.values())
    by_id = runs.set_index("id")
    new = load_run(run_dirs["new"])
    assert by_id.loc[new.id, "status"] == "failed"
    assert by_id.loc[run_dirs["aborted"].name, "status"] == "aborted"
    assert math.isclose(by_id.loc[new.id, "p99_ms"], new.summary.p99_ms or 0)
    assert by_id.loc[new.id, "SLOs passed"] == "6/7"
    tiles = {m.label: m.value for m in app.metric}
    assert tiles == {"runs": "4", "passed": "0", "failed": "3", "inconclusive": "0", "aborted": "1"}
    broken = " ".join(m.value for m in app.markdown)
    assert "20261123T020000Z-broken" in broken
    assert "compare" not in broken and "calibration" not in broken
    assert [e.label for e in app.expander] == ["1 run directory could not be read"]


def test_runs_page_filters_by_experiment_and_status(app: AppTest) -> None:
    """Choosing an experiment and a status leaves only the matching runs."""
    app.run()
    app.multiselect[0].set_value(["catalog-503"]).run()
    assert set(frame_with(app, "id")["experiment"]) == {"catalog-503"}
    app.multiselect[1].set_value(["aborted"]).run()
    runs = frame_with(app, "id")
    assert list(runs["status"]) == ["aborted"]
    assert not app.exception


def test_open_run_button_opens_the_chosen_run(app: AppTest, run_dirs: dict[str, Path]) -> None:
    """'Open run' switches to the Run page of the run chosen in the select box."""
    app.run()
    app.selectbox[0].set_value(run_dirs["canary"].name).run()
    app.button[0].click().run()
    assert not app.exception
    assert app.query_params["run"] == run_dirs["canary"].name
    assert app.title[0].value == load_run(run_dirs["canary"]).experiment.title


def test_run_page_warns_of_a_scaled_run_s_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Run page of a `--duration` run with a fault cut short: one warning under the
    headline with report.md's lines, a note's `<b>` escaped to show as text; the same run
    neither scaled nor noted has no such warning."""
    run_dir = make_run(tmp_path)
    note_run(run_dir, ["fault roll was cut short: <b>partial</b>"], scaled_from_s=65.0)
    app = open_page(dashboard(tmp_path, monkeypatch), "run", run=run_dir.name)
    assert [w.value for w in app.warning] == [
        "- scaled with \\-\\-duration from the experiment file\\'s own 65s\n"
        "- note\\: fault roll was cut short\\: \\<b\\>partial\\<\\/b\\>"
    ]
    note_run(run_dir, [])
    app = open_page(dashboard(tmp_path, monkeypatch), "run", run=run_dir.name)
    assert not any("note" in w.value or "scaled" in w.value for w in app.warning)


def test_run_page_shows_a_runs_error_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's error holding Markdown (`*`, `$...$`, `<b>`; a path's `_x_`) is shown as
    text, escaped, not rendered as emphasis, LaTeX or HTML."""
    run_dir = make_run(tmp_path)
    record = load_run(run_dir)
    said = "rollback of *catalog* failed: $HOME/_old_/x costs $5 <b>now</b>"
    broken = record.model_copy(update={"status": "error", "error": said})
    (run_dir / "run.json").write_text(broken.model_dump_json(), encoding="utf-8")
    app = open_page(dashboard(tmp_path, monkeypatch), "run", run=run_dir.name)
    (shown,) = [e.value for e in app.error]
    assert as_written(shown) == f"error: {said}", shown
    assert not re.search(r"(?<!\\)[*$<_]", shown), f"unescaped Markdown in {shown!r}"


def test_run_page_shows_verdicts_numbers_and_views(app: AppTest, run_dirs: dict[str, Path]) -> None:
    """The Run page shows the run's verdicts, headline tiles, phase percentiles, edges and traces."""
    record = load_run(run_dirs["new"])
    open_page(app, "run", run=record.id)
    assert app.title[0].value == record.experiment.title
    verdicts = frame_with(app, "SLO").set_index("SLO")
    assert verdicts.loc["max_error_rate_1s < 0.02 during:catalog-503", "result"] == "FAIL"
    assert verdicts.loc["p99_ms < 250", "result"] == "PASS"
    assert verdicts.loc["p99_ms < 250", "measured"] == format_value("p99_ms", record.summary.p99_ms)
    tiles = {m.label: m.value for m in app.metric}
    assert tiles["p99"] == format_value("p99_ms", record.summary.p99_ms)
    assert tiles["outlier ejections"] == "2"
    phases = frame_with(app, "p99_ms").set_index("phase")
    assert math.isclose(phases.loc["whole", "p99_ms"], record.summary.p99_ms or 0, rel_tol=1e-9)
    assert phases.loc["whole", "requests"] == record.summary.requests
    edges = frame_with(app, "destination")
    pairs = set(zip(edges["source"], edges["destination"], strict=True))
    assert {("load", "gateway"), ("gateway", "frontend"), ("frontend", "catalog")} <= pairs
    missing = frame_with(app, "missing span")
    assert missing["traces"].sum() >= 1
    names = {trace.get("name") for figure in figures(app) for trace in figure["data"]}
    assert {"RPS", "p99", "p99 corrected", "retries"} <= names
    fault_bands = [s for f in figures(app) for s in f["layout"].get("shapes", [])]
    assert any(s.get("x0") == record.faults[0].start_s for s in fault_bands)


def test_run_page_of_an_aborted_run_says_why(app: AppTest, run_dirs: dict[str, Path]) -> None:
    """An aborted run's page shows the reason it was aborted."""
    open_page(app, "run", run=run_dirs["aborted"].name)
    assert any("interrupted by SIGINT" in e.value for e in app.error)


def test_compare_page_shows_deltas_of_both_runs(app: AppTest, run_dirs: dict[str, Path]) -> None:
    """Compare shows the judge's verdict, each run's headline numbers, their delta and verdicts."""
    old, new = load_run(run_dirs["old"]), load_run(run_dirs["new"])
    open_page(app, "compare", baseline=old.id, candidate=new.id)
    assert app.title[0].value == "Compare"
    judged = compare_runs(run_dirs["old"], run_dirs["new"])
    tiles = {m.label: m.value for m in app.metric}
    assert tiles["verdict"] == judged.verdict
    assert tiles["score"] == f"{judged.score:.0f} / 100"
    metrics = frame_with(app, "classification").set_index("metric")
    assert set(metrics.index) == {m.metric for m in judged.metrics}
    deltas = frame_with(app, "change").set_index("metric")
    assert math.isclose(deltas.loc["p99", "baseline"], old.summary.p99_ms or 0)
    assert math.isclose(deltas.loc["p99", "candidate"], new.summary.p99_ms or 0)
    assert math.isclose(deltas.loc["RPS", "delta"], (new.summary.rps or 0) - (old.summary.rps or 0))
    assert deltas.loc["RPS", "direction"] == "better"
    side = frame_with(app, "SLO").set_index("SLO")
    assert side.loc["max_error_rate_1s < 0.02 during:catalog-503"].tolist() == ["FAIL", "FAIL"]
    overlaid = [f for f in figures(app) if len(f["data"]) >= 2]
    assert overlaid, "the latency distributions of both runs are drawn in one chart"


def test_trends_page_draws_each_metric_with_its_slo(
    app: AppTest, run_dirs: dict[str, Path]
) -> None:
    """Trends draws one chart per headline metric over the experiment's runs, SLO line included."""
    open_page(app, "trends", experiment="catalog-503")
    assert app.title[0].value == "Trends"
    history = frame_with(app, "started_at")
    assert len(history) == 3
    charts = figures(app)
    titles = {f["layout"]["title"]["text"] for f in charts}
    assert {"p99", "error rate", "trace completeness"} <= titles
    p99 = next(f for f in charts if f["layout"]["title"]["text"] == "p99")
    assert [s["y0"] for s in p99["layout"]["shapes"]] == [250.0]
