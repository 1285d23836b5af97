"""What the CLI prints into a CI log (no terminal, 80 columns) and the junit.xml a CI test
report reads when gate, compare or validate-upgrade refuse their input (real `meshproof`
processes)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.report.text import plain_table
from tests.fixtures.make_run import make_run

ROOT = Path(__file__).resolve().parents[3]


def meshproof(*args: str) -> subprocess.CompletedProcess[str]:
    """`meshproof ARGS` with its output captured (no terminal) and COLUMNS=80, as in CI."""
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "harness.cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two fixture runs of catalog-503, a day apart."""
    root = tmp_path_factory.mktemp("reports")
    for day in (1, 2):
        make_run(root, seed=day, started_at=datetime(2026, 1, day, tzinfo=UTC))
    return root


def test_plain_table_keeps_every_cell_whole_on_one_line() -> None:
    """Aligned columns, right-aligned numbers, nothing cut, a line break inside a cell flattened."""
    lines = plain_table(
        "title",
        ["metric", "value"],
        [["recovery_s{fault=a-very-long-fault-name}", "1.5"], ["p99", "12\n.5"]],
        right=["value"],
    )
    assert lines == [
        "title",
        "metric                                    value",
        "recovery_s{fault=a-very-long-fault-name}    1.5",
        "p99                                       12 .5",
    ]


def test_list_shows_the_whole_status_at_80_columns(reports: Path) -> None:
    """`list` in a CI log: one line per run with its id and its status spelled out."""
    result = meshproof("list", "--reports", str(reports))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [line for line in lines if line.startswith("2026")]
    assert len(rows) == 2
    assert all(" failed " in f"{row} " for row in rows), lines
    assert not any("…" in line for line in lines)


def test_compare_keeps_the_metric_names_at_80_columns(reports: Path, tmp_path: Path) -> None:
    """`compare` in a CI log: every metric's whole name starts its own one-line row."""
    first, second = sorted(p.name for p in reports.iterdir() if p.name.startswith("2026"))
    out = tmp_path / "cmp"
    result = meshproof("compare", first, second, "--reports", str(reports), "--out", str(out))
    assert result.returncode in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    assert not any("…" in line for line in lines)
    names = [line.split()[0] for line in lines if line.split()]
    assert {"latency_ms", "latency_ms{route=catalog}", "recovery_s{fault=catalog-503}"} <= set(
        names
    )
    assert any(line.startswith("recovery_s{fault=catalog-503}") for line in lines)


def test_gate_rows_are_one_line_each_at_80_columns(reports: Path) -> None:
    """`gate` in a CI log: the history table has one whole line per headline metric."""
    result = meshproof("gate", "latest", "--reports", str(reports), "--min-history", "1")
    lines = result.stdout.splitlines()
    rows = [line for line in lines if line.split() and line.split()[0].endswith(("_ms", "_rate"))]
    assert [row.split()[0] for row in rows] == [
        "p50_ms",
        "p99_ms",
        "corrected_p99_ms",
        "error_rate",
    ], lines
    assert all(len(row.split()) >= 5 for row in rows)
    assert not any("…" in line for line in lines)


def test_gate_with_too_little_history_says_so_in_one_line(reports: Path) -> None:
    """One earlier run of three needed: one line saying regression was not judged, no table
    (on the console and in gate.md)."""
    result = meshproof("gate", "latest", "--reports", str(reports))
    out = result.stdout
    assert "1 of 3 earlier runs: regression not judged" in out
    assert out.count("regression not judged") == 1
    assert "nodata" not in out and "p50_ms" not in out
    latest = max(p for p in reports.iterdir() if p.name.startswith("2026"))
    gate_md = (latest / "gate" / "gate.md").read_text(encoding="utf-8")
    assert "1 of 3 earlier runs: regression not judged." in gate_md
    assert "| metric |" not in gate_md


def test_list_shows_the_achieved_rate_and_a_load_that_fell_behind(tmp_path: Path) -> None:
    """`list`: the RPS achieved beside the intended one, and BEHIND with share and lag."""
    make_run(tmp_path, seed=1, behind_s=30.0, started_at=datetime(2026, 1, 3, tzinfo=UTC))
    result = meshproof("list", "--reports", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("2026")]
    assert re.search(r"  4\d\.\d \(intended 50\)  ", row), row
    assert "BEHIND: 24.9 % late, lag up to 29.9 s" in row


def refusal_in(junit: Path) -> tuple[str, ET.Element]:
    """The one testsuite's name and the <error> of its one testcase, in a junit.xml."""
    root = ET.parse(junit).getroot()
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("1", "1", "0")
    (case,) = suite.findall("testcase")
    assert case.find("failure") is None
    error = case.find("error")
    assert error is not None, ET.tostring(root, encoding="unicode")
    return str(suite.get("name")), error


def refused_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command prints (exit 2), without its 'meshproof: ' prefix."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("meshproof: ")
    return line.removeprefix("meshproof: ")


def test_a_gate_of_a_run_without_run_json_leaves_a_junit_error(tmp_path: Path) -> None:
    """A run folder with no run.json: exit 2, the same one line, and <run>/gate/junit.xml
    holds one testcase whose <error> says that line (CI showed "no test results")."""
    run = make_run(tmp_path, seed=1, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    (run / "run.json").unlink()
    result = meshproof("gate", str(run), "--reports", str(tmp_path))
    line = refused_line(result)
    assert "no such file (not a run directory?)" in line
    suite, error = refusal_in(run / "gate" / "junit.xml")
    assert suite == f"gate {run.name}"
    assert (error.get("message"), error.get("type"), error.text) == (line, "InvalidInput", line)


def test_a_gate_refused_for_its_calibration_writes_junit_to_out(tmp_path: Path) -> None:
    """A bad --calibration file: the junit.xml in --out names the experiment as a gate's
    suite does, and nothing else of a gate report is written."""
    reports = tmp_path / "reports"
    run = make_run(reports, seed=1, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    broken = tmp_path / "broken.json"
    broken.write_text('{"experiment": "x", "runs": [', encoding="utf-8")
    out = tmp_path / "ci"
    result = meshproof(
        "gate", run.name, "--reports", str(reports), "--calibration", str(broken), "--out", str(out)
    )
    line = refused_line(result)
    assert "not valid JSON" in line
    suite, error = refusal_in(out / "junit.xml")
    assert suite == "gate catalog-503"
    assert error.get("message") == line
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml"]
    assert not (run / "gate").exists()


def test_a_gate_of_a_run_that_is_nowhere_writes_nothing(tmp_path: Path) -> None:
    """A run id that names no folder, without --out: the one line, exit 2, no file."""
    make_run(tmp_path, seed=1, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    before = sorted(tmp_path.rglob("*"))
    line = refused_line(meshproof("gate", "no-such-run", "--reports", str(tmp_path)))
    assert line.startswith("no-such-run: no such run directory")
    assert sorted(tmp_path.rglob("*")) == before


def test_compare_refusing_a_run_against_itself_leaves_a_junit_error(tmp_path: Path) -> None:
    """`compare X X --out DIR`: exit 2, the one line, DIR/junit.xml with its <error>."""
    run = make_run(tmp_path, seed=1, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    out = tmp_path / "cmp"
    result = meshproof("compare", run.name, run.name, "--reports", str(tmp_path), "--out", str(out))
    line = refused_line(result)
    assert "the baseline and the candidate are the same run" in line
    suite, error = refusal_in(out / "junit.xml")
    assert suite == "compare catalog-503"
    assert (error.get("message"), error.get("type")) == (line, "InvalidInput")


def test_compare_of_an_unreadable_run_writes_junit_where_its_report_goes(tmp_path: Path) -> None:
    """Without --out, a refused compare's junit.xml is in the comparison's default folder,
    named by the runs' ids (an unreadable run's: its folder's name)."""
    base = make_run(tmp_path, seed=1, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    cand = tmp_path / "20260102T000000Z-catalog-503"
    shutil.copytree(base, cand)
    (cand / "run.json").write_text("{", encoding="utf-8")
    line = refused_line(meshproof("compare", base.name, cand.name, "--reports", str(tmp_path)))
    junit = tmp_path / "comparisons" / f"{base.name}-vs-{cand.name}" / "junit.xml"
    suite, error = refusal_in(junit)
    assert suite == "compare catalog-503"
    assert error.get("message") == line


def passing_run(reports: Path) -> Path:
    """The fixture run with its one failed SLO left out: a gate of it alone passes."""
    run = make_run(reports, seed=1, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    data = json.loads((run / "run.json").read_text(encoding="utf-8"))
    data["verdicts"] = [v for v in data["verdicts"] if v["passed"]]
    data["status"] = "passed"
    (run / "run.json").write_text(json.dumps(data), encoding="utf-8")
    return run


def test_a_gate_refused_after_a_pass_leaves_no_stale_gate_report(tmp_path: Path) -> None:
    """A gate that passed, then refused (run.json unreadable, then a broken --calibration):
    <run>/gate/ holds the error junit.xml and no gate.md / gate.json saying PASS, while a
    file the user put there stays."""
    run = passing_run(tmp_path)
    gate = run / "gate"
    passed = meshproof("gate", str(run), "--reports", str(tmp_path))
    assert passed.returncode == 0, (passed.stdout, passed.stderr)
    assert sorted(p.name for p in gate.iterdir()) == ["gate.json", "gate.md", "junit.xml"]
    (gate / "notes.txt").write_text("mine", encoding="utf-8")
    (gate / "gate.md.orig").write_text("mine too", encoding="utf-8")
    good = (run / "run.json").read_text(encoding="utf-8")
    (run / "run.json").write_text("{", encoding="utf-8")
    line = refused_line(meshproof("gate", str(run), "--reports", str(tmp_path)))
    _, error = refusal_in(gate / "junit.xml")
    assert error.get("message") == line
    assert sorted(p.name for p in gate.iterdir()) == ["gate.md.orig", "junit.xml", "notes.txt"]
    assert (gate / "notes.txt").read_text(encoding="utf-8") == "mine"

    (run / "run.json").write_text(good, encoding="utf-8")
    assert meshproof("gate", str(run), "--reports", str(tmp_path)).returncode == 0
    broken = tmp_path / "broken.json"
    broken.write_text("[", encoding="utf-8")
    line = refused_line(
        meshproof("gate", str(run), "--reports", str(tmp_path), "--calibration", str(broken))
    )
    assert "not valid JSON" in line
    suite, error = refusal_in(gate / "junit.xml")
    assert (suite, error.get("message")) == ("gate catalog-503", line)
    assert sorted(p.name for p in gate.iterdir()) == ["gate.md.orig", "junit.xml", "notes.txt"]


def test_validate_upgrade_refusing_its_input_leaves_a_junit_error(tmp_path: Path) -> None:
    """A candidate sidecar folder with no sidecar in it: exit 2, the one line, and --out
    holds junit.xml with its <error> in place of the compare.md / compare.json an earlier
    comparison left there (a file the user put there stays); without --out, before any
    run, there is no folder to write to and nothing is written."""
    base = make_run(tmp_path, seed=1, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    cand = make_run(tmp_path, seed=2, started_at=datetime(2026, 1, 2, tzinfo=UTC))
    out = tmp_path / "upgrade"
    earlier = meshproof(
        "compare", base.name, cand.name, "--reports", str(tmp_path), "--out", str(out)
    )
    assert earlier.returncode in (0, 1), earlier.stderr
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    empty = tmp_path / "no-sidecar"
    empty.mkdir()
    upgrade = ("validate-upgrade", str(ROOT / "experiments" / "baseline.yaml"))
    sides = ("--baseline-sidecar", "current", "--candidate-sidecar", f"path:{empty}")
    reports = ("--reports", str(tmp_path))
    line = refused_line(meshproof(*upgrade, *sides, *reports, "--out", str(out)))
    assert line == f"{empty}: no mesh_runtime/sidecar in this directory"
    suite, error = refusal_in(out / "junit.xml")
    assert suite == "validate-upgrade baseline"
    assert (error.get("message"), error.get("type"), error.text) == (line, "InvalidInput", line)
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "notes.txt"]

    before = sorted(tmp_path.rglob("*"))
    assert refused_line(meshproof(*upgrade, *sides, *reports)) == line
    assert sorted(tmp_path.rglob("*")) == before


def test_validate_upgrade_refuses_a_broken_calibration_before_any_round(tmp_path: Path) -> None:
    """`--calibration` that is not JSON: refused at once (exit 2, one line, nothing run),
    not after every round of the upgrade has run (it was read only to judge them)."""
    broken = tmp_path / "calibration.json"
    broken.write_text("{not json", encoding="utf-8")
    reports = tmp_path / "reports"
    result = meshproof(
        "validate-upgrade",
        str(ROOT / "experiments" / "baseline.yaml"),
        "--baseline-sidecar",
        "current",
        "--candidate-sidecar",
        "current",
        "--rounds",
        "1",
        "--duration",
        "10s",
        "--calibration",
        str(broken),
        "--reports",
        str(reports),
        "--state-dir",
        str(tmp_path / "state"),
    )
    line = refused_line(result)
    assert str(broken) in line and "JSON" in line, line
    assert not reports.exists() or not any(reports.glob("*baseline*")), list(reports.rglob("*"))
