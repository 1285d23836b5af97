"""The mesh bench's two-nodes layout: which CPUs each side gets, and the pinning itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bench.layout import halves, side, two_nodes


def test_the_cpus_are_cut_in_two_halves_in_order() -> None:
    assert halves([1, 0]) == ({0}, {1})
    assert halves([3, 0, 2, 1, 5]) == ({0, 1}, {2, 3, 5})
    with pytest.raises(ValueError, match="at least 2 CPUs"):
        halves([0])


def test_a_process_is_on_the_side_its_role_names() -> None:
    assert side("mtls-sidecar-server") == side("haproxy-server") == "server"
    assert side("sidecar-client") == side("base-mtls-sidecar-client") == "client"


def _allowed(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(
        line.split()[1] for line in status.splitlines() if line.startswith("Cpus_allowed_list")
    )


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="this machine has one CPU")
def test_two_nodes_pins_each_side_and_puts_everything_back() -> None:
    """A server-side and a client-side process (real children, every thread) and this
    process go to their halves inside the block, and back to every CPU after it."""
    everything = os.sched_getaffinity(0)
    client_cpus, server_cpus = halves(everything)
    code = "import threading, time; threading.Thread(target=time.sleep, args=(60,)).start(); time.sleep(60)"
    children = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(3)]
    try:
        roles = {"sidecar-server": children[0].pid, "sidecar-client": children[1].pid}
        with two_nodes(roles, [children[2].pid]) as line:
            assert os.sched_getaffinity(0) == client_cpus
            for child, cpus in zip(children, (server_cpus, client_cpus, server_cpus), strict=True):
                for tid in os.listdir(f"/proc/{child.pid}/task"):
                    assert os.sched_getaffinity(int(tid)) == cpus
            assert "server side (server proxies, echo server) on CPUs" in line
        assert os.sched_getaffinity(0) == everything
        assert all(os.sched_getaffinity(child.pid) == everything for child in children)
        assert _allowed(children[0].pid) == _allowed(os.getpid())
    finally:
        for child in children:
            child.kill()
            child.wait()
