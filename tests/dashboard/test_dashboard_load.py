"""The dashboard shows the RPS achieved (intended beside it) and when the load fell behind."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from harness.store import load_run
from tests.dashboard.apptest import dashboard, frame_with, open_page
from tests.fixtures.make_run import make_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A run whose load kept its schedule and one that fell 30 s behind during its fault
    (so requests were still unanswered when it ended: the RPS achieved is below the rate)."""
    root = tmp_path_factory.mktemp("reports")
    return {
        "on_time": make_run(root, seed=1, started_at=datetime(2026, 2, 1, tzinfo=UTC)),
        "behind": make_run(
            root, seed=2, behind_s=30.0, started_at=datetime(2026, 2, 2, tzinfo=UTC)
        ),
    }


@pytest.fixture
def app(runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return dashboard(runs["on_time"].parent, monkeypatch)


def test_runs_table_marks_the_run_that_fell_behind(app: AppTest, runs: dict[str, Path]) -> None:
    """Runs: the achieved RPS, the intended rate only where they differ, and a BEHIND mark."""
    app.run()
    assert not app.exception
    table = frame_with(app, "load").set_index("id")
    behind, on_time = load_run(runs["behind"]), load_run(runs["on_time"])
    assert table.loc[behind.id, "load"].startswith("BEHIND: ")
    assert table.loc[behind.id, "load"].endswith("lag up to 29.9 s")
    assert table.loc[on_time.id, "load"] == "on time"
    assert math.isclose(table.loc[behind.id, "rps"], behind.summary.rps or 0)
    assert (behind.summary.rps or 0) < 0.95 * 50
    assert table.loc[behind.id, "intended rps"] == pytest.approx(50.0)
    assert math.isnan(table.loc[on_time.id, "intended rps"])


def test_run_page_warns_and_shows_both_rates(app: AppTest, runs: dict[str, Path]) -> None:
    """Run: a warning banner naming the lag, the RPS tile with the intended rate, and the
    phase whose load fell behind marked in the phases table."""
    record = load_run(runs["behind"])
    open_page(app, "run", run=record.id)
    warnings = [w.value for w in app.warning]
    assert any(w.startswith("LOAD FELL BEHIND its schedule") for w in warnings), warnings
    tiles = {m.label: m.value for m in app.metric}
    assert tiles["RPS"].endswith("(intended 50)")
    phases = frame_with(app, "late_share").set_index("phase")
    assert phases.loc["during:catalog-503", "load"].startswith("BEHIND")
    assert phases.loc["before", "load"] == "on time"
    assert phases.loc["during:catalog-503", "intended rps"] == pytest.approx(50.0)


def test_run_page_of_an_on_time_run_has_no_warning(app: AppTest, runs: dict[str, Path]) -> None:
    """A run whose load kept its schedule: no banner, the RPS tile alone."""
    record = load_run(runs["on_time"])
    open_page(app, "run", run=record.id)
    assert not any("FELL BEHIND" in w.value for w in app.warning)
    tiles = {m.label: m.value for m in app.metric}
    assert "intended" not in tiles["RPS"]
