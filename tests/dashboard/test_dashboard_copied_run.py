"""A run copied under the reports folder (two folders, one run id) on the dashboard."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.dashboard.apptest import dashboard, frame_with, open_page
from tests.fixtures.make_run import make_run


def test_a_copied_run_is_listed_and_opened_by_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both folders are listed and offered apart, and each opens by its own folder name."""
    run = make_run(tmp_path, seed=3, rps=40.0, started_at=datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    copy = tmp_path / f"{run.name}-copy"
    shutil.copytree(run, copy)
    app = dashboard(tmp_path, monkeypatch)
    app.run()
    assert not app.exception
    for folder in (copy.name, run.name):
        page = open_page(dashboard(tmp_path, monkeypatch), "run", run=folder)
        assert page.query_params["run"] == folder
    offered = app.selectbox[0].options
    assert len(offered) == 2 and sum(label.endswith(copy.name) for label in offered) == 1
    runs = frame_with(app, "id")
    assert list(runs["id"]) == [run.name, run.name]
    assert sorted(runs["folder"]) == [run.name, copy.name]
