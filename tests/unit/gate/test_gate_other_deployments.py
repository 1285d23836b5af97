"""The gate's history holds only earlier runs against the same deployment as the run
(runtime, and for an external target the same target): runs of one experiment against
the local mesh and against staging were one history, so a staging run was judged against
local runs. The others are counted and said in one line. `calibrate --history` measures
the newest run's deployment alone. A run names its external target in report.md and
`meshproof report`."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.calibrate import calibration_path, load_calibration
from harness.cli.main import main
from harness.report.markdown import markdown_report
from harness.store import ExperimentRef, RunRecord, TargetRef
from harness.store.deployment import deployment_of, other_deployments_line, same_deployment
from harness.store.reader import load_run
from tests.fixtures.make_run import make_run

STAGING = TargetRef(
    file="/ci/targets/staging-istio.yaml",
    name="staging-shop",
    mesh="istio",
    ingress="https://shop.staging.example",
)
STAGING_LINE = "target: staging-istio.yaml (staging-shop, istio, https://shop.staging.example)"


def run(day: int, runtime: str = "local", target: TargetRef | None = None) -> RunRecord:
    return RunRecord(
        id=f"202601{day:02d}T000000Z-baseline",
        experiment=ExperimentRef(name="baseline"),
        status="passed",
        started_at=f"2026-01-{day:02d}T00:00:00Z",
        runtime=runtime,
        target=target,
    )


def test_only_runs_against_the_same_external_target_are_history() -> None:
    """Local, docker and another target's runs are the others; a copy of the target file
    elsewhere (another path, same name, mesh and ingress) is the same deployment."""
    moved = STAGING.model_copy(update={"file": "targets/staging-istio.yaml"})
    prod = STAGING.model_copy(update={"name": "prod-shop", "ingress": "https://shop.example"})
    linkerd = STAGING.model_copy(update={"mesh": "linkerd"})
    earlier = [
        run(1),
        run(2, "external", STAGING),
        run(3, "docker"),
        run(4, "external", prod),
        run(5, "external", moved),
        run(6, "external", linkerd),
    ]
    same, others = same_deployment(
        deployment_of(run(7, "external", STAGING)), earlier, deployment_of
    )
    assert [r.id[6:8] for r in same] == ["02", "05"]
    assert [r.id[6:8] for r in others] == ["01", "03", "04", "06"]


def test_a_run_of_a_runtime_matches_that_runtime_only() -> None:
    """A local run's history is the local runs: not docker's, kubernetes' or a target's."""
    earlier = [run(1), run(2, "docker"), run(3, "kubernetes"), run(4, "external", STAGING), run(5)]
    same, others = same_deployment(deployment_of(run(6)), earlier, deployment_of)
    assert [r.id[6:8] for r in same] == ["01", "05"]
    assert len(others) == 3


def test_a_run_without_a_target_matches_runs_without_one() -> None:
    """An external run recorded before run.json named its target matches such runs, not
    a run that names one (and the reverse)."""
    old = [run(1, "external"), run(2, "external", STAGING)]
    same, _ = same_deployment(deployment_of(run(3, "external")), old, deployment_of)
    assert [r.id[6:8] for r in same] == ["01"]
    same, _ = same_deployment(deployment_of(run(3, "external", STAGING)), old, deployment_of)
    assert [r.id[6:8] for r in same] == ["02"]


def test_the_left_out_line_counts_the_runs() -> None:
    """One line, singular or plural."""
    assert other_deployments_line(1) == (
        "1 earlier run of this experiment was against another deployment: left out"
    )
    assert other_deployments_line(4) == (
        "4 earlier runs of this experiment were against other deployments: left out"
    )


def as_staging(run_dir: Path, factor: float) -> None:
    """Rewrite the fixture run as one against the staging target, its latencies `factor`
    times the local mesh's (another deployment, another level), its SLOs passed."""
    data = json.loads((run_dir / "run.json").read_text())
    for key in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "corrected_p99_ms"):
        data["summary"][key] *= factor
    data["runtime"] = "external"
    data["target"] = STAGING.model_dump(mode="json")
    data["verdicts"] = [v for v in data["verdicts"] if v["passed"]]
    (run_dir / "run.json").write_text(json.dumps(data))


@pytest.fixture(scope="module")
def mixed_nights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nights 1-3 and 8 against staging (three times the latency), 4-7 on the local mesh."""
    reports = tmp_path_factory.mktemp("mixed")
    for day in range(1, 9):
        started = datetime(2026, 1, day, tzinfo=UTC)
        run_dir = make_run(reports, seed=day, rps=20, started_at=started)
        if day in (1, 2, 3, 8):
            as_staging(run_dir, 3.0)
        else:  # the local nights' SLOs pass too: only the history is judged
            data = json.loads((run_dir / "run.json").read_text())
            data["verdicts"] = [v for v in data["verdicts"] if v["passed"]]
            (run_dir / "run.json").write_text(json.dumps(data))
    return reports


def test_the_gate_of_a_staging_run_ignores_local_runs(
    mixed_nights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Judged against the three staging nights only, the staging run passes (against the
    local nights before it, its latency read as a regression); the four local nights
    are counted on the terminal and in gate.md."""
    night8 = next(p for p in mixed_nights.iterdir() if p.name.startswith("20260108"))
    out = tmp_path / "gate-out"
    code = main(["gate", str(night8), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    line = "4 earlier runs of this experiment were against other deployments: left out"
    assert line in printed
    assert "history of 3 earlier runs; 4 of other deployments left out" in printed
    gate = json.loads((out / "gate.json").read_text())
    assert [run_id[:8] for run_id in gate["history"]] == ["20260101", "20260102", "20260103"]
    assert gate["other_deployments"] == 4
    assert f"- {line}" in (out / "gate.md").read_text()


def test_the_report_names_the_external_target(
    mixed_nights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report.md and `meshproof report` say which target the run was against; a local
    run's say no target."""
    night8 = next(p for p in mixed_nights.iterdir() if p.name.startswith("20260108"))
    night7 = next(p for p in mixed_nights.iterdir() if p.name.startswith("20260107"))
    assert f"- {STAGING_LINE}" in markdown_report(load_run(night8)).splitlines()
    assert "target:" not in markdown_report(load_run(night7))
    assert main(["report", str(night8)]) == 0
    assert STAGING_LINE in capsys.readouterr().out.splitlines()


def test_calibrate_history_measures_the_newest_runs_deployment_only(
    mixed_nights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`calibrate --history` of the mixed nights: the spread of the four staging nights
    (the newest, night 8, is staging); the four local nights are left out and said. It
    was all eight, whose spread is the deployments' 3x difference, not the runs'."""
    history = tmp_path / "history"
    shutil.copytree(mixed_nights, history)  # the calibration file is written there
    experiment = load_run(next(history.iterdir())).experiment.name
    assert main(["calibrate", experiment, "--runs", "8", "--history", str(history)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    said = "left out, other deployments: 4 runs were not against the newest run's,"
    assert f"{said} {STAGING.describe()}" in out, out
    calibration = load_calibration(calibration_path(history, experiment))
    assert [run.id[:8] for run in calibration.runs] == [
        "20260101", "20260102", "20260103", "20260108"
    ]  # fmt: skip
