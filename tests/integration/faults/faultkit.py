"""Helpers for the fault integration tests: build an injector, apply it for a while, poll."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from pydantic import TypeAdapter

from harness.faults import FaultContext, Injector, make_injector
from harness.spec.faults import FaultSpec
from tests.conftest import poll

FAULT = TypeAdapter(FaultSpec)
ROOT = Path(__file__).resolve().parents[3]


MESHPROOF = [sys.executable, "-m", "harness.cli.main"]


def recover(state_root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`meshproof recover --state-dir state_root [extra]` as a process of its own (the repo
    on its PYTHONPATH), its output captured; not checked."""
    return subprocess.run(
        [*MESHPROOF, "recover", "--state-dir", str(state_root), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@contextmanager
def harness_process(script: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`python script args` (a dying harness stand-in) in a session of its own, the repo on
    its PYTHONPATH, stdout piped; its group SIGKILLed on the way out if it still runs."""
    child = subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


def injector(ctx: FaultContext, **fault: Any) -> Injector:
    return make_injector(FAULT.validate_python(fault), ctx)


@contextmanager
def applied(inj: Injector) -> Iterator[dict[str, Any]]:
    """rollback_entry (as the ledger holds it: JSON), apply; revert on the way out whatever
    happened."""
    entry = inj.rollback_entry().to_json()
    inj.apply()
    try:
        yield entry
    finally:
        inj.revert()


def get(url: str, timeout: float = 5.0) -> requests.Response:
    return requests.get(url, timeout=timeout)


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until it holds; fail after `timeout` seconds."""
    poll(check, timeout, 0.05, what)


def wait_for_line(child: subprocess.Popen[str], text: str, timeout: float) -> None:
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
