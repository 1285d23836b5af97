"""Fixtures shared by every test tier; keep this small and generic."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

# Fixtures with a real Kubernetes API server (local_apiserver, kube, viewer): started on first use.
pytest_plugins = ["tests.fixtures.kube", "tests.fixtures.node", "tests.fixtures.jaeger"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def poll(
    check: Callable[[], T], timeout: float = 10.0, interval: float = 0.1, what: str = "condition"
) -> T:
    """Call `check` until it returns something truthy (returned), or fail the test at the
    deadline saying `what` was not met. The one polling loop of the tests: the process kits'
    `wait_for` / `eventually` / `wait_until` are this with their own defaults."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() >= deadline:
            pytest.fail(f"{what} not met within {timeout:g}s (last value: {last!r})")
        time.sleep(interval)
        last = check()
    return last


def answers_200(url: str, process: subprocess.Popen[Any]) -> bool:
    """Whether `url` answers 200 now (a readiness check for `poll`); fails the test at once
    when `process`, the one that should answer, has exited."""
    import requests

    if process.poll() is not None:
        pytest.fail(f"{url}: the process exited with {process.returncode}")
    try:
        return requests.get(url, timeout=0.5).status_code == 200
    except requests.RequestException:
        return False


def half_closed_exchange(address: str, payload: bytes, timeout: float = 10.0) -> bytes:
    """Send `payload` to HOST:PORT, half-close, read until the server closes (a reset
    raises)."""
    import socket

    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port on 127.0.0.1 (`fresh_port`) where a thread accepts every connection and
    holds it open without ever sending a byte (a hung server); yields the port."""
    import socket
    import threading

    from mesh_runtime.runtimes.ports import fresh_port

    server = socket.create_server(("127.0.0.1", fresh_port()), backlog=64)
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                connection, _ = server.accept()
            except OSError:  # the listener was closed: done
                return
            held.append(connection)

    thread = threading.Thread(target=accept, name="silent-listener", daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stopping.set()
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(timeout=5)
        for connection in held:
            connection.close()


def stop_group(
    process: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 5.0
) -> int | None:
    """Stop a process started with `start_new_session=True` and all it started: `sig` to
    its process group, SIGKILL after `grace` seconds. Its exit code. The one way the tests'
    process kits stop what they started."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    return process.returncode


HARNESS_GRACE_S = 60.0
"""How long a harness stopped with SIGTERM may take to roll back its faults and tear down
what it deployed (the engine does on SIGTERM: tests/integration/engine/test_engine_interrupt.py)
before its group is SIGKILLed. Its deployment runs in sessions of its own, which a SIGKILL
of the harness's group never reaches."""


def run_group(
    command: list[str], timeout: float, grace: float = HARNESS_GRACE_S, **options: Any
) -> subprocess.CompletedProcess[str]:
    """`command` in a session of its own, its output captured as text (`options`: Popen's
    cwd, env, stdin). Past `timeout` it is stopped as a user stops it, SIGTERM then SIGKILL
    after `grace` (`stop_group`), so a harness tears its deployment down, and the test fails
    with the end of its output."""
    with subprocess.Popen(
        command, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, **options,
    ) as process:  # fmt: skip
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_group(process, signal.SIGTERM, grace)
            out, err = process.communicate()
            pytest.fail(f"{' '.join(command)} did not finish in {timeout:g}s: {err[-2000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.fixture
def eventually() -> Callable[..., Any]:
    """`eventually(check, timeout=10)`: poll with a deadline instead of sleeping."""
    return poll


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shop_topology(repo_root: Path) -> Path:
    """The sample shop topology file shipped with meshproof."""
    return repo_root / "experiments" / "topologies" / "shop.yaml"
