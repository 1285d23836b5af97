"""A run whose harness was SIGKILLed: list, report, gate and recover say it is not running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import exits

REPO = Path(__file__).resolve().parents[3]

HARNESS = """
import sys
from datetime import UTC, datetime
from pathlib import Path

from harness.faults.ledger import LEDGER_FILE, FaultLedger
from harness.store import ExperimentRef, RunRecord, RunWriter, iso_utc
from harness.store.liveness import this_harness

reports, state = sys.argv[1:3]
started = datetime.now(UTC)
writer = RunWriter(reports, "demo", started)
record = RunRecord(
    id=writer.run_id,
    experiment=ExperimentRef(name="demo"),
    status="running",
    harness=this_harness(),
    started_at=iso_utc(started),
)
writer.write_record(record)  # as the engine does when a run starts
writer.write_text("notes.txt", "kept\\n")
FaultLedger(writer.path / LEDGER_FILE).register(Path(state))
print(writer.path, flush=True)
sys.stdin.read()  # until it is killed
"""


def meshproof(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli.main", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def harness_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A harness process that started a run (run.json `running`, a registered ledger)
    and waits; the run's folder once it is written."""
    child = subprocess.Popen(
        [sys.executable, "-c", HARNESS, str(tmp_path / "reports"), str(tmp_path / "state")],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        folder = Path(child.stdout.readline().strip())  # printed once the run is written
        assert (folder / "run.json").is_file()
        yield child, folder
    finally:
        child.kill()
        child.wait(timeout=30)


def _listed(reports: Path) -> dict[str, str]:
    done = meshproof("list", "--reports", str(reports), "--json")
    assert done.returncode == 0, done.stderr
    (run,) = json.loads(done.stdout)
    return {"status": run["status"], "note": run["note"]}


def test_a_live_harness_run_is_running(harness_run: tuple[subprocess.Popen[str], Path]) -> None:
    """While its harness runs, the run is listed running, with nothing to add."""
    _, folder = harness_run
    assert _listed(folder.parent) == {"status": "running", "note": ""}


def test_a_sigkilled_harness_run_is_aborted_and_recover_records_it(
    harness_run: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    """SIGKILL the harness: list, report, gate and compare read the run as aborted (its harness
    died), and recover rolls its ledger back and writes that into run.json, keeping the
    rest of the folder."""
    child, folder = harness_run
    reports = folder.parent
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)

    listed = _listed(reports)
    assert listed["status"] == "aborted"
    assert f"harness (pid {child.pid}) died" in listed["note"]
    assert "meshproof recover" in listed["note"]
    table = meshproof("list", "--reports", str(reports))
    assert "aborted" in table.stdout and "running" not in table.stdout

    report = meshproof("report", str(folder))
    assert report.returncode == 0, report.stderr
    assert "ABORTED" in report.stdout and f"harness (pid {child.pid}) died" in report.stdout

    gate = meshproof("gate", str(folder), "--reports", str(reports))
    assert gate.returncode == exits.NOT_DONE
    assert "the run is aborted" in gate.stderr and "died" in gate.stderr

    compare = meshproof("compare", str(folder), str(folder), "--reports", str(reports))
    assert compare.returncode == exits.NOT_DONE
    assert "the run is aborted, not comparable" in compare.stderr and "died" in compare.stderr

    recover = meshproof(
        "recover", "--state-dir", str(tmp_path / "state"), "--reports", str(reports)
    )
    assert recover.returncode == 0, recover.stdout + recover.stderr
    assert "recorded as aborted" in recover.stdout
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "aborted"
    assert record["error"].startswith(f"aborted: the harness (pid {child.pid}) died")
    assert record["ended_at"] is not None
    assert (folder / "notes.txt").read_text() == "kept\n"
    assert not list((tmp_path / "state" / "ledgers").glob("*.json"))
    assert _listed(reports) == {"status": "aborted", "note": ""}


def test_a_run_of_another_host_stays_running_and_says_so(tmp_path: Path) -> None:
    """run.json naming another host's harness: running, 'cannot be checked from here';
    recover leaves it alone."""
    folder = tmp_path / "reports" / "20261207T101500Z-demo"
    folder.mkdir(parents=True)
    record = {
        "schema_version": 1,
        "id": folder.name,
        "experiment": {"name": "demo"},
        "status": "running",
        "started_at": "2026-12-07T10:15:00Z",
        "harness": {"pid": 1, "hostname": "not-this-host.invalid", "start_ticks": 5},
    }
    (folder / "run.json").write_text(json.dumps(record))
    listed = _listed(folder.parent)
    assert listed["status"] == "running"
    assert "cannot be checked from here" in listed["note"]
    report = meshproof("report", str(folder))
    assert "RUNNING" in report.stdout and "cannot be checked from here" in report.stdout
    recover = meshproof(
        "recover", "--state-dir", str(tmp_path / "state"), "--reports", str(folder.parent)
    )
    assert recover.returncode == 0
    assert json.loads((folder / "run.json").read_text())["status"] == "running"
