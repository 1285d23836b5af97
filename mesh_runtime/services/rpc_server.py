"""A `protocol: grpc` sample service: grpcio's asyncio server with one generic handler.

Every unary method (`/any.Service/Method`) is served the same way the HTTP app serves
any path: the behaviour (latency, hang, an error rate answered with the behaviour's
`grpc_status`, a padded JSON answer of `response_bytes`), then each of `calls` in order
within what the call's deadline leaves, the trace context taken from and passed on in
metadata. Messages are bytes (JSON by convention): no generated code, no .proto. Methods named
`...Stream` and `...Echo` are server-streaming and bidirectional (`rpc_streams`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeAlias

import grpc

from mesh_runtime.grpc_codes import CANCELLED, DEADLINE_EXCEEDED, grpc_status_of_http
from mesh_runtime.services.app import answer_payload, failure_status
from mesh_runtime.services.behaviour import padded_body, should_fail
from mesh_runtime.services.calls import CallResult, Downstream
from mesh_runtime.services.control import BehaviourControl
from mesh_runtime.services.rpc_streams import StreamFailure, StreamingMethods, kind_of
from mesh_runtime.services.tracing import ServiceIdentity, ServiceTracer, Span

_STATUS = {status.value[0]: status for status in grpc.StatusCode}
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class RpcFailure(Exception):
    """A call answered with a gRPC error status."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def failure_code(last: CallResult, deadline_passed: bool) -> int:
    """The status of this call when a downstream call failed: DEADLINE_EXCEEDED once the
    call's own deadline is gone, a gRPC callee's own error status, else what the HTTP
    status this service would have answered stands for (UNAVAILABLE for a 5xx)."""
    if deadline_passed:
        return DEADLINE_EXCEEDED
    if last.grpc_status:
        return last.grpc_status
    return grpc_status_of_http(failure_status(last.status))


class GrpcShopService(grpc.GenericRpcHandler):
    """One instance of a shop service that speaks gRPC."""

    def __init__(
        self,
        identity: ServiceIdentity,
        calls: Sequence[str],
        downstream: Downstream,
        tracer: ServiceTracer,
        rng: random.Random | None = None,
    ) -> None:
        self.identity = identity
        self.control = BehaviourControl(identity.instance, tracer.flush)
        self._calls = tuple(calls)
        self.downstream = downstream
        self.tracer = tracer
        self._rng = rng or random.Random()
        self.streams = StreamingMethods(identity, self.control, self._rng)

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        kind = kind_of(method)
        if kind == "server":

            async def server(request: bytes, context: Context) -> AsyncIterator[bytes]:
                # an async generator function: how grpcio tells a streaming handler
                async for message in self.streamed(
                    method, context, self.streams.server_stream(request)
                ):
                    yield message

            return grpc.unary_stream_rpc_method_handler(server)
        if kind == "bidi":

            async def bidi(
                requests: AsyncIterator[bytes], context: Context
            ) -> AsyncIterator[bytes]:
                async for message in self.streamed(method, context, self.streams.echo(requests)):
                    yield message

            return grpc.stream_stream_rpc_method_handler(bidi)

        async def unary(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            return await self.handle(method, request, context)

        return grpc.unary_unary_rpc_method_handler(unary)

    async def handle(
        self, method: str, request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        span = self.tracer.start_rpc_span(metadata, method)
        code, failure = CANCELLED, None
        try:
            answer = await self._serve(method, request, metadata, span, context)
            code = 0
            return answer
        except RpcFailure as exc:
            code, failure = exc.code, exc.details
        except asyncio.CancelledError:
            remaining = context.time_remaining()
            code = DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 else CANCELLED
            raise
        finally:
            self.tracer.finish_rpc(span, code)
        await context.abort(_STATUS[code], failure or "")
        raise AssertionError("abort returns only by raising")

    async def streamed(
        self, method: str, context: Context, messages: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        """A streaming call's messages, under its SERVER span; its error status at the end."""
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        span = self.tracer.start_rpc_span(metadata, method)
        code, failure = CANCELLED, None
        try:
            async for message in messages:
                yield message
            code = 0
        except StreamFailure as exc:
            code, failure = exc.code, exc.details
        finally:
            self.tracer.finish_rpc(span, code)
        if code:
            await context.abort(_STATUS[code], failure or "")

    async def _serve(
        self,
        method: str,
        request: bytes,
        metadata: dict[str, str],
        span: Span,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> bytes:
        behaviour = await self.control.delayed(self._rng)
        if should_fail(behaviour, self._rng):
            raise RpcFailure(behaviour.grpc_status, "injected")
        headers = {"x-request-id": metadata["x-request-id"]} if "x-request-id" in metadata else {}
        if behaviour.propagate_trace:
            headers.update(self.tracer.outgoing_headers(span))
        remaining = context.time_remaining()
        results = await self.downstream.call_each(
            self._calls, "POST", method, headers, request, timeout=remaining
        )
        if results and not results[-1].ok:
            last = results[-1]
            left = context.time_remaining()
            code = failure_code(last, left is not None and left <= 0)
            raise RpcFailure(code, f"{last.service} answered {last.status or last.error}")
        return padded_body(answer_payload(self.identity, results), behaviour.response_bytes)
