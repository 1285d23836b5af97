"""A run folder copied under the reports folder keeps its run.json id: the gate's history
counted that run twice (biasing its median). It counts it once and says it left the
copy out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.gate import GateSettings
from harness.gate.gate import gate_run
from tests.unit.gate.test_gate_unreadable_history import write_run

COPIED = "20260102T000000Z-baseline"
LATEST = "20260105T000000Z-baseline"


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """Runs of days 1-5, and day 2's folder copied as `keep-day2` (same run.json id)."""
    for day in range(1, 6):
        write_run(tmp_path, day)
    shutil.copytree(tmp_path / COPIED, tmp_path / "keep-day2")
    return tmp_path


def test_a_copied_run_is_in_the_history_once(reports: Path) -> None:
    """Four earlier runs, each once; the copy's folder is named as left out."""
    result = gate_run(reports / LATEST, None, GateSettings())
    assert result.history == [f"202601{day:02d}T000000Z-baseline" for day in range(1, 5)]
    assert result.duplicates == [f"keep-day2: a copy of run {COPIED}, in {COPIED}"]
    assert result.skipped == []


def test_the_cli_says_it_left_the_copy_out(
    reports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line on the terminal and in gate.md, and the headline counts it."""
    out = tmp_path / "gate-out"
    assert main(["gate", str(reports / LATEST), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"left out of the history, duplicate: keep-day2: a copy of run {COPIED}" in printed
    assert "history of 4 earlier runs; 1 copy of a run left out" in printed
    assert "- left out of the history, duplicate: keep-day2" in (out / "gate.md").read_text()
