"""`make soak` stopped with SIGTERM (`kill`, `timeout`) takes the shop it deployed down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from mesh_runtime.runtimes.deployment import load
from tests.conftest import REPO_ROOT, poll, stop_group

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone since it was listed
        return ""


def test_a_soak_stopped_with_sigterm_takes_its_deployment_and_load_down(tmp_path: Path) -> None:
    """Once the shop is up and the load runs, SIGTERM to the soak alone: it exits 143 and
    every process it started (the shop's, in sessions of their own, and the load driver's)
    is gone."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the soak's state dir lands here
    command = [sys.executable, "-m", "harness.bench.soak", "--duration", "10m", "--every", "5m"]
    soak = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    parent = psutil.Process(soak.pid)
    started: list[psutil.Process] = []

    def loaded() -> list[psutil.Process]:
        """Every process under the soak, once its load driver runs (after the shop is up)."""
        if soak.poll() is not None:
            pytest.fail(f"the soak ended ({soak.returncode}): {soak.communicate()[1][-2000:]}")
        kids = parent.children(recursive=True)
        return kids if any("harness.load.locust_main" in _command(k) for k in kids) else []

    try:
        started = poll(loaded, timeout=300, interval=0.5, what="the shop up and the load started")
        state = next(tmp_path.glob("meshproof-soak-*/state/deployments/shop.json"))
        deployed = {record.pid for record in load(state).processes}
        assert deployed <= {kid.pid for kid in started}
        soak.send_signal(signal.SIGTERM)
        code = soak.wait(120)
        assert code == 128 + signal.SIGTERM, soak.communicate()[1][-2000:]
        poll(
            lambda: not [kid for kid in started if _running(kid)],
            timeout=30,
            what="every process the soak started gone",
        )
    finally:
        stop_group(soak)
        for kid in started:  # the shop's run in sessions of their own
            if _running(kid):
                kid.kill()
