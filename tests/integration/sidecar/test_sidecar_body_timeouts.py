"""Route and per-try timeouts cover the response body (Envoy's semantics), end to end.

The upstream is a small asyncio server in the test (its own thread) that sends a
response head at once and then stalls its body; the client sidecar routes to it.
The sidecar writes the head downstream with the first body chunk, so a body that has
not begun by the deadline still gets 504 UT (or a retry); a body that has begun is cut.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sidecar_mesh import endpoint, mesh_config, metric_sum, request
from sidecar_procs import Processes, Sidecar, wait_until

from mesh_runtime.runtimes.ports import fresh_port

pytestmark = pytest.mark.integration

BODY_LENGTH = 1000
FIRST_PART = b"a" * 100


class StallingUpstream:
    """An HTTP/1.1 server whose answer depends on the path (when it `stalls`):

    - `/partial`: head and 100 of 1000 body bytes, then nothing until the client leaves;
    - `/head-only`: the head (Content-Length 1000), then nothing;
    - `/slow/<ms>`: head and 100 bytes, the other 900 after <ms> milliseconds.
    One that does not stall answers every path at once, in full.
    """

    def __init__(self, instance: str, stalls: bool) -> None:
        self.instance = instance
        self.stalls = stalls
        self.port = 0
        self.hits: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> StallingUpstream:
        self._thread.start()
        assert self._ready.wait(10), "stalling upstream did not start"
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._stop = self._loop.create_future()
        self._ready.set()
        async with server:
            await self._stop
            server.close()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                path = head.split(b" ", 2)[1].decode()
                self.hits.append(path)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                    b"x-instance: %s\r\ncontent-length: %d\r\n\r\n"
                    % (self.instance.encode(), BODY_LENGTH)
                )
                if self.stalls and path in ("/head-only", "/partial"):
                    if path == "/partial":
                        writer.write(FIRST_PART)
                    await writer.drain()
                    await reader.read()  # stall until the sidecar gives up on us
                    return
                writer.write(FIRST_PART)
                await writer.drain()
                if path.startswith("/slow/"):
                    await asyncio.sleep(int(path.rsplit("/", 1)[1]) / 1000)
                writer.write(b"b" * (BODY_LENGTH - len(FIRST_PART)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
def upstreams() -> Iterator[list[StallingUpstream]]:
    started = [
        StallingUpstream("catalog-0", stalls=True).start(),
        StallingUpstream("catalog-1", stalls=False).start(),
    ]
    try:
        yield started
    finally:
        for upstream in started:
            upstream.stop()


def _client(
    procs: Processes,
    ports: list[int],
    route: dict[str, Any],
    log: Path,
) -> Sidecar:
    endpoints = [endpoint(f"catalog-{i}", port) for i, port in enumerate(ports)]
    config = mesh_config({"catalog": {"endpoints": endpoints, "policy": {"http": [route]}}})
    return procs.sidecar(
        "frontend", "frontend-0", fresh_port(), config, extra=["--access-log", str(log)]
    )


def _read_to_close(port: int, path: str, timeout: float = 5.0) -> tuple[bytes, bool, float]:
    """GET on a raw connection: bytes until the sidecar closed it, whether it did, seconds."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: catalog\r\n\r\n".encode())
        chunks: list[bytes] = []
        closed = False
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            except TimeoutError:
                break
            if not chunk:
                closed = True
                break
            chunks.append(chunk)
    return b"".join(chunks), closed, time.monotonic() - started


def _log_lines(path: Path, count: int) -> list[dict[str, Any]]:
    wait_until(
        lambda: path.exists() and len(path.read_text().splitlines()) >= count, 5, "access log"
    )
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_route_timeout_cuts_a_stalled_body_flagged_ut(
    procs: Processes, upstreams: list[StallingUpstream], tmp_path: Path
) -> None:
    """Head and part of the body sent, then a stall past the route timeout: the downstream
    connection is cut before the full body, and the access log and istio_requests_total
    carry status 200 with flag UT."""
    log = tmp_path / "access.jsonl"
    client = _client(procs, [upstreams[0].port], {"timeout": "300ms"}, log)
    data, closed, elapsed = _read_to_close(client.outbound, "/partial")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert closed
    assert body == FIRST_PART  # the part that came in time, then the cut
    assert 0.25 <= elapsed < 2.0
    line = _log_lines(log, 1)[0]
    assert line["response_code"] == 200
    assert line["response_flags"] == "UT"
    assert line["duration_ms"] >= 250
    metrics = client.metrics()
    assert metric_sum(metrics, "istio_requests_total", response_flags="UT") == 1
    assert (
        metric_sum(metrics, "istio_requests_total", response_code="200", response_flags="UT") == 1
    )


def test_route_timeout_before_the_body_began_gives_504_ut(
    procs: Processes, upstreams: list[StallingUpstream], tmp_path: Path
) -> None:
    """A head with no body byte by the route timeout: nothing went downstream yet,
    so the answer is Envoy's local 504 with flag UT, not a cut."""
    log = tmp_path / "access.jsonl"
    client = _client(procs, [upstreams[0].port], {"timeout": "300ms"}, log)
    status, _, body = request(client.outbound, "GET", "/head-only", "catalog")
    assert status == 504
    assert body == b"upstream request timeout\n"
    assert _log_lines(log, 1)[0]["response_flags"] == "UT"
    metrics = client.metrics()
    assert (
        metric_sum(metrics, "istio_requests_total", response_code="504", response_flags="UT") == 1
    )


def test_per_try_timeout_on_a_body_not_yet_begun_is_retried(
    procs: Processes, upstreams: list[StallingUpstream], tmp_path: Path
) -> None:
    """A try to the stalling replica whose body has not begun by perTryTimeout is retried
    on the other replica: every request gets the whole body, flag none, one retry each."""
    route = {
        "timeout": "3s",
        "retries": {"attempts": 1, "perTryTimeout": "200ms", "retryOn": "reset,5xx"},
    }
    log = tmp_path / "access.jsonl"
    client = _client(procs, [upstreams[0].port, upstreams[1].port], route, log)
    for _ in range(4):
        status, headers, body = request(client.outbound, "GET", "/head-only", "catalog")
        assert (status, headers["x-instance"], len(body)) == (200, "catalog-1", BODY_LENGTH)
    stalled = len(upstreams[0].hits)
    assert stalled >= 1
    assert metric_sum(client.metrics(), "meshproof_retries_total") == stalled
    lines = _log_lines(log, 4)
    assert {line["response_flags"] for line in lines} == {"-"}
    assert sorted(line["attempts"] for line in lines).count(2) == stalled


def test_per_try_timeout_after_the_body_began_cuts_without_retry(
    procs: Processes, upstreams: list[StallingUpstream], tmp_path: Path
) -> None:
    """Once part of the body went downstream a per-try timeout cannot be retried: the
    connection is cut at perTryTimeout (not the route timeout), flag UT, no retry."""
    route = {
        "timeout": "3s",
        "retries": {"attempts": 2, "perTryTimeout": "200ms", "retryOn": "reset,5xx"},
    }
    log = tmp_path / "access.jsonl"
    client = _client(procs, [upstreams[0].port], route, log)
    data, closed, elapsed = _read_to_close(client.outbound, "/partial")
    assert data.startswith(b"HTTP/1.1 200")
    assert closed
    assert data.endswith(b"\r\n\r\n" + FIRST_PART)
    assert 0.15 <= elapsed < 1.5
    assert len(upstreams[0].hits) == 1
    metrics = client.metrics()
    assert metric_sum(metrics, "meshproof_retries_total") == 0
    assert metric_sum(metrics, "istio_requests_total", response_flags="UT") == 1
    assert _log_lines(log, 1)[0]["response_flags"] == "UT"


def test_body_that_arrives_in_time_is_untouched(
    procs: Processes, upstreams: list[StallingUpstream], tmp_path: Path
) -> None:
    """A body that pauses but completes before both timeouts arrives whole, flag none,
    and the connection stays open for the next request."""
    route = {
        "timeout": "2s",
        "retries": {"attempts": 1, "perTryTimeout": "1500ms", "retryOn": "reset,5xx"},
    }
    log = tmp_path / "access.jsonl"
    client = _client(procs, [upstreams[0].port], route, log)
    for _ in range(2):
        status, _, body = request(client.outbound, "GET", "/slow/300", "catalog")
        assert status == 200
        assert body == FIRST_PART + b"b" * (BODY_LENGTH - len(FIRST_PART))
    lines = _log_lines(log, 2)
    assert [line["response_flags"] for line in lines] == ["-", "-"]
    assert all(line["duration_ms"] >= 250 for line in lines)  # logged at the body's end
    metrics = client.metrics()
    assert metric_sum(metrics, "istio_requests_total", response_flags="-") == 2
    assert metric_sum(metrics, "meshproof_retries_total") == 0
