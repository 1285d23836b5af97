"""Graceful drain on SIGTERM, and a rolling restart under load that loses nothing."""

from __future__ import annotations

import http.client
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sidecar_mesh import Mesh, Outcome, Replica, build_mesh, request
from sidecar_procs import Processes, http_get, wait_until

pytestmark = pytest.mark.integration


def test_sigterm_lets_in_flight_request_finish_then_exits_0(procs: Processes) -> None:
    """A slow request in flight when SIGTERM arrives completes; /ready turns 503; exit 0."""
    mesh = build_mesh(procs, [Replica("catalog-0")])
    server = mesh.servers[0]
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(request, mesh.client.outbound, "GET", "/delay/1500", "catalog")
        # In flight at the server: its app has the request (the client counting it is not
        # enough: a request still on its way may meet the drain closing the idle connection).
        wait_until(lambda: in_flight(mesh) == 1 and mesh.count(0) == 1, 5, "request at the app")
        server.proc.popen.send_signal(signal.SIGTERM)
        wait_until(lambda: http_get(server.admin, "/ready")[0] == 503, 2, "ready 503")
        status, headers, _ = slow.result(timeout=10)
    assert status == 200
    assert headers["x-instance"] == "catalog-0"
    assert server.proc.popen.wait(10) == 0


def in_flight(mesh: Mesh) -> int:
    """Requests the client sidecar has in flight to catalog."""
    return int(mesh.client.stats()["upstreams"]["catalog"]["in_flight"])


def test_drain_closes_idle_keep_alive_connections(procs: Processes) -> None:
    """An idle keep-alive client connection is closed by the drain; the process exits 0."""
    mesh = build_mesh(procs, [Replica("catalog-0")])
    server = mesh.servers[0]
    conn = http.client.HTTPConnection("127.0.0.1", server.inbound, timeout=5)
    conn.request("GET", "/", headers={"Host": "catalog"})
    assert conn.getresponse().read()
    started = time.monotonic()
    server.proc.popen.send_signal(signal.SIGTERM)
    assert server.proc.popen.wait(10) == 0
    assert time.monotonic() - started < 3
    assert conn.sock is not None
    assert conn.sock.recv(10) == b""
    conn.close()


def test_a_connection_in_use_when_the_drain_starts_is_answered_then_closed(
    procs: Processes,
) -> None:
    """A client sending on one keep-alive connection every 20 ms through the drain: every
    request is answered 200, the last answer says `Connection: close`, and the process exits
    0 (a drain that closed the connection between two requests would reset the next one)."""
    mesh = build_mesh(procs, [Replica("catalog-0")])
    server = mesh.servers[0]
    conn = http.client.HTTPConnection("127.0.0.1", server.inbound, timeout=5)
    statuses: list[int] = []
    closed_by_server = False
    signalled = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        conn.request("GET", "/", headers={"Host": "catalog"})
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
        if response.getheader("connection", "").lower() == "close":
            closed_by_server = True
            break
        if len(statuses) == 5 and not signalled:
            server.proc.popen.send_signal(signal.SIGTERM)
            signalled = True
            wait_until(lambda: draining(server.proc.popen, server.admin), 2, "the drain")
        time.sleep(0.02)
    conn.close()
    assert signalled and closed_by_server, statuses
    assert set(statuses) == {200}, statuses
    assert server.proc.popen.wait(10) == 0


def draining(popen: subprocess.Popen[bytes], admin: int) -> bool:
    """The sidecar has begun its drain: /ready answers 503, or it is already gone."""
    if popen.poll() is not None:
        return True
    try:
        return http_get(admin, "/ready")[0] == 503
    except OSError:
        return popen.poll() is not None


def test_rolling_restart_under_load_loses_no_request(procs: Processes) -> None:
    """Every server sidecar is restarted in turn while the client sends load: 0 failures.

    Pooled connections closed by the draining sidecar are replaced transparently; new
    connections refused while it restarts are retried on the other replica. The retry
    budget is sized for the test's 4 concurrent requests (Envoy's default of 3 retries in
    flight would, by design, refuse some retries while half the cluster is down)."""
    retries = {
        "attempts": 2,
        "retryOn": "5xx,reset,connect-failure",
        "budget": {"minRetryConcurrency": 10},
    }
    mesh = build_mesh(
        procs, [Replica("catalog-0"), Replica("catalog-1")], {"http": [{"retries": retries}]}
    )
    stop = threading.Event()
    results: list[Outcome] = []

    def load() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", mesh.client.outbound, timeout=10)
        while not stop.is_set():
            try:
                conn.request("GET", "/delay/5", headers={"Host": "catalog"})
                response = conn.getresponse()
                response.read()
                results.append(Outcome(response.status, {}))
            except (OSError, http.client.HTTPException) as exc:
                results.append(Outcome(0, {}, repr(exc)))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", mesh.client.outbound, timeout=10)
            time.sleep(0.002)
        conn.close()

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        for index, server in enumerate(list(mesh.servers)):
            server.proc.popen.send_signal(signal.SIGTERM)
            assert server.proc.popen.wait(15) == 0
            mesh.servers[index] = procs.restart(server)
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)
    failures = [r for r in results if r.status != 200]
    assert len(results) > 200
    assert failures == [], [
        line
        for line in mesh.client.metrics().splitlines()
        if line.startswith("istio_requests_total")
    ]
