"""One request/response exchange over an endpoint pool, under the circuit breaker.

`exchange` checks a connection out (idle, new, or after waiting as a pending request),
sends the request and returns the response head. A request that fails on a *reused*
connection before any byte of the response came back is sent again on another one:
the peer most likely closed the idle connection as we wrote (a draining sidecar does
exactly that), and the request cannot have been processed. Envoy does the same.

Timeouts cover the whole response, body included. `body_started` waits, still under the
caller's timeouts, until the body has begun: nothing goes downstream before that (the
server writes the head with the first chunk), so a timeout there may still be retried or
answered 504. `expire_body_at` then puts the rest under one deadline timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from mesh_runtime.sidecar.endpoint_pool import EndpointPool
from mesh_runtime.sidecar.http1 import BodyStream, Headers, Request, Response
from mesh_runtime.sidecar.http1_wire import encode_request_head
from mesh_runtime.sidecar.state import ServiceRuntime
from mesh_runtime.sidecar.upstream import UpstreamConnection, UpstreamReset

Conn = TypeVar("Conn")

REUSE_RETRIES: Final = 3
"""Dead pooled connections tolerated per request before the failure counts."""


def checkout(
    pool: EndpointPool, cluster: ServiceRuntime
) -> Awaitable[tuple[UpstreamConnection, bool]]:
    """A connection to send on, and whether it was reused; PoolOverflow when none may be had
    (the circuit breaker's connection and pending-request limits)."""
    breaker = cluster.breaker
    return pool.checkout(
        cluster.connect_timeout,
        lambda: breaker.may_open_connection(cluster.open_connections()),
        lambda: breaker.may_queue(cluster.pending_requests()),
    )


async def exchange(
    pool: EndpointPool, cluster: ServiceRuntime, head: bytes, body: bytes, head_only: bool
) -> Response:
    """Send one HTTP/1.1 request on `pool` and return the response head (body streaming).
    `_on_live_connection` written out: an idle connection is taken without a checkout
    coroutine or its closures (the pool's checkout would take the same one first)."""
    for tries_left in range(REUSE_RETRIES, -1, -1):
        conn = pool.take_idle()
        if conn is not None:
            reused = True
        else:
            conn, reused = await checkout(pool, cluster)
        try:
            answer = conn.start(head, body, head_only)  # `conn.send` without its coroutine
            try:
                return await answer
            except asyncio.CancelledError:
                conn.close()  # a timeout mid-request: an answer is on its way, never reuse it
                raise
        except UpstreamReset as exc:
            if not (reused and exc.before_any_byte and tries_left):
                raise
    raise AssertionError("unreachable")


def send_request(
    pool: EndpointPool, cluster: ServiceRuntime | None, request: Request, headers: Headers
) -> Awaitable[Response]:
    """`request` with `headers` to `pool`'s endpoint in the client's protocol: a stream on
    a pooled HTTP/2 connection when it came over HTTP/2, else HTTP/1.1. (Not a coroutine
    itself: the caller awaits the exchange directly, one coroutine fewer a request.)"""
    if not request.http2:
        assert cluster is not None
        head = encode_request_head(request.method, request.target, headers, len(request.body))
        return exchange(pool, cluster, head, request.body, request.method == b"HEAD")
    # Only a request that came over HTTP/2 goes on as HTTP/2: its connection imported the
    # HTTP/2 modules already (`HttpServerProtocol._become_h2`).
    from mesh_runtime.sidecar.h2_pool import h2_pool_of
    from mesh_runtime.sidecar.h2_upstream import request_fields

    h2 = h2_pool_of(pool)
    fields = request_fields(request, headers, pool.tls is not None)
    return _on_live_connection(
        lambda: h2.checkout(cluster), lambda conn: conn.send(fields, request.stream or request.body)
    )


async def _on_live_connection(
    take: Callable[[], Awaitable[tuple[Conn, bool]]],
    send: Callable[[Conn], Awaitable[Response]],
) -> Response:
    """`send` on a connection from `take`, again on another when a reused one turns out
    dead before any byte of the answer."""
    for tries_left in range(REUSE_RETRIES, -1, -1):
        conn, reused = await take()
        try:
            return await send(conn)
        except UpstreamReset as exc:
            if not (reused and exc.before_any_byte and tries_left):
                raise
    raise AssertionError("unreachable")


async def body_started(response: Response) -> None:
    """Wait until the body has a chunk or has ended; a timeout here discards the response."""
    body = response.body
    if isinstance(body, bytes) or body.complete:
        return
    try:
        await body.started()
    except BaseException:
        response.discard()  # its connection has the rest on its way: never reuse it
        raise


def expire_body_at(response: Response, deadline: float | None) -> BodyStream | None:
    """Cut a body still streaming at `deadline` (loop time); returns it, or None when the
    response is already complete."""
    body = response.body
    if isinstance(body, bytes) or body.complete:
        return None
    if deadline is not None:
        body.expire_at(asyncio.get_running_loop(), deadline)
    return body
