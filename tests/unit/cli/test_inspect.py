"""`meshproof validate | list | report` (harness.cli.inspect), through the real CLI entry."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.main import main
from tests.fixtures.make_run import SHOP, make_run

GOOD = """\
title: Catalog answers 503
target: {topology: topologies/shop.yaml}
load: {rps: 50, duration: 30s, warmup: 5s}
faults:
  - name: catalog-503
    kind: service_behaviour
    target: catalog-0
    at: 5s
    duration: 10s
    params: {error_rate: 1.0, error_status: 503}
slos:
  - error_rate < 0.01
  - p99_ms < 250 during:catalog-503
"""

TOXIC = """\
title: t
target: {topology: topologies/shop.yaml}
load: {duration: 30s}
faults:
  - {name: slow, kind: toxic, target: "%s", params: {type: latency, attributes: {latency: 100}}}
"""

BAD_TOPOLOGY = """\
name: shop
services:
  gateway: {ingress: true, calls: [frontend]}
  frontend: {calls: [nowhere]}
"""

# (case, experiment text, topology text or None for the shop, expected "<field path>: <problem>")
BAD_CASES = [
    ("bad yaml", "title: [unclosed\n", None, "line 2: not valid YAML"),
    ("unknown field", GOOD + "colour: red\n", None, "colour: unknown field"),
    ("bad duration", GOOD.replace("duration: 30s", "duration: ten seconds"), None,
     "load.duration: expected a duration like '30s'"),
    ("bad slo", GOOD.replace("- error_rate < 0.01", "- error rate is low"), None,
     "slos[0]: expected an SLO like 'p99_ms < 250'"),
    ("unknown metric", GOOD.replace("- error_rate < 0.01", "- p42_ms < 3"), None,
     "slos[0]: unknown metric 'p42_ms'"),
    ("unknown fault kind", GOOD.replace("kind: service_behaviour", "kind: meteor"), None,
     "faults[0]: unknown kind 'meteor'"),
    ("bad edge target", TOXIC % "frontend-catalog", None, "faults[0].target: expected an edge like"),
    ("edge without toxiproxy", TOXIC % "gateway->frontend", None,
     "faults[0].target: edge gateway->frontend does not go through Toxiproxy"),
    ("unknown instance", GOOD.replace("target: catalog-0", "target: catalog-7"), None,
     "faults[0].target: no service or instance 'catalog-7' in topology shop"),
    ("unknown version in a split", TOXIC.replace(
        '{name: slow, kind: toxic, target: "%s", params: {type: latency, attributes: {latency: 100}}}',
        "{name: split, kind: traffic_split, target: catalog, params: {v1: 90, v3: 10}}"), None,
     "faults[0].params: catalog has no version 'v3' (versions: v1)"),
    ("unknown container instance", GOOD.replace("kind: service_behaviour", "kind: container_kill")
     .replace("target: catalog-0", "target: 'sidecar:catalog-7'")
     .replace("    params: {error_rate: 1.0, error_status: 503}\n", ""), None,
     "faults[0].target: no service or instance 'catalog-7' in topology shop"),
    ("fault after the end", GOOD.replace("at: 5s", "at: 45s"), None,
     "faults[0].at: starts at 45s, after the load ends (30s)"),
    ("duplicate fault names", GOOD.replace("faults:\n", "faults:\n  - {name: catalog-503, kind: "
     "process_kill, target: 'sidecar:catalog-1'}\n"), None, "faults: fault names must be distinct"),
    ("during unknown fault", GOOD.replace("during:catalog-503", "during:nope"), None,
     "slos: 'p99_ms < 250 during:nope' names no fault of this experiment"),
    ("missing topology file", GOOD.replace("shop.yaml", "gone.yaml"), None,
     "target.topology: no such file"),
    ("topology is a folder", GOOD.replace("topologies/shop.yaml", "topologies"), None,
     "target.topology: not a file"),
    ("infinite duration", GOOD.replace("duration: 30s", "duration: .inf"), None,
     "load.duration: expected a finite duration, got inf"),
    ("nan fault start", GOOD.replace("at: 5s", "at: .nan"), None,
     "faults[0].at: expected a finite duration, got nan"),
    ("bad topology", GOOD, BAD_TOPOLOGY, "services.frontend.calls: unknown service 'nowhere'"),
]  # fmt: skip


def write_case(tmp_path: Path, text: str, topology: str | None) -> Path:
    """The experiment at tmp/exp.yaml and its topology at tmp/topologies/shop.yaml."""
    (tmp_path / "topologies").mkdir(exist_ok=True)
    if topology is None:
        shutil.copy(SHOP, tmp_path / "topologies" / "shop.yaml")
    else:
        (tmp_path / "topologies" / "shop.yaml").write_text(topology, encoding="utf-8")
    path = tmp_path / "exp.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_prints_one_ok_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A good file: 'ok: <title> (<n> faults, <m> SLOs, <duration>)', exit 0."""
    path = write_case(tmp_path, GOOD, None)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == "ok: Catalog answers 503 (1 fault, 2 SLOs, 35s)\n"


def test_validate_with_duration_prints_the_scaled_length(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--duration` scales the run: the line gives the length it will have, not the file's."""
    path = write_case(tmp_path, GOOD, None)
    assert main(["validate", str(path), "--duration", "70s"]) == 0
    expected = "ok: Catalog answers 503 (1 fault, 2 SLOs, 70s, --duration scaled from 35s)\n"
    assert capsys.readouterr().out == expected


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(
    ("case", "text", "topology", "expected"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_bad_file_is_one_line_with_file_path_and_problem(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    case: str,
    text: str,
    topology: str | None,
    expected: str,
) -> None:
    """Each bad file, to validate or to run: one stderr line naming the file, the field path
    and the problem; exit 2; run deploys nothing and writes no run directory."""
    path = write_case(tmp_path, text, topology)
    reports = tmp_path / "reports"
    args = ["--out", str(reports), "--quiet"] if command == "run" else []
    assert main([command, str(path), *args]) == 2
    assert not reports.exists() or not any(reports.iterdir())
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    file = tmp_path / "topologies" / "shop.yaml" if case == "bad topology" else path
    assert lines[0].startswith(f"meshproof: {file}: "), lines[0]
    assert expected in lines[0]


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        ("container_kill", "sidecar:catalog-1"),
        ("container_pause", "service:cart-0"),
        ("container_restart", "catalog-0"),
        ("network_disconnect", "toxiproxy"),
        ("container_kill", "container:shop-pod-catalog-0"),
        ("process_kill", "sidecar:catalog-1"),
        ("process_pause", "control-plane"),
    ],
)
def test_validate_takes_every_process_and_container_target_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, target: str
) -> None:
    """Process and container faults' target forms of the shop validate (exit 0)."""
    text = GOOD.replace("kind: service_behaviour", f"kind: {kind}").replace(
        "target: catalog-0", f"target: '{target}'"
    )
    text = text.replace("    params: {error_rate: 1.0, error_status: 503}\n", "")
    path = write_case(tmp_path, text, None)
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that does not exist is one line, exit 2."""
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err == f"meshproof: {tmp_path / 'nope.yaml'}: no such file\n"


def test_validate_through_the_installed_command_has_no_traceback(tmp_path: Path) -> None:
    """The real `meshproof` console script: bad files give one line and exit 2."""
    command = Path(sys.executable).with_name("meshproof")
    chosen = {"bad yaml", "unknown fault kind", "bad topology"}
    for case, text, topology, expected in (c for c in BAD_CASES if c[0] in chosen):
        path = write_case(tmp_path, text, topology)
        done = subprocess.run(
            [str(command), "validate", str(path)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, case
        assert "Traceback" not in done.stderr, case
        assert len(done.stderr.splitlines()) == 1 and expected in done.stderr, case


def test_shipped_experiments_validate(capsys: pytest.CaptureFixture[str]) -> None:
    """Every experiment shipped in experiments/ validates against its topology."""
    files = sorted(SHOP.parent.parent.glob("*.yaml"))
    for file in files:
        assert main(["validate", str(file)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.count("ok: ") == len(files)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reports directory with the fixture run and one broken run."""
    root = tmp_path_factory.mktemp("reports")
    make_run(root)
    broken = root / "20261127T160000Z-broken"
    broken.mkdir()
    (broken / "run.json").write_text("{", encoding="utf-8")
    return root


def test_list_json_has_every_run_oldest_first(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """list --json: each run with its status and SLO counts; broken runs are unreadable."""
    assert main(["list", "--reports", str(reports), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["status"]) for r in runs] == [
        ("20261127T154000Z-catalog-503", "failed"),
        ("20261127T160000Z-broken", "unreadable"),
    ]
    assert (runs[0]["passed"], runs[0]["failed"]) == (6, 1)


def test_list_table_and_filter(reports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """list prints a table; --experiment keeps only that experiment's runs."""
    assert main(["list", "--reports", str(reports), "--experiment", "catalog-503"]) == 0
    out = capsys.readouterr().out
    assert "20261127T154000Z-catalog-503" in out and "broken" not in out
    assert "6/7" in out


def test_list_of_an_experiment_without_runs_names_the_experiment(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--experiment matching nothing says no run of that experiment, not that there are no runs."""
    assert main(["list", "--reports", str(reports), "--experiment", "nosuch"]) == 0
    assert capsys.readouterr().out.strip() == f"no runs of experiment nosuch in {reports}"


def test_list_names_a_copied_run_by_its_folder_and_says_the_id_is_shared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run copied under reports/ (two folders, one run id): the table shows the copy's
    folder beside its id, notes the folder the id is shared with on both rows; `report ID`
    opens the folder named by the id, and with that folder renamed is refused with exit 2
    naming both folders."""
    original = make_run(tmp_path)
    shutil.copytree(original, tmp_path / "kept-copy")
    assert main(["list", "--reports", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{original.name} (kept-copy)" in out
    assert "id also in kept-copy" in out and f"id also in {original.name}" in out
    assert main(["report", original.name, "--reports", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == original.name
    original.rename(tmp_path / "renamed")
    assert main(["report", original.name, "--reports", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kept-copy" in err and "renamed" in err


def test_report_prints_verdicts_and_numbers(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report RUN (by id prefix): every verdict line, the headline table and the phases."""
    assert main(["report", "20261127T1540", "--reports", str(reports)]) == 0
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert "FAIL max_error_rate_1s < 0.02 during:catalog-503: measured 8 %, threshold < 2 %" in out
    assert out.count("PASS ") == 6
    assert "trace_completeness" in out and "during:catalog-503" in out


def test_report_json_is_the_run_record(reports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """report --json prints run.json's content."""
    run = reports / "20261127T154000Z-catalog-503"
    assert main(["report", str(run), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema_version"] == 1 and data["status"] == "failed"


def test_report_of_unknown_or_broken_run_is_one_line(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run id that matches nothing, or a broken run.json: one line, exit 2."""
    assert main(["report", "nope", "--reports", str(reports)]) == 2
    assert capsys.readouterr().err.startswith("meshproof: nope: no such run directory")
    assert main(["report", "20261127T160000Z-broken", "--reports", str(reports)]) == 2
    assert "run.json: not valid JSON" in capsys.readouterr().err


def test_report_says_a_run_was_scaled_and_what_it_noted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report of a `--duration` run names the file's own length and the run's notes."""
    run = make_run(tmp_path)
    data = json.loads((run / "run.json").read_text(encoding="utf-8"))
    data["experiment"]["scaled_from_s"] = 65.0
    data["notes"] = ["fault roll (rolling_restart) was cut short by the end of the run"]
    (run / "run.json").write_text(json.dumps(data), encoding="utf-8")
    assert main(["report", run.name, "--reports", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "scaled with --duration from the experiment file's own 65s" in out
    assert "note: fault roll (rolling_restart) was cut short by the end of the run" in out
