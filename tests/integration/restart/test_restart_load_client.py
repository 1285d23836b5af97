"""The load driver's HTTP client on a keep-alive connection its server closes under it."""

from __future__ import annotations

import json
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from io import BufferedIOBase
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PROBE = Path(__file__).with_name("stale_probe.py")
REPO = Path(__file__).resolve().parents[3]


class _AnswerOnceThenClose(socketserver.StreamRequestHandler):
    """Answers the first request of a connection (keep-alive); reads the second and closes
    without a byte of answer, as a draining server closing an idle connection races it."""

    def handle(self) -> None:
        for served in range(2):
            head = _read_head(self.rfile)
            if head is None:
                return
            if served == 1:
                return  # closed before any response byte
            body = b"ok"
            self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)


def _read_head(rfile: BufferedIOBase) -> bytes | None:
    """A request head (no body: the probe's requests carry at most one byte, ignored)."""
    lines = []
    while (line := rfile.readline()) not in (b"\r\n", b"\n", b""):
        lines.append(line)
    return b"".join(lines) if lines else None


@pytest.fixture
def closing_server() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _AnswerOnceThenClose)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_get_on_a_connection_closed_before_any_answer_is_retried_once_and_counted(
    closing_server: int,
) -> None:
    """Each GET after the first meets a closed reused connection: it is sent once more on a
    new one and answers 200, one stale retry each; a POST is not retried (not idempotent)."""
    result = subprocess.run(
        [sys.executable, str(PROBE), str(closing_server), "5"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outcomes"][:5] == [200] * 5
    assert report["outcomes"][5] != 200
    assert report["stale_retries"] == 4
