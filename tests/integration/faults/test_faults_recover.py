"""`meshproof recover` undoes the faults of a harness that was SIGKILLed mid-fault."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from harness.faults import FaultContext, FaultLedger, registrations
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.local import LocalRuntime
from mesh_runtime.runtimes.supervisor import is_running
from tests.integration.faults.faultkit import eventually, harness_process, recover, wait_for_line

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


@pytest.fixture
def dying_harness(
    shop: Deployment, state_root: Path, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    ledger = tmp_path / "run" / "faults.ledger.jsonl"
    with harness_process(HERE / "dying_harness.py", str(state_root), str(ledger)) as child:
        yield child, ledger


def _status(pid: int) -> str:
    return str(psutil.Process(pid).status())


def test_recover_after_sigkill_removes_toxics_and_resumes(
    dying_harness: tuple[subprocess.Popen[str], Path],
    ctx: FaultContext,
    state_root: Path,
    runtime: LocalRuntime,
    shop: Deployment,
) -> None:
    """A toxic, a pause and a kill left by a SIGKILLed harness are all undone by recover."""
    child, ledger = dying_harness
    wait_for_line(child, "APPLIED", timeout=30)
    paused = ctx.deployment.process("cart-0-sidecar")
    assert ctx.toxiproxy is not None
    eventually(lambda: _status(paused.pid) == psutil.STATUS_STOPPED, 5, "sidecar paused")
    assert ctx.toxiproxy.toxics("frontend--catalog-0")

    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    pending = [e.name for e in FaultLedger(ledger).pending()]
    assert pending == ["slow-catalog", "freeze-cart", "kill-inventory"]
    killed = runtime.load(shop.name).process("inventory-0")
    eventually(lambda: not is_running(killed), 5, "inventory-0 killed")

    done = recover(state_root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "undone" in done.stdout and "slow-catalog" in done.stdout
    for proxy in ("frontend--catalog-0", "frontend--catalog-1"):
        assert ctx.toxiproxy.toxics(proxy) == []
    eventually(lambda: _status(paused.pid) != psutil.STATUS_STOPPED, 5, "sidecar resumed")
    restarted = runtime.load(shop.name).process("inventory-0")
    assert restarted.pid != killed.pid and is_running(restarted)
    app_port = next(r.app_port for r in shop.instances if r.instance == "inventory-0")
    assert requests.get(f"http://127.0.0.1:{app_port}/_health", timeout=5).status_code == 200
    assert FaultLedger(ledger).pending() == []
    assert registrations(state_root) == []


def test_recover_with_nothing_registered_says_so(tmp_path: Path) -> None:
    """With no registered ledgers, recover says there is nothing to do and exits 0."""
    done = recover(tmp_path)
    assert done.returncode == 0
    assert "nothing to recover" in done.stdout
