"""A benchmark stopped with SIGTERM takes the processes it started with it
(`harness.bench.procs.spawned`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from mesh_runtime.runtimes.ports import fresh_port
from tests.conftest import poll, stop_group

BENCH = """
import sys, time
from harness.bench.procs import spawned
port = int(sys.argv[1])
child = [sys.executable, "-c", "import socket, time; s = socket.create_server(('127.0.0.1', %d)); time.sleep(600)" % port]
with spawned("child", child, port=port) as proc:
    print(proc.pid, flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return " Z " not in stat  # a zombie is gone but for its parent's wait


def test_sigterm_to_a_benchmark_stops_what_it_spawned() -> None:
    """The child runs in its own session (a signal to the bench's group misses it): before,
    SIGTERM ended Python at once and the child ran on; now the `with` block unwinds and
    kills it, and the bench exits 143 (128 + SIGTERM)."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    bench = subprocess.Popen(
        [sys.executable, "-c", BENCH, str(fresh_port())],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    child = 0
    try:
        assert bench.stdout is not None
        child = int(bench.stdout.readline())
        assert _alive(child)
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=10) == 143
        poll(lambda: not _alive(child), timeout=5, what="the spawned child gone")
    finally:
        stop_group(bench)
        if child and _alive(child):  # left behind: the test fails, and leaves nothing running
            os.killpg(child, signal.SIGKILL)
