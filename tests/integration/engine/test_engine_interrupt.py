"""An interrupted or killed harness leaves nothing behind: SIGINT, SIGTERM, SIGKILL + recover."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest

from harness.cli.main import main
from harness.faults.ledger import parse_lines, pending_entries
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.deployment import load as load_state
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient
from mesh_runtime.topology import load_topology
from tests.integration.engine.enginekit import (
    SHOP,
    HarnessProcess,
    ledger_begun,
    processes_mentioning,
    wait_for,
)

pytestmark = pytest.mark.integration

FAULTS = {"slow-catalog-1", "paused-sidecar", "probe-abort"}
EXPERIMENT: dict[str, Any] = {
    "name": "interrupt-me",
    "title": "three open-ended faults, interrupted half-way",
    "load": {"rps": 40, "warmup": "1s", "duration": "60s", "connections": 8},
    "faults": [
        {
            "name": "slow-catalog-1",
            "kind": "toxic",
            "target": "frontend->catalog-1",
            "at": "1s",
            "params": {"type": "latency", "attributes": {"latency": 30}},
        },
        {
            "name": "paused-sidecar",
            "kind": "process_pause",
            "target": "sidecar:catalog-1",
            "at": "1s",
        },
        {
            "name": "probe-abort",
            "kind": "mesh_fault",
            "target": "catalog",
            "at": "1s",
            "params": {"abort": {"httpStatus": 503}, "headers": {"x-probe": {"exact": "1"}}},
        },
    ],
    "slos": ["error_rate < 0.5"],
}


def deployment_of(state_dir: Path) -> Deployment:
    return load_state(state_dir / "deployments" / "shop.json")


def faults_in_effect(deployment: Deployment) -> dict[str, bool]:
    """Which of the three faults the deployment shows right now."""
    toxiproxy = ToxiproxyClient(deployment.toxiproxy_url or "")
    toxics = [t for p in deployment.proxies for t in toxiproxy.toxics(p.name)]
    sidecar = deployment.process("catalog-1-sidecar")
    paused = psutil.Process(sidecar.pid).status() == psutil.STATUS_STOPPED
    with ControlPlaneClient(deployment.control_url or "", deployment.control_token) as control:
        policy = control.config().services["catalog"].policy
    original = load_topology(SHOP).services["catalog"].policy
    return {"toxic": bool(toxics), "paused": paused, "policy": policy != original}


def assert_no_fault_in_effect(state_dir: Path) -> None:
    """None of the three faults shows in the deployment any more."""
    assert faults_in_effect(deployment_of(state_dir)) == {
        "toxic": False,
        "paused": False,
        "policy": False,
    }


def start_and_wait_for_faults(
    harness: Callable[[list[str]], HarnessProcess],
    experiment: Path,
    out: Path,
    state_dir: Path,
    *extra: str,
) -> HarnessProcess:
    args = ["run", str(experiment), "--out", str(out), "--quiet", "--state-dir", str(state_dir)]
    process = harness([*args, *extra])
    wait_for(lambda: ledger_begun(out) >= FAULTS, 120, "every fault on the ledger")
    wait_for(lambda: all(faults_in_effect(deployment_of(state_dir)).values()), 30, "faults applied")
    return process


def alive(pid: int) -> bool:
    """A process that runs (a zombie waiting to be reaped by init does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def run_dir(out: Path) -> Path:
    (path,) = [p for p in out.iterdir() if p.is_dir()]
    return path


def assert_aborted_with_data(out: Path) -> None:
    path = run_dir(out)
    record = json.loads((path / "run.json").read_text())
    assert record["status"] == "aborted"
    assert "SIG" in (record["error"] or "")
    assert len(pd.read_parquet(path / "requests.parquet")) > 0
    assert {f["name"] for f in record["faults"]} == FAULTS
    ledger = parse_lines((path / "faults.ledger.jsonl").read_text())
    assert pending_entries(ledger) == []
    assert processes_mentioning("harness.load.locust_main", str(path)) == []
    assert processes_mentioning("harness.observe.probe", str(path)) == []
    assert record["host"] is not None  # the probe's seconds up to the interruption


def test_sigint_rolls_back_every_fault_and_keeps_the_data(
    tmp_path: Path,
    state_dir: Path,
    write_experiment: Callable[[dict[str, Any]], Path],
    harness: Callable[[list[str]], HarnessProcess],
) -> None:
    """SIGINT mid-run (--keep): exit 2, run aborted with its data, no toxic, no paused
    process, the policy as it was, no Locust process."""
    out = tmp_path / "reports"
    process = start_and_wait_for_faults(
        harness, write_experiment(EXPERIMENT), out, state_dir, "--keep"
    )
    process.proc.send_signal(signal.SIGINT)
    assert process.wait(120) == 2
    assert_aborted_with_data(out)
    assert_no_fault_in_effect(state_dir)


def test_sigterm_tears_everything_down(
    tmp_path: Path,
    state_dir: Path,
    write_experiment: Callable[[dict[str, Any]], Path],
    harness: Callable[[list[str]], HarnessProcess],
) -> None:
    """SIGTERM mid-run: exit 2, run aborted with its data, and no process of it is left."""
    out = tmp_path / "reports"
    process = start_and_wait_for_faults(harness, write_experiment(EXPERIMENT), out, state_dir)
    pids = [p.pid for p in deployment_of(state_dir).processes]
    process.proc.send_signal(signal.SIGTERM)
    assert process.wait(120) == 2
    assert_aborted_with_data(out)
    assert not (state_dir / "deployments" / "shop.json").exists()
    assert [pid for pid in pids if alive(pid)] == []


def test_recover_after_the_harness_is_sigkilled_mid_fault(
    tmp_path: Path,
    state_dir: Path,
    write_experiment: Callable[[dict[str, Any]], Path],
    harness: Callable[[list[str]], HarnessProcess],
) -> None:
    """`meshproof run` SIGKILLed with three faults on: `meshproof recover` undoes them all."""
    out = tmp_path / "reports"
    process = start_and_wait_for_faults(harness, write_experiment(EXPERIMENT), out, state_dir)
    process.proc.send_signal(signal.SIGKILL)
    process.wait(10)
    assert all(faults_in_effect(deployment_of(state_dir)).values())
    assert main(["recover", "--state-dir", str(state_dir)]) == 0
    assert_no_fault_in_effect(state_dir)
    wait_for(
        lambda: not processes_mentioning("harness.load.locust_main", str(out)),
        15,
        "the orphaned Locust processes to exit",
    )
