"""The client side over HTTP/2: streams multiplexed on pooled connections to one endpoint.

`H2Pool` (one per `EndpointPool`, made on first use) keeps a few HTTP/2 connections to the
endpoint's address: a request takes a stream on a connection with a free slot (below the
peer's SETTINGS_MAX_CONCURRENT_STREAMS and the pool's own cap); only when every connection
is full is another opened, under the circuit breaker's connection limit, else the request
waits as a pending one (or overflows). Concurrent requests wait for a connection being
opened instead of each opening one. Over mTLS the connection offers only `h2` by ALPN
and checks the server's SPIFFE ID; in plain text it speaks HTTP/2 with prior knowledge.
Each connection is an `H2Upstream` (`h2_upstream.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING

from mesh_runtime.sidecar.endpoint_pool import EndpointPool, PoolOverflow
from mesh_runtime.sidecar.h2_upstream import H2Upstream
from mesh_runtime.sidecar.tls import principal_of
from mesh_runtime.sidecar.upstream import ConnectFailure

if TYPE_CHECKING:
    from mesh_runtime.sidecar.state import ServiceRuntime


def h2_pool_of(pool: EndpointPool) -> H2Pool:
    """The HTTP/2 connections of `pool`'s endpoint (made on first use)."""
    if pool.h2 is None:
        pool.h2 = H2Pool(pool)
    return pool.h2


class H2Pool:
    """The HTTP/2 connections to one endpoint address, sharing its `EndpointPool`'s counts."""

    def __init__(self, base: EndpointPool) -> None:
        self._base = base
        self.conns: list[H2Upstream] = []
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._connecting: asyncio.Future[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._waiters)

    async def checkout(self, cluster: ServiceRuntime | None) -> tuple[H2Upstream, bool]:
        """A connection with a free stream, and whether it carried requests before."""
        while True:
            conn = self._with_room()
            if conn is not None:
                return conn, conn.requests > 0
            if self._connecting is not None:
                await asyncio.shield(self._connecting)
                continue
            if cluster is None:
                return await self._connect(1.0), False
            if cluster.breaker.may_open_connection(cluster.open_connections()):
                return await self._connect(cluster.connect_timeout), False
            if not cluster.breaker.may_queue(cluster.pending_requests()):
                raise PoolOverflow
            await self._wait()

    def wake(self) -> None:
        """A stream slot may have come free (or a connection closed): waiters look again."""
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def retire(self, conn: H2Upstream) -> bool:
        """Whether an idle connection has served its maxRequestsPerConnection."""
        limit = self._base.max_requests_per_connection
        return bool(limit) and conn.requests >= limit

    def closed(self, conn: H2Upstream) -> None:
        if conn in self.conns:
            self.conns.remove(conn)
            self._base.open -= 1
        self.wake()

    def close_all(self) -> None:
        for conn in list(self.conns):
            conn.close()

    def _with_room(self) -> H2Upstream | None:
        now = time.monotonic()
        limit = self._base.max_requests_per_connection
        best: H2Upstream | None = None
        for conn in list(self.conns):
            if not conn.active and now - conn.last_used > self._base.idle_timeout:
                conn.close()
            elif conn.has_room(limit) and (best is None or conn.active < best.active):
                best = conn
        return best

    async def _wait(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def _connect(self, timeout: float) -> H2Upstream:
        base = self._base
        tls = base.tls
        context = None
        if tls is not None:
            make = tls.h2_context or tls.context
            context = make()
            if context is None:
                raise ConnectFailure("no workload certificate yet to originate mTLS")
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_future()
        base.open += 1
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: H2Upstream(self, base.max_concurrent_streams),
                    base.host,
                    base.port,
                    ssl=context,
                ),
                timeout,
            )
        except (OSError, TimeoutError) as exc:
            base.open -= 1
            raise ConnectFailure(f"connect to {base.host}:{base.port} failed: {exc}") from None
        except BaseException:
            base.open -= 1
            raise
        finally:
            self._connecting.set_result(None)
            self._connecting = None
        if conn.closed:  # lost before it joined `conns`: `closed` did not count it down
            base.open -= 1
            raise ConnectFailure(f"upstream {base.host}:{base.port} closed the connection")
        if tls is not None:
            self._check_peer(conn, tls.principal)
        self.conns.append(conn)
        return conn

    def _check_peer(self, conn: H2Upstream, expected: str) -> None:
        """Secure naming, and HTTP/2 agreed by ALPN."""
        transport = conn.wire.transport
        assert transport is not None  # dropped only once lost: `_connect` checked
        ssl_object = transport.get_extra_info("ssl_object")
        got = principal_of(transport.get_extra_info("peercert"))
        problem = ""
        if got != expected:
            problem = f"upstream {self._base.host}:{self._base.port} is {got!r}, not {expected!r}"
        elif ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            problem = f"upstream {self._base.host}:{self._base.port} did not agree to h2"
        if problem:
            self._base.open -= 1
            conn.closed = True
            conn.close()
            raise ConnectFailure(problem)
