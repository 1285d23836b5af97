"""The sample shop service's HTTP app (aiohttp).

any path, any method   apply the behaviour, call each of `calls` in order, answer JSON
GET /_health, GET|PUT /_behaviour   the behaviour API (`control.py`)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from opentelemetry.trace import Span

from mesh_runtime.services.behaviour import padded_body, should_fail
from mesh_runtime.services.calls import CallResult, Downstream
from mesh_runtime.services.control import BehaviourControl
from mesh_runtime.services.tracing import ServiceIdentity, ServiceTracer

CLIENT_CLOSED = 499
"""Status recorded on the span when the client went away first (nginx's convention)."""
_FORWARDED_HEADERS = ("x-request-id",)


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
        self._control = BehaviourControl(identity.instance)

    def app(self) -> web.Application:
        app = web.Application()
        self._control.add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        span = self._tracer.start_server_span(request.headers, request.method, request.path)
        status, failure = CLIENT_CLOSED, None
        try:
            status, payload, failure, size = await self._serve(request, span)
            return web.Response(
                status=status, body=padded_body(payload, size), content_type="application/json"
            )
        except Exception as exc:
            status, failure = 500, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._tracer.finish(span, status, failure)

    async def _serve(
        self, request: web.Request, span: Span
    ) -> tuple[int, dict[str, Any], str | None, int]:
        """(status, JSON payload, failure text, body size) for one request."""
        behaviour = await self._control.delayed(self._rng)
        size = behaviour.response_bytes
        if should_fail(behaviour, self._rng):
            return behaviour.error_status, self._payload([], error="injected"), "injected", size
        body = await request.read() if request.body_exists else b""
        headers = self._outgoing_headers(request, span, behaviour.propagate_trace)
        results = await self._downstream.call_each(
            self._calls, request.method, request.path_qs, headers, body
        )
        if results and not results[-1].ok:
            last = results[-1]
            failure = f"{last.service} answered {last.status or last.error}"
            status = failure_status(last.status)
            return status, self._payload(results, failed=last.service, error=failure), failure, size
        return 200, self._payload(results), None, size

    def _outgoing_headers(
        self, request: web.Request, span: Span, propagate: bool
    ) -> dict[str, str]:
        headers = {
            name: request.headers[name] for name in _FORWARDED_HEADERS if name in request.headers
        }
        if propagate:
            headers.update(self._tracer.outgoing_headers(span))
        return headers

    def _payload(self, results: Sequence[CallResult], **extra: Any) -> dict[str, Any]:
        return answer_payload(self._identity, results, **extra)

    async def _start(self, app: web.Application) -> None:
        await self._downstream.start()

    async def _stop(self, app: web.Application) -> None:
        await self._downstream.close()
        await asyncio.get_running_loop().run_in_executor(None, self._tracer.shutdown)


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
