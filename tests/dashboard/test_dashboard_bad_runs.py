"""The dashboard on a reports folder holding damaged runs: the damaged run is named as
unreadable (or its section warns, naming the file), the other runs still show, and no
page ends in an exception."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.dashboard.apptest import as_written, dashboard, frame_with, open_page
from tests.fixtures.make_run import make_run


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two good runs of catalog-503; a copy of one whose run.json start time is no time;
    a copy of the other whose requests.parquet is garbage."""
    root = tmp_path_factory.mktemp("damaged-reports")
    old = make_run(root, seed=3, started_at=datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    new = make_run(root, seed=7, started_at=datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    no_time = root / "20261126T030000Z-catalog-503"
    shutil.copytree(old, no_time)
    record = json.loads((no_time / "run.json").read_text())
    record.update(id=no_time.name, started_at="yesterday")
    (no_time / "run.json").write_text(json.dumps(record))
    garbage = root / "20261126T040000Z-catalog-503"
    shutil.copytree(new, garbage)
    record.update(
        id=garbage.name, started_at="2026-11-26T04:00:00Z", ended_at="2026-11-26T04:00:45Z"
    )
    (garbage / "run.json").write_text(json.dumps(record))
    (garbage / "requests.parquet").write_bytes(b"not parquet" * 100)
    return {"root": root, "old": old, "new": new, "no_time": no_time, "garbage": garbage}


def test_a_start_time_that_is_no_time_leaves_the_runs_page_standing(
    damaged: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """run.json's started_at 'yesterday': the run is listed as unreadable, naming the
    field; the other runs still list (the page was a DateParseError for every run)."""
    app = dashboard(damaged["root"], monkeypatch)
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    assert damaged["no_time"].name not in set(frame_with(app, "id")["id"])
    assert [e.label for e in app.expander] == ["1 run directory could not be read"]
    named = " ".join(as_written(m.value) for m in app.markdown)
    assert f"`{damaged['no_time'].name}`: started_at: expected an ISO 8601 time" in named


def test_compare_page_warns_of_a_table_it_cannot_read(
    damaged: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The candidate's requests.parquet is garbage: the judgement, the distributions and
    the phase table each warn naming the file; the rest of the page is drawn (the
    distributions were an exception box with a traceback)."""
    app = dashboard(damaged["root"], monkeypatch)
    garbage = damaged["garbage"]
    open_page(app, "compare", baseline=damaged["new"].name, candidate=garbage.name)
    warnings = [as_written(w.value) for w in app.warning]
    table = f"{garbage}/requests.parquet: cannot read the table"
    assert any(w.startswith("The runs could not be compared: ") and table in w for w in warnings)
    assert any(w.startswith(f"distributions: {table}") for w in warnings), warnings
    assert any(w.startswith(f"phases: {table}") for w in warnings), warnings
