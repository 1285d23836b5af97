"""`meshproof up | status --json | down` in subprocesses, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from mesh_runtime.runtimes.deployment import load, state_file
from mesh_runtime.runtimes.supervisor import Supervisor, is_running
from tests.conftest import run_group

pytestmark = pytest.mark.integration

ROLES = {"control-plane", "sidecar", "service", "trace-sink", "toxiproxy", "prometheus"}


def meshproof(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "MESHPROOF_STATE_DIR": str(root), **(env or {})}
    return run_group([sys.executable, "-m", "harness.cli.main", *args], 240, env=environ)


def test_up_status_down_leaves_nothing_running(shop_topology: Path, tmp_path: Path) -> None:
    """up serves the shop, status --json lists every process (and status, in a CI log at 80
    columns, one whole line each), down stops every one of them."""
    up = meshproof(tmp_path, "up", str(shop_topology))
    assert up.returncode == 0, up.stderr
    deployment = load(state_file(tmp_path, "shop"))
    try:
        status = meshproof(tmp_path, "status", "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert {p["role"] for p in report["processes"]} == ROLES
        assert all(
            p["alive"] and p["ready"] and p["pid"] > 0 and p["ports"] for p in report["processes"]
        )
        assert requests.get(report["prometheus_url"] + "/-/ready", timeout=5).status_code == 200
        text = meshproof(tmp_path, "status", env={"COLUMNS": "80"}).stdout.splitlines()
        for process in report["processes"]:
            ports = " ".join(f"{k}={v}" for k, v in process["ports"].items())
            rows = [r for r in text if r.split()[:2] == [process["name"], process["role"]]]
            assert len(rows) == 1, text
            line = rows[0]
            assert ports in line and line.endswith("ready"), line
        assert requests.get(report["ingress_url"] + "/shop", timeout=10).status_code == 200
    finally:
        down = meshproof(tmp_path, "down", "shop")
    assert down.returncode == 0, down.stderr
    assert not [p.name for p in deployment.processes if is_running(p)]
    assert not strays(tmp_path)
    assert not state_file(tmp_path, "shop").exists()


def test_bad_topology_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A topology with an unknown callee fails with file, field path and problem, exit 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nservices:\n  a: {ingress: true, calls: [b]}\n")
    result = meshproof(tmp_path, "up", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"meshproof: {bad}: services.a.calls: unknown service 'b'"
    ]


def test_failed_up_cleans_up_after_itself(shop_topology: Path, tmp_path: Path) -> None:
    """When Prometheus (first stage) cannot start, up exits 2 quoting its log and leaves
    nothing: what started beside it is stopped, the sidecars (second stage) never start."""
    tools = tmp_path / "tools"
    tools.mkdir()
    fake = tools / "prometheus"
    fake.write_text("#!/bin/sh\necho 'prometheus: config is broken' >&2\nexit 1\n")
    fake.chmod(0o755)
    result = meshproof(tmp_path, "up", str(shop_topology), env={"MESHPROOF_TOOLS_DIR": str(tools)})
    assert result.returncode == 2
    assert "prometheus exited with code 1" in result.stderr
    assert "config is broken" in result.stderr
    assert not state_file(tmp_path, "shop").exists()
    log_dir = tmp_path / "work" / "shop" / "logs"
    assert (log_dir / "gateway-0.log").exists()  # its stage had started
    assert not (log_dir / "gateway-0-sidecar.log").exists()  # the next one had not
    assert not strays(tmp_path)


def strays(root: Path) -> list[int]:
    """Pids of live processes carrying this deployment's marker, recorded or not."""
    work = root / "work" / "shop"
    return [p.pid for p in Supervisor(work / "logs", marker=str(work)).strays()]


def test_down_after_up_was_killed_half_way(
    shop_topology: Path, tmp_path: Path, eventually: Callable[..., Any]
) -> None:
    """An `up` killed mid-way leaves a state file; down stops every process it had started."""
    environ = {**os.environ, "MESHPROOF_STATE_DIR": str(tmp_path)}
    up = subprocess.Popen(
        [sys.executable, "-m", "harness.cli.main", "up", str(shop_topology)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    path = state_file(tmp_path, "shop")
    try:
        eventually(
            lambda: path.exists() and len(load(path).processes) >= 5, timeout=60, interval=0.02
        )
    finally:
        up.kill()
        up.wait(timeout=10)
    started = load(path).processes
    assert any(is_running(p) for p in started)
    down = meshproof(tmp_path, "down", "shop")
    assert down.returncode == 0, down.stderr
    assert not [p.name for p in started if is_running(p)]
    assert not strays(tmp_path)
    assert not path.exists()
