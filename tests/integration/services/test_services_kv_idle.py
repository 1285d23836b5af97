"""The kv store's idle timeout on a real process and real sockets: a client that sends
nothing is closed once the timeout passes, and the store goes on serving."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from mesh_runtime.runtimes.ports import fresh_port
from tests.conftest import answers_200, half_closed_exchange, poll, stop_group

pytestmark = pytest.mark.integration

IDLE_S = 0.5
"""The kv's --idle-timeout here (its default is minutes)."""


@pytest.fixture(scope="module")
def kv_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port, log = fresh_port(), tmp_path_factory.mktemp("kv-idle") / "kv.log"
    argv = [sys.executable, "-m", "mesh_runtime.services.kv", "--instance", "kv-0"]
    argv += ["--port", str(port), "--idle-timeout", str(IDLE_S)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        poll(
            partial(answers_200, f"http://127.0.0.1:{port}/_health", process), 15, 0.05, "kv ready"
        )
        yield port
    finally:
        stop_group(process)
    assert "Traceback" not in Path(log).read_text(errors="replace")


def _read_to_end(sock: socket.socket) -> bytes:
    """Every byte until the kv closes (blocks; the socket's own timeout fails the test)."""
    chunks = []
    while chunk := sock.recv(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_client_that_sends_nothing_is_closed_after_the_idle_timeout(kv_port: int) -> None:
    """A connection with no command is closed in order (EOF, no reset) once IDLE_S passed,
    not before; it was held open for as long as the client liked."""
    with socket.create_connection(("127.0.0.1", kv_port), timeout=10) as sock:
        started = time.monotonic()
        assert _read_to_end(sock) == b""
        assert time.monotonic() - started >= IDLE_S * 0.9


def test_the_idle_timeout_counts_from_the_last_command(kv_port: int) -> None:
    """A command is answered, then the silent connection is closed; a stalled half line is
    idle too; the store serves the next client."""
    with socket.create_connection(("127.0.0.1", kv_port), timeout=10) as sock:
        sock.sendall(b"SET a 1\nPING\n")
        assert _read_to_end(sock) == b"OK\nPONG kv-0\n"
    with socket.create_connection(("127.0.0.1", kv_port), timeout=10) as sock:
        sock.sendall(b"GET a")  # no newline: the line never completes
        assert _read_to_end(sock) == b""
    assert half_closed_exchange(f"127.0.0.1:{kv_port}", b"GET a\n") == b"VALUE 1\n"
