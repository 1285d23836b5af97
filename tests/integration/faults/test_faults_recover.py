"""`meshproof recover` undoes the faults of a harness that was SIGKILLed mid-fault."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.faults import FaultContext, FaultLedger, registrations
from mesh_runtime.runtimes.deployment import Deployment
from tests.integration.faults.faultkit import eventually

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
MESHPROOF = [sys.executable, "-m", "harness.cli.main"]


@pytest.fixture
def dying_harness(
    shop: Deployment, state_root: Path, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    ledger = tmp_path / "run" / "faults.ledger.jsonl"
    child = subprocess.Popen(
        [sys.executable, str(HERE / "dying_harness.py"), str(state_root), str(ledger)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        yield child, ledger
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


def _status(pid: int) -> str:
    return str(psutil.Process(pid).status())


def _wait_for_line(child: subprocess.Popen[str], text: str, timeout: float) -> None:
    """Read the child's stdout until `text` (readline returns at once if it exits)."""
    assert child.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        if text in line:
            return
        if not line and child.poll() is not None:
            raise AssertionError(f"the harness exited with {child.returncode} before {text}")
    raise AssertionError(f"no {text} within {timeout}s")


def test_recover_after_sigkill_removes_toxics_and_resumes(
    dying_harness: tuple[subprocess.Popen[str], Path],
    ctx: FaultContext,
    state_root: Path,
) -> None:
    """Toxics and a pause left by a SIGKILLed harness are all undone by `meshproof recover`."""
    child, ledger = dying_harness
    _wait_for_line(child, "APPLIED", timeout=30)
    paused = ctx.deployment.process("cart-0-sidecar")
    assert ctx.toxiproxy is not None
    eventually(lambda: _status(paused.pid) == psutil.STATUS_STOPPED, 5, "sidecar paused")
    assert ctx.toxiproxy.toxics("frontend--catalog-0")

    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert [e.name for e in FaultLedger(ledger).pending()] == ["slow-catalog", "freeze-cart"]

    done = subprocess.run(
        [*MESHPROOF, "recover", "--state-dir", str(state_root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "undone" in done.stdout and "slow-catalog" in done.stdout
    for proxy in ("frontend--catalog-0", "frontend--catalog-1"):
        assert ctx.toxiproxy.toxics(proxy) == []
    eventually(lambda: _status(paused.pid) != psutil.STATUS_STOPPED, 5, "sidecar resumed")
    assert FaultLedger(ledger).pending() == []
    assert registrations(state_root) == []


def test_recover_with_nothing_registered_says_so(tmp_path: Path) -> None:
    """With no registered ledgers, recover says there is nothing to do and exits 0."""
    done = subprocess.run(
        [*MESHPROOF, "recover", "--state-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert "nothing to recover" in done.stdout
