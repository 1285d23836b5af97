"""The local API server itself: ready only when /readyz says so, stopped without leftovers,
and how long it takes (printed, for the record; not a timed assertion)."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
import pytest
import requests

from harness.kube.testing import ApiServerBinaries, LocalApiServer, free_ports

pytestmark = pytest.mark.integration


def test_session_server_is_ready_and_timed(
    local_apiserver: LocalApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shared server answers /readyz ok over TLS with its own CA; its timings are printed."""
    admin = local_apiserver.user("admin")
    answer = requests.get(
        f"{local_apiserver.url}/readyz",
        headers={"Authorization": f"Bearer {admin.token}"},
        verify=str(local_apiserver.ca_file),
        timeout=5,
    )
    assert (answer.status_code, answer.text) == (200, "ok")
    timings = local_apiserver.timings
    assert {"etcd_ready_s", "apiserver_ready_s", "start_to_ready_s", "crds_established_s"} <= set(
        timings
    )
    assert timings["crds"] >= 20
    with capsys.disabled():
        shown = ", ".join(f"{k}={v:.2f}" for k, v in sorted(timings.items()))
        print(f"\nlocal kube-apiserver: {shown}")


def test_stop_leaves_no_process(apiserver_binaries: ApiServerBinaries, tmp_path: Path) -> None:
    """A second server starts beside the first on its own ports, and stop ends etcd and the
    API server (no pid of theirs is left)."""
    server = LocalApiServer(tmp_path / "own", apiserver_binaries)
    with server:
        pids = server.pids
        assert len(pids) == 2 and all(psutil.pid_exists(pid) for pid in pids)
        with server.client() as kube:
            assert kube.version().startswith("v1.")
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        for pid in pids
    )
    assert (tmp_path / "own" / "logs" / "kube-apiserver.log").exists()


def test_a_taken_port_is_tried_again(apiserver_binaries: ApiServerBinaries, tmp_path: Path) -> None:
    """If another process takes a chosen port first, etcd fails to bind and the server
    starts again on fresh ports instead of failing."""
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    offered: list[tuple[int, int, int]] = []

    def ports() -> tuple[int, int, int]:
        chosen = free_ports()
        offered.append((taken, *chosen[1:]) if not offered else chosen)
        return offered[-1]

    try:
        with LocalApiServer(tmp_path / "retry", apiserver_binaries, ports=ports) as server:
            assert len(offered) == 2
            assert server.url.endswith(f":{offered[1][2]}")
            with server.client() as kube:
                assert kube.version().startswith("v1.")
        log = (tmp_path / "retry" / "logs" / "etcd.log").read_text()
        assert "address already in use" in log
    finally:
        squatter.close()
