"""The calibration benchmark's runs (`harness.bench.calibrate_compare.judged_runs`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.bench.calibrate_compare import judged_runs
from tests.unit.gate.test_gate_unreadable_history import write_run


def test_a_copied_run_folder_is_judged_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Day 2's folder copied as `keep-day2` is the same run (same id): paired with its
    original it would be a sure 'identical' pass. It is left out, and said so."""
    for day in (1, 2, 3):
        write_run(tmp_path, day)
    shutil.copytree(tmp_path / "20260102T000000Z-baseline", tmp_path / "keep-day2")
    runs = judged_runs(tmp_path)
    assert [run.path.name for run in runs] == [
        f"202601{day:02d}T000000Z-baseline" for day in (1, 2, 3)
    ]
    assert "left out, duplicate: keep-day2: a copy of run 20260102T000000Z-baseline" in (
        capsys.readouterr().err
    )
