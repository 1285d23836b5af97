"""The upstream endpoint pool against a real loopback server: how many connections a burst
of requests opens, and that its count of open connections stays true (issue 17's soak)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
import uvloop

from mesh_runtime.services.http_pool import KeepAlivePool
from mesh_runtime.sidecar.endpoint_pool import MAX_CONNECTING, EndpointPool
from mesh_runtime.sidecar.h2_pool import h2_pool_of
from mesh_runtime.sidecar.http1_wire import encode_request_head
from mesh_runtime.sidecar.upstream import ConnectFailure, UpstreamConnection

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
BURST = 64
T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Each scenario on asyncio's loop and on uvloop's (the sidecar's), which make the
    protocol of a connection at different points of its connect."""
    return asyncio.run if request.param == "asyncio" else uvloop.run


class Server:
    """Answers every request at once; counts the connections it accepted and has open."""

    def __init__(self) -> None:
        self.accepted = 0
        self.open = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening; wait until the connections the client closed are closed here."""
        if self._server is not None:
            self._server.close()
        await _settle(lambda: self.open == 0, "the server's connections closed")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(OK)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


async def _get(pool: EndpointPool) -> int:
    conn, _ = await pool.checkout(5.0)
    head = encode_request_head(b"GET", b"/", [(b"host", b"upstream")], 0)
    response = await conn.send(head, b"", False)
    await response.read_body()
    return response.status


async def _settle(check: Callable[[], bool], what: str) -> None:
    """Let the loop run until `check()` holds (connections close asynchronously)."""
    try:
        async with asyncio.timeout(5):
            while not check():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"not within 5 s: {what}") from None


def test_a_burst_is_served_by_the_connections_that_come_free(run: Run[Any]) -> None:
    """64 requests at once against one kept connection: they wait for it and for the few
    connections being opened (at most MAX_CONNECTING at a time) instead of opening one
    each, as the pool did when a pause of the host sent hundreds of mTLS handshakes at
    the sidecars; afterwards every connection is idle and counted once."""

    async def main() -> tuple[int, int, int, int]:
        server = await Server().start()
        pool = EndpointPool("127.0.0.1", server.port)
        try:
            assert await _get(pool) == 200
            most_opening = 0

            async def watch() -> None:
                nonlocal most_opening
                while True:
                    most_opening = max(most_opening, pool.connecting)
                    await asyncio.sleep(0)

            watcher = asyncio.create_task(watch())
            statuses = await asyncio.gather(*(_get(pool) for _ in range(BURST)))
            watcher.cancel()
            assert statuses == [200] * BURST
            return server.accepted, pool.open, len(pool.idle), most_opening
        finally:
            pool.close_all()
            await server.stop()

    accepted, open_now, idle, most_opening = run(main())
    assert most_opening <= MAX_CONNECTING
    assert accepted <= BURST // 4, f"{accepted} connections for {BURST} quick requests"
    assert open_now == idle == accepted


def test_the_services_pool_serves_a_burst_on_few_connections(run: Run[Any]) -> None:
    """The sample services' pool (the same checkout): 64 calls at once to one address."""

    async def main() -> tuple[int, int]:
        server = await Server().start()
        pool = KeepAlivePool()
        address = f"127.0.0.1:{server.port}"
        headers = [(b"host", address.encode())]
        try:
            calls = (pool.request(address, b"GET", b"/", headers, b"") for _ in range(BURST))
            answers = await asyncio.gather(*calls)
            assert answers == [(200, b"ok")] * BURST
            return server.accepted, server.open
        finally:
            pool.close()
            await server.stop()

    accepted, _ = run(main())
    assert accepted <= BURST // 4, f"{accepted} connections for {BURST} quick calls"


def test_open_connections_stay_counted_once_when_connects_are_cancelled(run: Run[Any]) -> None:
    """Connects and checkouts cancelled at every point (a per-try or route timeout does
    this): the pool's count of open connections equals the connections the server has
    open, and goes back to 0 when they close. A cancel that landed after the connection
    was made used to count it down twice, driving the count below zero, so the limits
    that read it never held."""

    async def main() -> list[tuple[int, int]]:
        server = await Server().start()
        pool = EndpointPool("127.0.0.1", server.port)
        made: list[UpstreamConnection] = []
        seen = []
        try:
            for steps in range(12):
                for attempt in range(20):
                    opening = pool.connect(5.0) if attempt % 2 else _get(pool)
                    task = asyncio.ensure_future(opening)
                    for _ in range(steps):
                        await asyncio.sleep(0)
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        if isinstance(done := await task, UpstreamConnection):
                            made.append(done)  # connected before the cancel was seen
            held = lambda: len(made) + len(pool.idle)  # noqa: E731
            await _settle(lambda: server.open == held(), "the server sees what is held")
            seen.append((pool.open, server.open))
            for conn in made:
                conn.close()
            pool.close_all()  # each counted down as it closes, at once
            await _settle(lambda: server.open == 0, "every connection closed")
            seen.append((pool.open, server.open))
        finally:
            for conn in made:
                conn.close()
            pool.close_all()
            await server.stop()
        return seen

    after_cancels, after_close = run(main())
    assert after_cancels[0] == after_cancels[1], "(pool's count, server's open connections)"
    assert after_close == (0, 0)


def test_every_waiting_request_sees_the_connect_failure(run: Run[Any]) -> None:
    """Nothing listens: each of 10 requests waiting on the connects being opened gets its
    ConnectFailure (the retry and outlier logic count it), none is left waiting."""

    async def main() -> list[BaseException | int]:
        server = await Server().start()
        port = server.port
        await server.stop()
        pool = EndpointPool("127.0.0.1", port)
        async with asyncio.timeout(10):
            return await asyncio.gather(*(_get(pool) for _ in range(10)), return_exceptions=True)

    outcomes = run(main())
    assert [type(o) for o in outcomes] == [ConnectFailure] * 10


class ClosesAtOnce(asyncio.Protocol):
    """An upstream that closes every connection as it opens."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


def test_h2_connections_closed_as_they_open_are_not_counted_open(run: Run[Any]) -> None:
    """20 HTTP/2 checkouts against an upstream that closes each connection as it opens:
    each fails (ConnectFailure) or gets a connection that then closes, and afterwards the
    pool counts none open and keeps none (on uvloop the close came before the connect
    returned: each such connection stayed counted and listed, for good)."""

    async def main() -> tuple[int, int]:
        server = await asyncio.get_running_loop().create_server(ClosesAtOnce, "127.0.0.1", 0)
        pool = EndpointPool("127.0.0.1", server.sockets[0].getsockname()[1])
        h2 = h2_pool_of(pool)
        for _ in range(20):
            with contextlib.suppress(ConnectFailure):
                await h2.checkout(None)
        await _settle(lambda: not pool.open, "the pool counts no connection open")
        server.close()
        return pool.open, len(h2.conns)

    assert run(main()) == (0, 0)


@pytest.mark.parametrize("limit", [1, 3])
def test_the_services_pool_never_opens_more_than_its_cap(run: Run[Any], limit: int) -> None:
    """`max_connections` holds while 64 calls are in flight (its count of open
    connections is what enforces it)."""

    async def main() -> int:
        server = await Server().start()
        pool = KeepAlivePool(max_connections=limit)
        address = f"127.0.0.1:{server.port}"
        headers = [(b"host", address.encode())]
        try:
            calls = (pool.request(address, b"GET", b"/", headers, b"") for _ in range(BURST))
            assert await asyncio.gather(*calls) == [(200, b"ok")] * BURST
            return server.accepted
        finally:
            pool.close()
            await server.stop()

    assert run(main()) <= limit


def test_connections_a_burst_opened_are_closed_once_idle_while_traffic_goes_on(
    run: Run[Any],
) -> None:
    """A burst opens several connections; steady one-at-a-time traffic afterwards only ever
    takes the most recently used one, so the rest sit idle at the other end of the pool.
    Once they have been idle longer than `idle_timeout` the traffic's own returns close
    them: the pool and the server are back to the connection the traffic uses (before,
    the burst's connections stayed open for good)."""

    async def main() -> tuple[int, int, int, int]:
        server = await Server().start()
        pool = EndpointPool("127.0.0.1", server.port)
        pool.idle_timeout = 0.2
        try:
            statuses = await asyncio.gather(*(_get(pool) for _ in range(BURST)))
            assert statuses == [200] * BURST
            after_burst = pool.open
            async with asyncio.timeout(10):
                while pool.open > 1 or server.open > 1:
                    assert await _get(pool) == 200
                    await asyncio.sleep(0.01)
            return after_burst, pool.open, len(pool.idle), server.open
        finally:
            pool.close_all()
            await server.stop()

    after_burst, open_now, idle, server_open = run(main())
    assert after_burst > 1, "the burst opened a single connection: nothing to close"
    assert open_now == idle == server_open == 1
