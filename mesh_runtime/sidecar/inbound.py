"""The inbound path (mesh -> local app): a SERVER span, destination metrics, one hop.

The app sits on 127.0.0.1 beside the sidecar; requests go to it over a keep-alive pool
with no retries (retrying is the caller's sidecar's job), as HTTP/1.1, or as HTTP/2 when
the request came over HTTP/2 and the service's protocol is grpc (`app_h2`). Its answer
streams back.
Authorization policies are enforced here, with the peer's mTLS identity: a denied
request is answered 403 `RBAC: access denied` (flag RBAC) and never reaches the app.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Final

from mesh_runtime.sidecar.authz import DENIED_BODY, authorize
from mesh_runtime.sidecar.endpoint_pool import EndpointPool
from mesh_runtime.sidecar.exchange import send_request
from mesh_runtime.sidecar.grpc import as_grpc
from mesh_runtime.sidecar.http1 import BodyStream, Request, Response, simple_response
from mesh_runtime.sidecar.http1_wire import encode_request_head
from mesh_runtime.sidecar.meshconfig import AuthorizationPolicy
from mesh_runtime.sidecar.observe import (
    Observer,
    RequestInfo,
    Span,
    end_grpc_span,
    no_answer,
)
from mesh_runtime.sidecar.telemetry.flags import DOWNSTREAM_CONNECTION_TERMINATION, cancel_flag
from mesh_runtime.sidecar.upstream import (
    AttemptError,
    ConnectFailure,
    UpstreamConnection,
    UpstreamReset,
)
from mesh_runtime.sidecar.wire import PEER_HEADER, upstream_headers

APP_CONNECT_TIMEOUT: Final = 1.0
REUSE_RETRIES: Final = 3

Policies = Callable[[], Sequence[AuthorizationPolicy]]


def _no_policies() -> Sequence[AuthorizationPolicy]:
    return ()


def denied() -> Response:
    """Envoy's RBAC filter answer, byte for byte."""
    return Response(403, [(b"content-type", b"text/plain")], DENIED_BODY.encode(), flags="RBAC")


def workload_of(principal: str) -> str:
    """'catalog' from 'spiffe://td/ns/default/sa/catalog' ('' for anything else)."""
    _, sep, account = principal.rpartition("/sa/")
    return account if sep else ""


class InboundProxy:
    """The handler of the inbound listener."""

    def __init__(
        self,
        app: EndpointPool,
        observer: Observer,
        clock: Callable[[], float] = time.monotonic,
        policies: Policies = _no_policies,
        app_h2: Callable[[], bool] = lambda: False,
        known: Callable[[str], bool] = lambda _: False,
    ) -> None:
        self._app = app
        self._app_address = app.address
        self._obs = observer
        self._clock = clock
        self._policies = policies
        self._app_h2 = app_h2
        self._known = known

    async def handle(self, request: Request) -> Response:
        start = self._clock()
        info = RequestInfo.inbound(request)
        info.upstream_host = self._app_address
        self._identify(request, info)
        span = self._obs.server_span(request, info)
        policies = self._policies()
        if policies and not authorize(policies, info.principal, info.method, info.path).allowed:
            response = denied()
        else:
            try:
                response = await self._proxy(request, span.traceparent())
            except asyncio.CancelledError as gone:  # the caller left: counted, status 0
                info.duration_ms = (self._clock() - start) * 1000.0
                unanswered = no_answer(cancel_flag(gone, DOWNSTREAM_CONNECTION_TERMINATION))
                span.end(0, unanswered.flags)
                self._obs.request_done(info, unanswered)
                raise
        if info.grpc and isinstance(response.body, bytes) and response.status >= 400:
            response = as_grpc(response)  # the sidecar's own error, as a gRPC answer
        info.duration_ms = (self._clock() - start) * 1000.0
        body = response.body
        if info.grpc and isinstance(body, BodyStream) and not body.complete:
            # A gRPC call's status comes in its trailers: end and count it when its body ends.
            body.on_end(lambda _: self._grpc_done(span, info, response))
        elif info.grpc:
            self._grpc_done(span, info, response)
        else:
            span.end(response.status, response.flags)
            self._obs.request_done(info, response)
        return response

    def _grpc_done(self, span: Span, info: RequestInfo, response: Response) -> None:
        end_grpc_span(span, response)
        self._obs.request_done(info, response)

    def _identify(self, request: Request, info: RequestInfo) -> None:
        """The caller: its verified mTLS identity, else the peer header it sent when that
        names a service of the mesh. Any other name stays `unknown`: a plain-text caller
        could otherwise mint a metric series (`source_workload`) with every request."""
        downstream = request.downstream
        if downstream.mutual_tls:
            info.security = "mutual_tls"
            info.principal = downstream.principal
        source = workload_of(downstream.principal)
        if source:
            info.peer = source
            return
        peer = request.header(PEER_HEADER)
        if peer:
            name = peer.decode("latin-1")
            if self._known(name):
                info.peer = name

    async def _proxy(self, request: Request, traceparent: bytes | None) -> Response:
        headers = upstream_headers(request, traceparent, None)
        try:
            if request.http2 and self._app_h2():  # a grpc service's app: HTTP/2 on to it
                return await send_request(self._app, None, request, headers)
            if request.stream is not None:  # an HTTP/1.1 app takes the whole body
                request.body, request.stream = await request.stream.read_all(), None
            head = encode_request_head(request.method, request.target, headers, len(request.body))
            response = await self._forward(head, request)
        except ConnectFailure as failure:  # names of their own: see SpanExporter._post
            response = simple_response(503, f"local app unreachable: {failure}", "UF")
        except AttemptError as reset:
            response = simple_response(503, f"local app connection reset: {reset}", "UC")
        return response

    async def _forward(self, head: bytes, request: Request) -> Response:
        for tries_left in range(REUSE_RETRIES, -1, -1):
            conn = self._app.take_idle()  # as the pool's checkout would, without its coroutine
            if conn is not None:
                reused = True
            else:
                conn, reused = await self._checkout()
            try:
                answer = conn.start(head, request.body, request.method == b"HEAD")
                try:
                    return await answer
                except asyncio.CancelledError:
                    conn.close()  # the caller hung up mid-request: never reuse the connection
                    raise
            except UpstreamReset as exc:
                if not (reused and exc.before_any_byte and tries_left):
                    raise
        raise AssertionError("unreachable")

    async def _checkout(self) -> tuple[UpstreamConnection, bool]:
        return await self._app.checkout(APP_CONNECT_TIMEOUT)
