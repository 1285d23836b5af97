"""compare, gate and validate-upgrade on real runs of the engine (`meshproof run`).

Every run is real: the shop deployed on 127.0.0.1 with sidecars, Toxiproxy and Prometheus,
Locust load, analysed and written by the engine. Three runs of a steady experiment are the
baseline and the gate's history; a variant of the same experiment (same name, written in
the test's tmp dir) adds a 20 ms Toxiproxy latency toxic on the frontend->catalog edge
for the whole run. The gate's regressed run has 30 ms instead: on a shared 2-core machine
identical runs differ by about 3 ms in p50, and the gate is built not to fail on a change
that small against three runs of history (that is what compare, within one pair, is for).
compare judges with its defaults (latency on 1 s windows, tolerances for a quiet 2-core
host): `python -m harness.bench.calibrate_compare` measures how often those defaults
cry wolf and how often they catch the 20 ms, with many pairs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.compare import compare_runs
from harness.compare.noise import side_noise
from harness.store.reader import load_run
from tests.conftest import REPO_ROOT, run_group

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

TOPOLOGY = REPO_ROOT / "experiments" / "topologies" / "shop.yaml"
STEADY = f"""\
title: steady shop
target: {{topology: {TOPOLOGY}}}
load: {{rps: 20, warmup: 3s, duration: 20s, connections: 4}}
slos:
  - error_rate < 0.01
"""
SLOW_EDGE = """\
faults:
  - name: slow-catalog
    kind: toxic
    target: frontend->catalog
    at: 0s
    params: {{type: latency, attributes: {{latency: {ms}}}}}
"""
RUN_TIMEOUT_S = 300


def meshproof(
    args: list[str], state: Path, timeout: float = RUN_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """The real console script in its own process group; stopped (SIGTERM, so it tears its
    deployment down; SIGKILL after a grace) on timeout (`run_group`)."""
    env = {**os.environ, "MESHPROOF_STATE_DIR": str(state)}
    command = [sys.executable, "-m", "harness.cli.main", *args]
    return run_group(command, timeout, cwd=REPO_ROOT, env=env)


def run_dir_of(done: subprocess.CompletedProcess[str]) -> Path:
    lines = [line for line in done.stdout.splitlines() if line.startswith("report: ")]
    assert done.returncode in (0, 1, 3) and lines, done.stdout[-2000:] + done.stderr[-2000:]
    return Path(lines[-1].removeprefix("report: ").strip())


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Folders, the two experiment files (both named `steady`), and a teardown of strays."""
    root = tmp_path_factory.mktemp("compare-real")
    paths = {"root": root, "reports": root / "reports", "state": root / "state"}
    variants = {
        "steady": STEADY,
        "slow": STEADY + SLOW_EDGE.format(ms=20),
        "slower": STEADY + SLOW_EDGE.format(ms=30),
    }
    for name, text in variants.items():
        folder = root / name
        folder.mkdir()
        (folder / "steady.yaml").write_text(text, encoding="utf-8")
        paths[name] = folder / "steady.yaml"
    yield paths
    # The engine tears down after itself; this only matters if a run was killed.
    meshproof(["down", "shop"], paths["state"], timeout=60)


@pytest.fixture(scope="module")
def runs(lab: dict[str, Path]) -> dict[str, Path]:
    """Three steady runs, one with 30 ms more on frontend->catalog, one with 20 ms more."""
    out = {}
    order = (
        ("a1", "steady"),
        ("a2", "steady"),
        ("a3", "steady"),
        ("slower", "slower"),
        ("slow", "slow"),
    )
    for key, experiment in order:
        args = ["run", str(lab[experiment]), "--quiet", "--out", str(lab["reports"])]
        out[key] = run_dir_of(meshproof([*args, "--state-dir", str(lab["state"])], lab["state"]))
    return out


def noise_excess(baseline: Path, candidate: Path, metric: str = "latency_ms") -> float:
    """How much more the host may have added to one side's `metric` than to the other's
    (p50 in ms, or CPU per request): what `compare` charges (harness.compare.noise)."""
    sides = [side_noise(metric, [load_run(run)]) for run in (baseline, candidate)]
    base, cand = (side[0] if side else 0.0 for side in sides)
    return abs(cand - base)


def test_two_real_runs_of_the_same_mesh_compare_as_pass(runs: dict[str, Path]) -> None:
    """Two steady runs of the same mesh, the default tolerances, latency measured on 1 s
    windows (20 a side): Pass. Inconclusive only when one run's host was measurably busier
    than the other's (the noise charged to p50 differs by more than 1 ms, or the steal
    charged to CPU per request by more than 0.05 cores per 1000 RPS), with it named; never
    Fail or Marginal."""
    result = compare_runs(runs["a1"], runs["a2"])
    latency = next(m for m in result.metrics if m.metric == "latency_ms")
    assert latency.sample_unit == "1 s windows"
    assert latency.baseline_n >= 15 and latency.candidate_n >= 15
    assert latency.tolerance_source.startswith("default")
    excess = noise_excess(runs["a1"], runs["a2"])
    cpu_excess = noise_excess(runs["a1"], runs["a2"], "sidecar_cpu_per_krps")
    allowed = ("Pass",) if excess < 1.0 and cpu_excess < 0.05 else ("Pass", "Inconclusive")
    assert result.verdict in allowed, (excess, cpu_excess, [m.model_dump() for m in result.metrics])
    if result.verdict == "Inconclusive":
        assert all(m.model_dump().get("disturbance") for m in result.metrics if m.inconclusive)


def test_20ms_on_one_edge_fails_with_latency_named(
    runs: dict[str, Path], lab: dict[str, Path]
) -> None:
    """20 ms of Toxiproxy latency on frontend->catalog, the default tolerances: latency High
    on 1 s windows, the comparison Fail with exit code 1 and latency_ms a critical failure.
    Inconclusive (exit 3) only when the slow run's host met noise beyond the baseline's that
    could explain 20 ms (over 10 ms charged), with it named; never Pass."""
    result = compare_runs(runs["a2"], runs["slow"])
    latency = next(m for m in result.metrics if m.metric == "latency_ms")
    assert latency.classification == "High", latency.model_dump()
    assert latency.sample_unit == "1 s windows"
    assert latency.low is not None and latency.low > 0
    excess = noise_excess(runs["a2"], runs["slow"])
    allowed = ("Fail",) if excess < 10.0 else ("Fail", "Inconclusive")
    assert result.verdict in allowed, (excess, [m.model_dump() for m in result.metrics])
    if result.verdict == "Fail":
        assert "latency_ms" in result.critical_failures
    else:
        assert latency.model_dump().get("disturbance")
    out = lab["root"] / "compare-out"
    done = meshproof(
        ["compare", str(runs["a2"]), str(runs["slow"]), "--out", str(out)], lab["state"], 120
    )
    assert done.returncode == (1 if result.verdict == "Fail" else 3), done.stderr
    assert "1 s windows" in done.stdout
    assert "latency_ms High" in (out / "junit.xml").read_text()


def test_gate_fails_the_slow_run_against_real_history(
    runs: dict[str, Path], lab: dict[str, Path]
) -> None:
    """History: the three steady runs; the run 30 ms slower fails the gate with p50 named."""
    out = lab["root"] / "gate-out"
    args = [
        "gate",
        str(runs["slower"]),
        "--history",
        str(lab["reports"]),
        "--out",
        str(out),
        "--json",
    ]
    done = meshproof(args, lab["state"], 120)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr
    result = json.loads(done.stdout)
    assert result["history"] == [runs[k].name for k in ("a1", "a2", "a3")]
    regressed = {m["metric"]: m for m in result["metrics"] if m["status"] == "regression"}
    assert "p50_ms" in regressed
    assert regressed["p50_ms"]["started_at"] == runs["slower"].name
    assert any(line.startswith("p50_ms regressed") for line in result["failures"])


def test_gate_passes_a_steady_run(runs: dict[str, Path], lab: dict[str, Path]) -> None:
    """The third steady run against the first two and nothing else: no metric regressed."""
    args = [
        "gate",
        str(runs["a3"]),
        "--min-history",
        "2",
        "--out",
        str(lab["root"] / "g3"),
        "--json",
    ]
    done = meshproof(args, lab["state"], 120)
    result = json.loads(done.stdout)
    assert [m["metric"] for m in result["metrics"] if m["status"] == "regression"] == []
    exit_code = 0 if result["passed"] else 1 if result["failures"] else 3  # 3: inconclusive
    assert done.returncode == exit_code


def test_validate_upgrade_runs_a_git_worktree_sidecar(lab: dict[str, Path], tmp_path: Path) -> None:
    """current vs git:HEAD with --no-tracing: both run, the label is recorded, and the
    candidate's missing sidecar spans show as a trace-completeness failure (5 s a side:
    about 100 requests each, 100 % against 0 % complete, is far beyond chance)."""
    reports = tmp_path / "reports"
    args = [
        "validate-upgrade", str(lab["steady"]),
        "--baseline-sidecar", "current",
        "--candidate-sidecar", "git:HEAD", "--candidate-sidecar-args=--no-tracing",
        "--rounds", "1", "--duration", "5s", "--reports", str(reports),
        "--state-dir", str(lab["state"]), "--out", str(tmp_path / "out"), "--json",
    ]  # fmt: skip
    done = meshproof(args, lab["state"], 2 * RUN_TIMEOUT_S)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["baseline_sidecar"] == "current"
    assert result["candidate_sidecar"].startswith("git:HEAD (")
    assert result["candidate_sidecar"].endswith("--no-tracing")
    completeness = next(m for m in result["metrics"] if m["metric"] == "trace_completeness")
    assert completeness["classification"] == "Low" and completeness["failed"]
    assert "trace_completeness" in result["critical_failures"]
    worktrees = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "worktree", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "meshproof-sidecar-" not in worktrees.stdout
