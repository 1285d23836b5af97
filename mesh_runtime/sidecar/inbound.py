"""The inbound path (mesh -> local app): a SERVER span, destination metrics, one hop.

The app sits on 127.0.0.1 beside the sidecar; requests go to it over a keep-alive pool
with no retries (retrying is the caller's sidecar's job). Its answer streams back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from mesh_runtime.sidecar.http1 import Request, Response, encode_request_head, simple_response
from mesh_runtime.sidecar.observe import Observer, RequestInfo
from mesh_runtime.sidecar.upstream import (
    AttemptError,
    ConnectFailure,
    EndpointPool,
    UpstreamConnection,
    UpstreamReset,
)
from mesh_runtime.sidecar.wire import PEER_HEADER, upstream_headers

APP_CONNECT_TIMEOUT = 1.0
REUSE_RETRIES = 3


class InboundProxy:
    """The handler of the inbound listener."""

    def __init__(
        self,
        app: EndpointPool,
        observer: Observer,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app = app
        self._app_address = f"{app.host}:{app.port}"
        self._obs = observer
        self._clock = clock

    async def handle(self, request: Request) -> Response:
        start = self._clock()
        info = RequestInfo.inbound(request)
        info.upstream_host = self._app_address
        peer = request.header(PEER_HEADER)
        if peer:
            info.peer = peer.decode("latin-1")
        span = self._obs.server_span(request, info)
        headers = upstream_headers(request, span.traceparent(), None)
        head = encode_request_head(request.method, request.target, headers, len(request.body))
        try:
            response = await self._forward(head, request)
        except ConnectFailure as exc:
            response = simple_response(503, f"local app unreachable: {exc}", "UF")
        except AttemptError as exc:
            response = simple_response(503, f"local app connection reset: {exc}", "UC")
        info.duration_ms = (self._clock() - start) * 1000.0
        span.end(response.status, response.flags)
        self._obs.request_done(info, response)
        return response

    async def _forward(self, head: bytes, request: Request) -> Response:
        for tries_left in range(REUSE_RETRIES, -1, -1):
            conn, reused = await self._checkout()
            try:
                return await conn.send(head, request.body, request.method == b"HEAD")
            except UpstreamReset as exc:
                if not (reused and exc.before_any_byte and tries_left):
                    raise
        raise AssertionError("unreachable")

    async def _checkout(self) -> tuple[UpstreamConnection, bool]:
        conn = self._app.take_idle()
        if conn is not None:
            return conn, True
        return await self._app.connect(APP_CONNECT_TIMEOUT), False
