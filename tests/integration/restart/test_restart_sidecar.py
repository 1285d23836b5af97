"""Hot restart of one sidecar process: a second one on the same ports (SO_REUSEPORT)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from restart_helpers import KeepAliveLoad, Processes, ready_pid, wait_for

from mesh_runtime.runtimes.ports import fresh_port

pytestmark = pytest.mark.integration

PYTHON = sys.executable


def start_app(procs: Processes) -> int:
    port = fresh_port()
    argv = [PYTHON, "-m", "mesh_runtime.services", "--service", "catalog"]
    procs.spawn("app", [*argv, "--instance", "catalog-0", "--port", str(port)])
    url = f"http://127.0.0.1:{port}/_health"
    wait_for(lambda: _ok(url), "the app")
    return port


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def sidecar_argv(tmp_path: Path, app_port: int) -> tuple[list[str], int, int]:
    """The command line of a catalog sidecar with a static config; its inbound and admin ports."""
    inbound, outbound, admin = fresh_port(), fresh_port(), fresh_port()
    config = tmp_path / "mesh.json"
    endpoint = {"instance": "catalog-0", "version": "v1", "address": f"127.0.0.1:{inbound}"}
    services = {"catalog": {"name": "catalog", "endpoints": [endpoint]}}
    config.write_text(json.dumps({"version": 1, "services": services}))
    argv = [PYTHON, "-m", "mesh_runtime.sidecar", "--service", "catalog"]
    argv += ["--instance", "catalog-0", "--app-port", str(app_port), "--config", str(config)]
    argv += ["--inbound-port", str(inbound), "--outbound-port", str(outbound)]
    argv += ["--admin-port", str(admin), "--no-tracing"]
    return argv, inbound, admin


def test_second_sidecar_on_same_ports_takes_over_and_old_one_drains_to_exit_0(
    procs: Processes, tmp_path: Path
) -> None:
    """A sidecar started on the ports of a running one becomes ready under its own pid;
    the old one, SIGTERMed, drains and exits 0; requests through the port all succeed."""
    argv, inbound, admin = sidecar_argv(tmp_path, start_app(procs))
    old = procs.spawn("sidecar-old", argv)
    assert wait_for(lambda: ready_pid(admin), "the first sidecar") == old.pid
    with KeepAliveLoad(inbound, "/items", rps=100, connections=4) as load:
        wait_for(lambda: load.sent >= 50, "traffic through the first sidecar")
        new = procs.spawn("sidecar-new", argv)
        wait_for(lambda: ready_pid(admin) == new.pid, "the new sidecar's own ready answer")
        assert new.poll() is None, "the new sidecar could not share the ports"
        old.send_signal(signal.SIGTERM)
        assert old.wait(15) == 0
        after = load.sent
        wait_for(lambda: load.sent >= after + 50, "traffic through the new sidecar alone")
    assert load.failures == 0, f"{load.failures} of {load.sent}: {load.errors} {load.statuses}"
    assert {ready_pid(admin) for _ in range(10)} == {new.pid}
    print(f"sent {load.sent}, failed 0, stale-connection retries {load.stale_retries}")


def test_sidecar_on_ports_held_without_reuseport_fails_with_one_line(
    procs: Processes, tmp_path: Path
) -> None:
    """SO_REUSEPORT shares ports only with listeners that ask for it: a port held by a plain
    listener still fails the sidecar with a one-line error, not a traceback."""
    argv, inbound, _admin = sidecar_argv(tmp_path, fresh_port())
    with socket_listening(inbound):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("mesh_runtime.sidecar: error: cannot listen on 127.0.0.1:")
    assert "Traceback" not in result.stderr


@contextmanager
def socket_listening(port: int) -> Iterator[None]:
    """A plain listener (no SO_REUSEPORT) on `port` for the block."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield
