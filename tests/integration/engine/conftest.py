"""Short experiments run for real through `meshproof run`: fixtures and clean-up.

Each test gets its own state directory (never the developer's .meshproof) and reports
folder; whatever a test leaves deployed is taken down by the finalizer (paused processes
are resumed first), and every harness process a test started and left running is stopped
(SIGTERM, then SIGKILL of its process group).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mesh_runtime.runtimes.deployment import load as load_state
from mesh_runtime.runtimes.deployment import saved_deployments
from mesh_runtime.runtimes.local import LocalRuntime
from tests.integration.engine.enginekit import SHOP, HarnessProcess


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A private state root; anything still deployed in it is taken down afterwards."""
    root = tmp_path / "state"
    root.mkdir()
    yield root
    runtime = LocalRuntime(state_root=root)
    for path in saved_deployments(root):
        deployment = load_state(path)
        for record in deployment.processes:  # a paused process cannot drain
            with contextlib.suppress(OSError):
                os.kill(record.pid, signal.SIGCONT)
        runtime.down(deployment)


@pytest.fixture
def write_experiment(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Write an experiment file (topology: the shop) into the test's folder."""

    def write(spec: dict[str, Any]) -> Path:
        body = {"target": {"topology": str(SHOP)}, **spec}
        path = tmp_path / f"{body.pop('name', 'exp')}.yaml"
        path.write_text(yaml.safe_dump(body))
        return path

    return write


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Callable[[list[str]], HarnessProcess]]:
    """Start `meshproof ...` as a child process; stopped at the end if it still runs (a
    test that timed out: SIGTERM, so its deployment is torn down, then SIGKILL)."""
    started: list[HarnessProcess] = []

    def start(args: list[str]) -> HarnessProcess:
        process = HarnessProcess(args, tmp_path / f"harness-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
