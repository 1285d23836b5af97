"""The docker runtime through the `meshproof` command: up killed half-way then down, a
failed up, and experiments (`meshproof run ... --runtime docker`) with verdicts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest
import yaml

from mesh_runtime.errors import MeshproofError
from mesh_runtime.runtimes import deployment as state
from mesh_runtime.runtimes.docker import DockerRuntime, Images
from mesh_runtime.runtimes.docker.engine import Engine
from mesh_runtime.runtimes.docker.naming import deployment_id
from tests.conftest import poll, run_group
from tests.integration.docker.conftest import REPO_ROOT, SHOP

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.slow]

MESHPROOF = [sys.executable, "-m", "harness.cli.main"]


def _meshproof(
    args: list[str], state_dir: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MESHPROOF_STATE_DIR": str(state_dir)}
    return run_group([*MESHPROOF, *args], timeout, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL)


def _nothing_left(client: Any, state_dir: Path) -> None:
    work = state.work_dir(state_dir.resolve(), "shop")
    left = Engine(client).leftovers(deployment_id("shop", work))
    assert not any(left.values()), left
    assert not state.state_file(state_dir.resolve(), "shop").exists()
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(work) in " ".join(p.info.get("cmdline") or [])
    ]


def test_down_after_an_up_killed_half_way_leaves_no_container_network_or_tag(
    docker_client: Any, images: Images, tmp_path: Path
) -> None:
    """SIGKILL `meshproof up` while it starts containers; `meshproof down` removes them all."""
    env = {**os.environ, "MESHPROOF_STATE_DIR": str(tmp_path)}
    up = subprocess.Popen(
        [*MESHPROOF, "up", str(SHOP), "--runtime", "docker"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    path = state.state_file(tmp_path.resolve(), "shop")

    def some_started() -> bool:
        try:
            return len(state.load(path).processes) >= 4
        except MeshproofError:
            return False

    try:
        poll(some_started, timeout=120, interval=0.2)
    finally:
        os.killpg(up.pid, signal.SIGKILL)
        up.wait(timeout=10)
    work = state.work_dir(tmp_path.resolve(), "shop")
    assert Engine(docker_client).leftovers(deployment_id("shop", work))["containers"]
    done = _meshproof(["down", "shop"], tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    _nothing_left(docker_client, tmp_path)


def test_a_failed_up_removes_everything_it_started(
    docker_client: Any, images: Images, tmp_path: Path
) -> None:
    """A part not ready in time fails `up`, which then removes what it had made."""
    runtime = DockerRuntime(state_root=tmp_path, client=docker_client, ready_timeout=0.2)
    with pytest.raises(MeshproofError, match=r"not ready|exited"):
        runtime.up(SHOP)
    _nothing_left(docker_client, tmp_path)


def _run(experiment: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "reports"
    done = _meshproof(
        ["run", str(experiment), "--runtime", "docker", "--duration", "20s", "--out", str(out)],
        tmp_path / "state",
        timeout=400,
    )
    runs = sorted(out.glob("*/run.json"))
    assert runs, f"no run directory; stderr:\n{done.stderr[-3000:]}"
    return done, runs[-1].parent


def _check_run(
    done: subprocess.CompletedProcess[str], run_dir: Path, killed: str = ""
) -> dict[str, Any]:
    record = json.loads((run_dir / "run.json").read_text())
    assert done.returncode in (0, 1, 3), done.stderr[-3000:]
    assert record["status"] in ("passed", "failed", "inconclusive")
    assert record["runtime"] == "docker"
    assert record["verdicts"] and all("passed" in v for v in record["verdicts"])
    exits = {"passed": 0, "failed": 1, "inconclusive": 3}  # 3: the host too noisy to judge
    assert done.returncode == exits[record["status"]]
    resources = pd.read_parquet(run_dir / "resources.parquet")
    assert {"sidecar", "service", "control-plane"} <= set(resources["role"])
    # The harness's own processes on this machine (psutil), beside the containers' stats.
    harness = set(resources.loc[resources["role"] == "harness", "name"])
    assert "orchestrator" in harness and any(n.startswith("load-") for n in harness), harness
    assert record["cpu"]["cores"]["harness"] > 0, record["cpu"]
    samples = resources.groupby("name").size()  # sampled each second, all run long ...
    alive = samples[samples.index != killed]
    assert alive.min() >= 10, samples
    if killed:  # ... but for the seconds a killed container was down
        assert samples[killed] >= 5, samples
    return record


def test_retry_masks_503_runs_in_containers_with_verdicts(
    docker_client: Any, images: Images, tmp_path: Path
) -> None:
    """`meshproof run retry-masks-503 --runtime docker --duration 20s`: verdicts, docker stats."""
    done, run_dir = _run(REPO_ROOT / "experiments" / "retry-masks-503.yaml", tmp_path)
    record = _check_run(done, run_dir)
    assert record["summary"]["requests"] > 500
    _nothing_left(docker_client, tmp_path / "state")


def test_container_kill_experiment_kills_restarts_and_judges(
    docker_client: Any, images: Images, tmp_path: Path
) -> None:
    """A container_kill of one catalog sidecar: applied, started again, rolled back, judged."""
    experiment = tmp_path / "container-kill.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "title": "one catalog sidecar container killed",
                "target": {"topology": str(SHOP)},
                "load": {"rps": 50, "warmup": "5s", "duration": "40s", "connections": 8},
                "faults": [
                    {
                        "name": "kill-catalog-1-sidecar",
                        "kind": "container_kill",
                        "target": "sidecar:catalog-1",
                        "at": "10s",
                        "duration": "10s",
                    }
                ],
                "slos": ["error_rate < 0.05", "error_rate < 0.01 after"],
            }
        )
    )
    done, run_dir = _run(experiment, tmp_path)
    record = _check_run(done, run_dir, killed="catalog-1-sidecar")
    fault = next(f for f in record["faults"] if f["name"] == "kill-catalog-1-sidecar")
    assert fault["kind"] == "container_kill" and fault["end_s"] > fault["start_s"]
    ledger = [
        json.loads(line) for line in (run_dir / "faults.ledger.jsonl").read_text().splitlines()
    ]
    ops = [(e["op"], e["name"]) for e in ledger]
    assert ops == [("begin", fault["name"]), ("done", fault["name"])]
    step = ledger[0]["entry"]["steps"][0]
    assert step["action"] == "start_container" and step["container"].endswith("catalog-1-sidecar")
    _nothing_left(docker_client, tmp_path / "state")
