"""`meshproof calibrate --history` on fixture runs, and compare / gate using what it stored."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.calibrate import calibration_path, load_calibration
from harness.cli.main import main
from harness.compare import compare_runs
from harness.gate.gate import gate_run
from harness.gate.regression import GateSettings
from tests.fixtures.make_run import make_run

EXPERIMENT = "catalog-503"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five runs of the fixture experiment at 20 RPS on five days (seeds 1-5)."""
    reports = tmp_path_factory.mktemp("history")
    for day in range(1, 6):
        make_run(reports, seed=day, rps=20, started_at=datetime(2026, 1, day, tzinfo=UTC))
    return reports


@pytest.fixture(scope="module")
def calibrated(history: Path) -> Path:
    """`meshproof calibrate catalog-503 --runs 4 --history DIR` exits 0; its file's path."""
    assert main(["calibrate", EXPERIMENT, "--runs", "4", "--history", str(history)]) == 0
    return calibration_path(history, EXPERIMENT)


def test_calibrate_from_history_stores_the_newest_runs_spread(calibrated: Path) -> None:
    """The file holds the newest 4 runs, each metric's per-run values and a tolerance."""
    calibration = load_calibration(calibrated)
    assert calibration.source == "history"
    assert [run.id[:8] for run in calibration.runs] == [f"2026010{d}" for d in (2, 3, 4, 5)]
    latency = calibration.metrics["latency_ms"]
    assert latency.runs == 4 and latency.unit == "ms"
    assert latency.tolerance > 0 and latency.window_sd is not None
    assert latency.window_unit == "1 s windows"
    assert "corrected_p99_ms" in calibration.metrics
    assert calibration.host_worst is not None and calibration.host_typical is not None


def test_compare_takes_its_tolerance_from_the_calibration(history: Path, calibrated: Path) -> None:
    """compare of two runs beside the calibration names it as the latency tolerance's source."""
    runs = sorted(p for p in history.iterdir() if (p / "run.json").is_file())
    result = compare_runs(runs[0], runs[1])
    latency = next(m for m in result.metrics if m.metric == "latency_ms")
    spread = load_calibration(calibrated).metrics["latency_ms"]
    assert latency.tolerance == pytest.approx(spread.tolerance)
    assert latency.tolerance_source.startswith("calibration of 4 runs on ")
    assert result.calibration.endswith(f"({calibrated})")
    defaults = compare_runs(runs[0], runs[1], calibration=None)
    assert next(m for m in defaults.metrics if m.metric == "latency_ms").tolerance_source == (
        "default (30 % or 2 ms)"
    )


def test_gate_takes_its_minimum_change_from_the_calibration(
    history: Path, calibrated: Path
) -> None:
    """gate's history judgment holds p50 to the calibrated tolerance and says so."""
    runs = sorted(p for p in history.iterdir() if (p / "run.json").is_file())
    result = gate_run(runs[-1], None, GateSettings(min_history=3))
    p50 = next(m for m in result.metrics if m.metric == "p50_ms")
    assert p50.tolerance == pytest.approx(load_calibration(calibrated).metrics["p50_ms"].tolerance)
    assert p50.tolerance_source.startswith("calibration of 4 runs")
    assert result.calibration.startswith("calibration of 4 runs")


def test_json_prints_the_calibration_and_the_path_is_printed_last(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints the model; --reports puts the file in another folder; path on stderr."""
    code = main(["calibrate", EXPERIMENT, "--runs", "3", "--history", str(history),
                 "--reports", str(tmp_path), "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out)["experiment"] == EXPERIMENT
    path = calibration_path(tmp_path, EXPERIMENT)
    assert path.is_file()
    assert captured.err.strip().splitlines()[-1] == f"calibration: {path}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runs", "2"], "a calibration needs 3 runs or more"),
        (["--runs", "3", "--history", "{empty}"], "no complete run of 'catalog-503'"),
    ],
)
def test_too_few_runs_is_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fewer than 3 runs, or none in the history folder: one clear line, exit code 2."""
    args = [a.replace("{empty}", str(tmp_path)) for a in args]
    assert main(["calibrate", EXPERIMENT, *args]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error


def test_an_unreadable_run_in_the_history_is_named(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run of the experiment whose run.json is cut off is left out of the calibration,
    and a line says which and why (it was left out silently: 6 runs asked, 5 used)."""
    folder = tmp_path / "history"
    shutil.copytree(history, folder)
    broken = folder / "20260106T000000Z-catalog-503"
    broken.mkdir()
    (broken / "run.json").write_text("{", encoding="utf-8")
    assert main(["calibrate", EXPERIMENT, "--runs", "6", "--history", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"left out, unreadable: {broken.name}: not valid JSON" in out
    assert "calibration of 5 runs" in out
