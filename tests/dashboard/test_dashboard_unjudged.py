"""The Run page of a run still being written: its SLOs are not judged yet, which is not an
experiment without SLOs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.store.reader import load_run
from tests.dashboard.apptest import as_written, dashboard, open_page
from tests.fixtures.make_run import make_run


def test_a_run_still_going_says_its_slos_come_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Run page of a run being written (its run.json written early, no verdicts yet):
    its SLOs are judged when it ends; it said 'This experiment declares no SLOs'."""
    run_dir = make_run(tmp_path)
    record = load_run(run_dir).model_copy(update={"status": "running", "verdicts": []})
    (run_dir / "run.json").write_text(json.dumps(record.model_dump(mode="json")))
    app = open_page(dashboard(tmp_path, monkeypatch), "run", run=run_dir.name)
    infos = [i.value for i in app.info]
    assert "The run is still going: its 7 SLOs are judged when it ends." in infos
    assert "This experiment declares no SLOs." not in infos


def test_a_stopped_run_says_its_status_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An aborted run's error already starts 'aborted: ': the page says it once (it said
    'The run was aborted: aborted: ...'), and an error run reads 'error: ...'."""
    run_dir = make_run(tmp_path)
    record = load_run(run_dir)
    for status, error, shown in (
        ("aborted", "aborted: interrupted by SIGINT", "aborted: interrupted by SIGINT"),
        ("error", "shop: up failed", "error: shop: up failed"),
    ):
        stopped = record.model_copy(update={"status": status, "error": error})
        (run_dir / "run.json").write_text(json.dumps(stopped.model_dump(mode="json")))
        app = open_page(dashboard(tmp_path, monkeypatch), "run", run=run_dir.name)
        assert [as_written(e.value) for e in app.error] == [shown]
