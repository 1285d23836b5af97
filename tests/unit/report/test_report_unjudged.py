"""A run stopped before it judged its SLOs, as report.md and the HTML report say it: not
as an experiment without SLOs, nor as one that read metrics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.report.html import render_html
from harness.report.markdown import markdown_report
from harness.store.model import RunRecord
from harness.store.reader import load_run
from tests.fixtures.make_run import make_run


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("reports"))


def _as(source: Path, status: str, tables: list[str]) -> tuple[Path, RunRecord]:
    """A copy of the run as one stopped (or still going) before it judged any SLO."""
    target = source.parent / f"{source.name}-{status}"
    shutil.copytree(source, target)
    record = load_run(source).model_copy(
        update={"status": status, "verdicts": [], "tables": tables, "id": target.name,
                "error": "toxiproxy-server not found" if status == "error" else None}
    )  # fmt: skip
    (target / "run.json").write_text(json.dumps(record.model_dump(mode="json")))
    return target, record


def test_a_run_stopped_before_its_verdicts_says_so(finished: Path) -> None:
    """An errored run of an experiment with 7 SLOs: 'stopped before its 7 SLOs were judged'
    and 'stopped before any metrics' (it said 'No SLOs in this experiment', 'metrics from
    prometheus')."""
    run_dir, record = _as(finished, "error", [])
    text = markdown_report(record)
    page = render_html(run_dir)
    for shown in (text, page):
        assert "The run stopped (error) before its 7 SLOs were judged." in shown
        assert "stopped before any metrics" in shown and "metrics from" not in shown
        assert "no SLOs" not in shown.replace("No SLOs", "no SLOs")
