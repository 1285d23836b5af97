"""`meshproof calibrate --history`: a run folder copied under the history folder keeps its
run.json id, and was calibrated on twice; it counts once and a line names the copy."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.calibrate import calibration_path, load_calibration
from harness.cli.main import main
from tests.fixtures.make_run import make_run

EXPERIMENT = "catalog-503"


def test_a_copied_run_is_calibrated_on_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three runs and a copy of the first, four asked: three used, the copy named."""
    runs = [
        make_run(tmp_path, seed=day, rps=20, started_at=datetime(2026, 1, day, tzinfo=UTC))
        for day in range(1, 4)
    ]
    shutil.copytree(runs[0], tmp_path / "copy-of-day1")
    assert main(["calibrate", EXPERIMENT, "--runs", "4", "--history", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"left out, duplicate: copy-of-day1: a copy of run {runs[0].name}" in out
    assert "calibration of 3 runs" in out
    calibration = load_calibration(calibration_path(tmp_path, EXPERIMENT))
    assert len(calibration.runs) == 3
