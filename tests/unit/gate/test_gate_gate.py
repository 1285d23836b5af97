"""`meshproof gate`: SLOs plus history, on records and fixture run directories."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.gate import GateSettings, gate_records
from harness.gate.gate import earlier_runs, history_of
from harness.store import ExperimentRef, RunRecord, Summary, Verdict
from harness.store.reader import load_run
from tests.fixtures.make_run import make_run


def record(day: int, p99: float, experiment: str = "baseline", **extra: object) -> RunRecord:
    return RunRecord(
        id=f"202601{day:02d}T000000Z-{experiment}",
        experiment=ExperimentRef(name=experiment),
        status="passed",
        started_at=f"2026-01-{day:02d}T00:00:00Z",
        summary=Summary(requests=1000, p50_ms=10.0 + day % 2 * 0.1, p99_ms=p99, error_rate=0.0),
        **extra,  # type: ignore[arg-type]
    )


def test_a_regressed_run_fails_and_the_metric_is_named() -> None:
    """p99 up 60 % against five steady runs: the gate fails naming p99_ms and the run."""
    history = [record(day, 40.0 + day % 3 * 0.5) for day in range(1, 6)]
    result = gate_records(record(6, 64.0), history, GateSettings())
    assert not result.passed
    assert len(result.failures) == 1
    assert result.failures[0].startswith("p99_ms regressed +")
    assert "20260106T000000Z-baseline" in result.failures[0]
    p50 = next(m for m in result.metrics if m.metric == "p50_ms")
    assert p50.status == "ok"


def test_a_failed_slo_fails_the_gate_on_its_own() -> None:
    """Steady history, but the run's own SLO failed: the gate fails on that SLO."""
    history = [record(day, 40.0 + day % 3 * 0.5) for day in range(1, 6)]
    verdict = Verdict(
        slo="p99_ms < 30",
        metric="p99_ms",
        op="<",
        threshold=30,
        phase="whole",
        value=40.5,
        passed=False,
    )
    result = gate_records(record(6, 40.5, verdicts=[verdict]), history, GateSettings())
    assert not result.passed
    assert len(result.failures) == 1
    assert "p99_ms < 30" in result.failures[0]


def test_without_history_only_slos_count() -> None:
    """No earlier run: every metric nodata, and the gate passes on its SLOs."""
    result = gate_records(record(1, 40.0), [], GateSettings())
    assert result.passed
    assert {m.status for m in result.metrics} == {"nodata"}


@pytest.fixture(scope="module")
def five_nights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fixture runs of one experiment at 20 RPS, one a night on January 1-5 2026 (seeds
    1-5): made once for the module, each test works on its own copy (`nightly_runs`)."""
    reports = tmp_path_factory.mktemp("nights")
    for day in range(1, 6):
        make_run(reports, seed=day, rps=20, started_at=datetime(2026, 1, day, tzinfo=UTC))
    return reports


def nightly_runs(five_nights: Path, reports: Path) -> list[Path]:
    """A copy of the five nights in `reports`, oldest first."""
    shutil.copytree(five_nights, reports, dirs_exist_ok=True)
    return sorted(p for p in reports.iterdir() if (p / "run.json").is_file())


def test_history_is_earlier_complete_runs_of_the_same_experiment(
    five_nights: Path, tmp_path: Path
) -> None:
    """Other experiments, aborted runs and later runs are not history."""
    runs = nightly_runs(five_nights, tmp_path)
    make_run(tmp_path, seed=9, rps=20, name="other", started_at=datetime(2026, 1, 2, tzinfo=UTC))
    aborted = runs[1] / "run.json"
    data = json.loads(aborted.read_text())
    data["status"] = "aborted"
    aborted.write_text(json.dumps(data))
    record = load_run(runs[2])
    history, other_deployments = history_of(record, earlier_runs(record, tmp_path), 30)
    assert [r.id for r in history] == [runs[0].name]
    assert other_deployments == 0


def _regressed_copy(run: Path, reports: Path, factor: float) -> Path:
    """The fixture run, a day later, with its latencies (and their confidence intervals)
    scaled by `factor`."""
    data = json.loads((run / "run.json").read_text())
    target = reports / run.name.replace("20260105", "20260106")
    target.mkdir()
    for key in ("p50_ms", "p99_ms", "corrected_p99_ms"):
        data["summary"][key] *= factor
    for phase in data["phase_summaries"]:
        for key, ends in phase["intervals"].items():
            phase["values"][key] *= factor
            phase["intervals"][key] = [end * factor for end in ends]
    data["started_at"] = "2026-01-06T00:00:00Z"
    data["ended_at"] = data["ended_at"].replace("2026-01-05", "2026-01-06")
    data["id"] = target.name
    data["verdicts"] = [v for v in data["verdicts"] if v["passed"]]
    (target / "run.json").write_text(json.dumps(data))
    return target


def test_cli_fails_a_regression_with_junit_and_markdown(
    five_nights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four fixture nights then one with 50 % higher latency: exit 1, p50 named in junit."""
    runs = nightly_runs(five_nights, tmp_path)
    regressed = _regressed_copy(runs[-1], tmp_path, 1.5)
    out = tmp_path / "gate-out"
    assert main(["gate", str(regressed), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert re.search(r"p50_ms regressed \+[45]\d\.\d%", printed)
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    failed = [c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None]
    assert "history: p50_ms" in failed
    assert "**regression**" in (out / "gate.md").read_text()


def test_cli_exit_codes_for_a_clean_run_and_an_unusable_one(
    five_nights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A steady run whose SLOs passed exits 0; an aborted run exits 2 with one line."""
    runs = nightly_runs(five_nights, tmp_path)
    clean = _regressed_copy(runs[-1], tmp_path, 1.0)
    assert main(["gate", str(clean), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True
    data = json.loads((runs[0] / "run.json").read_text())
    data["status"] = "aborted"
    (runs[0] / "run.json").write_text(json.dumps(data))
    assert main(["gate", str(runs[0])]) == 2
    assert "cannot gate it" in capsys.readouterr().err
