"""An earlier run in the gate's history whose run.json cannot be read is left out of the
history, and the gate says so (it was left out silently: a gate could pass with 'too
few earlier runs' and no word of the run it could not read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.main import main
from harness.gate import GateSettings
from harness.gate.gate import gate_run
from harness.store import ExperimentRef, RunRecord, Summary

BROKEN = "20260103T000000Z-baseline"


def write_run(reports: Path, day: int) -> Path:
    run_id = f"202601{day:02d}T000000Z-baseline"
    record = RunRecord(
        id=run_id,
        experiment=ExperimentRef(name="baseline"),
        status="passed",
        started_at=f"2026-01-{day:02d}T00:00:00Z",
        summary=Summary(requests=1000, p50_ms=10.0, p99_ms=40.0 + day % 2, error_rate=0.0),
    )
    (reports / run_id).mkdir()
    (reports / run_id / "run.json").write_text(record.model_dump_json())
    return reports / run_id


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """Runs of days 1, 2, 4 and 5; day 3's run.json was cut off mid-write."""
    for day in (1, 2, 4, 5):
        write_run(tmp_path, day)
    (tmp_path / BROKEN).mkdir()
    (tmp_path / BROKEN / "run.json").write_text('{"schema_version": 1, "id": ')
    return tmp_path


def test_the_gate_names_the_unreadable_run_it_left_out(reports: Path) -> None:
    """The result holds the run left out and why; the history holds the readable ones."""
    result = gate_run(reports / "20260105T000000Z-baseline", None, GateSettings())
    assert len(result.history) == 3
    assert result.skipped == [
        f"{BROKEN}: not valid JSON: Expecting value: line 1 column 29 (char 28)"
    ]


def test_a_later_unreadable_run_is_not_the_gates_business(reports: Path) -> None:
    """Gating day 2's run: day 3's broken run came after it, so nothing is said."""
    result = gate_run(reports / "20260102T000000Z-baseline", None, GateSettings())
    assert result.skipped == []


def test_the_cli_prints_and_writes_what_it_left_out(
    reports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line on the terminal and in gate.md, and the headline counts it."""
    out = tmp_path / "gate-out"
    code = main(["gate", str(reports / "20260105T000000Z-baseline"), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"left out of the history, unreadable: {BROKEN}: not valid JSON" in printed
    assert "history of 3 earlier runs; 1 unreadable left out" in printed
    assert f"- left out of the history, unreadable: {BROKEN}" in (out / "gate.md").read_text()
