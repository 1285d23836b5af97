"""The sample shop service's HTTP handler (served by `http_serve`, the sidecar's stack).

any path, any method   apply the behaviour, call each of `calls` in order, answer JSON
GET /_health, GET|PUT /_behaviour, POST /_spans/flush   the behaviour API (`control.py`)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from mesh_runtime.services.behaviour import compact_json, padded_text, should_fail
from mesh_runtime.services.call_result import json_value
from mesh_runtime.services.calls import CallResult, Downstream
from mesh_runtime.services.control import BehaviourControl, flushes
from mesh_runtime.services.http_serve import JSON
from mesh_runtime.services.tracing import ServiceIdentity, ServiceTracer, Span
from mesh_runtime.sidecar.http1 import Request, Response

CLIENT_CLOSED = 499
"""Status recorded on the span when the client went away first (nginx's convention)."""
_FORWARDED_HEADERS = (b"x-request-id",)


class ShopService:
    """One instance of a shop service: its behaviour, its downstream calls, its spans."""

    def __init__(
        self,
        identity: ServiceIdentity,
        calls: Sequence[str],
        downstream: Downstream,
        tracer: ServiceTracer,
        rng: random.Random | None = None,
    ) -> None:
        self._identity = identity
        self._calls = tuple(calls)
        self._downstream = downstream
        self._tracer = tracer
        self._rng = rng or random.Random()
        self._control = BehaviourControl(identity.instance, tracer.flush)
        self._answer_head = compact_json(answer_payload(identity, ()))[:-2]
        """An answer's text up to its call list (`{"service":...,"calls":[`): the same for
        every answer of this instance."""
        self._leaf_answer = (-1, b"")
        """(size, body) of a leaf's last 200 answer: the same bytes for every request of a
        size (encoding it each time was a quarter of a leaf's handler)."""

    async def handle(self, request: Request) -> Response:
        """The behaviour API's answer, or the shop request's."""
        if flushes(request):
            return await self._control.flush_spans()
        control = self._control.answer(request)
        if control is not None:
            return control
        span = self._tracer.start_server_span(
            request.headers, request.method.decode(), request.path
        )
        status = CLIENT_CLOSED
        try:
            status, body = await self._serve(request, span)
            return Response(status, list(JSON), body)
        except Exception:
            status = 500
            raise
        finally:
            self._tracer.finish(span, status)

    async def _serve(self, request: Request, span: Span) -> tuple[int, bytes]:
        """(status, JSON body) for one request."""
        behaviour = self._control.behaviour
        if behaviour.hang or behaviour.latency.mean_ms > 0:  # else no coroutine to await
            behaviour = await self._control.delayed(self._rng)
        size = behaviour.response_bytes
        if behaviour.error_rate > 0 and should_fail(behaviour, self._rng):
            return behaviour.error_status, self._body(size, [], error="injected")
        if not self._calls:  # a leaf: no call to make, no headers to make for one
            return 200, self._leaf_body(size)
        headers = self._outgoing_headers(request, span, behaviour.propagate_trace)
        results = await self._downstream.call_each(
            self._calls,
            request.method.decode(),
            request.target.decode("latin-1"),
            headers,
            request.body,
        )
        if results and not results[-1].ok:
            last = results[-1]
            failure = f"{last.service} answered {last.status or last.error}"
            status = failure_status(last.status)
            return status, self._body(size, results, failed=last.service, error=failure)
        return 200, self._body(size, results)

    def _outgoing_headers(self, request: Request, span: Span, propagate: bool) -> dict[str, str]:
        headers = {
            name.decode(): value.decode("latin-1")
            for name, value in request.headers
            if name in _FORWARDED_HEADERS
        }
        if propagate:
            headers.update(self._tracer.outgoing_headers(span))
        return headers

    def _body(self, size: int, results: Sequence[CallResult], **extra: Any) -> bytes:
        """`padded_body(answer_payload(identity, results, **extra), size)`, the same bytes,
        written out from the pre-encoded head and each call's `json_text`."""
        text = self._answer_head + ",".join([r.json_text() for r in results]) + "]"
        for key, value in extra.items():
            text += "," + json_value(key) + ":" + json_value(value)
        return padded_text(text + "}", size)

    def _leaf_body(self, size: int) -> bytes:
        if self._leaf_answer[0] != size:
            self._leaf_answer = (size, self._body(size, ()))
        return self._leaf_answer[1]

    async def start(self) -> None:
        await self._downstream.start()
        self._tracer.start()

    async def stop(self) -> None:
        await self._downstream.close()
        await self._tracer.shutdown()


def answer_payload(
    identity: ServiceIdentity, results: Sequence[CallResult], **extra: Any
) -> dict[str, Any]:
    """The JSON answer of a request: who served it and its call tree (`extra` added)."""
    return {
        "service": identity.service,
        "instance": identity.instance,
        "version": identity.version,
        "calls": [r.as_json() for r in results],
        **extra,
    }


def failure_status(downstream: int) -> int:
    """What a failed call makes of this service's answer: a 5xx from downstream (the
    mesh's 503 overflow, 504 timeout) passes through unchanged so the user sees what the
    mesh decided; anything else (a 4xx, no answer at all) is a 502."""
    return downstream if 500 <= downstream <= 599 else 502
