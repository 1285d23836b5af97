"""A sample service's HTTP/1.1 client: keep-alive connections per address, on the
sidecar's own client stack (`mesh_runtime.sidecar.endpoint_pool` and `upstream`: httptools,
one buffered protocol per connection).

A request that fails on a *reused* connection before any byte of its answer came back is
sent again on another connection when its method is idempotent (RFC 9110 9.2.2): the
peer most likely closed the idle connection as we wrote, as a draining sidecar does, so
the request cannot have been processed. Up to `REUSE_RETRIES` dead pooled connections
are passed over this way (a drain can leave several stale at once); a POST is never sent
twice.
"""

from __future__ import annotations

from collections.abc import Awaitable

from mesh_runtime.sidecar.endpoint_pool import EndpointPool
from mesh_runtime.sidecar.http1 import Headers
from mesh_runtime.sidecar.http1_wire import encode_request_head
from mesh_runtime.sidecar.upstream import UpstreamConnection, UpstreamReset

IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
REUSE_RETRIES = 3
"""Dead pooled connections passed over per request before the failure counts."""
CONNECT_TIMEOUT_S = 10.0
"""A connect's own bound; the caller's deadline for the whole call usually ends it first."""


class KeepAlivePool:
    """Keep-alive connections to each `host:port` called, at most `max_connections` open
    to one address (callers beyond wait for one to come back)."""

    def __init__(self, max_connections: int = 512, idle_timeout: float = 30.0) -> None:
        self._pools: dict[str, EndpointPool] = {}
        self._max_connections = max_connections
        self._idle_timeout = idle_timeout

    async def request(
        self, address: str, method: bytes, target: bytes, headers: Headers, body: bytes
    ) -> tuple[int, bytes]:
        """Status and body of the answer to one request to `address` (`headers` name the
        Host; the caller bounds the call in time);
        raises `AttemptError` (connect failure, reset) or `ConnectionClosed` (cut mid-body)."""
        pool = self._pool(address)
        head = encode_request_head(method, target, headers, len(body))
        retry = method in IDEMPOTENT
        for tries_left in range(REUSE_RETRIES, -1, -1):
            conn, reused = await self._checkout(pool)
            try:
                response = await conn.send(head, body, method == b"HEAD")
            except UpstreamReset as exc:
                if retry and reused and exc.before_any_byte and tries_left:
                    continue
                raise
            try:
                return response.status, await response.read_body()
            except BaseException:  # a body given up on (timeout, cancel) closes its connection
                response.discard()
                raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close_all()

    def _pool(self, address: str) -> EndpointPool:
        pool = self._pools.get(address)
        if pool is None:
            host, _, port = address.rpartition(":")
            pool = EndpointPool(host.strip("[]"), int(port))
            pool.idle_timeout = self._idle_timeout
            self._pools[address] = pool
        return pool

    def _checkout(self, pool: EndpointPool) -> Awaitable[tuple[UpstreamConnection, bool]]:
        # The pool's own coroutine, awaited by the caller: no frame of ours around it.
        return pool.checkout(CONNECT_TIMEOUT_S, lambda: pool.open < self._max_connections)
