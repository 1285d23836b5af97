"""A sample service instance's behaviour and the HTTP API that reads and changes it.

GET /_health           200
GET|PUT /_behaviour    the behaviour; a PUT of a partial object changes those fields
POST /_spans/flush     send every span ended so far to the OTLP endpoint now; answers
                       `{"flushed": bool, "tracing": counts | null}` once it took them

Shared by the HTTP service (`app.py`) and the gRPC one (`rpc_server.py`): whatever
protocol an instance serves, the harness changes its behaviour the same way.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

from mesh_runtime.services.behaviour import (
    Behaviour,
    BehaviourError,
    sample_latency_ms,
    updated,
)
from mesh_runtime.services.http_serve import json_response
from mesh_runtime.sidecar.http1 import Request, Response

READS = frozenset({b"GET", b"HEAD"})
SPANS_FLUSH = "/_spans/flush"
FLUSH_TIMEOUT_S = 5.0
Flush = Callable[[float], Awaitable[dict[str, Any]]]


class BehaviourControl:
    """The current behaviour, changed through the API; held requests wake on a change."""

    def __init__(self, instance: str, flush: Flush | None = None) -> None:
        """`flush`: the service tracer's (`ServiceTracer.flush`)."""
        self._instance = instance
        self._flush = flush
        self.behaviour = Behaviour()
        self._changed = asyncio.Event()

    def answer(self, request: Request) -> Response | None:
        """The API's answer when `request` is one of its routes, else None (GET and HEAD
        read, PUT changes; any other method on these paths is a shop request)."""
        path, method = request.path, request.method
        if path == "/_health" and method in READS:
            return json_response({"status": "ok", "instance": self._instance})
        if path != "/_behaviour":
            return None
        if method in READS:
            return json_response(self.behaviour.model_dump())
        if method == b"PUT":
            return self.put_behaviour(request.body)
        return None

    async def handle(self, request: Request) -> Response:
        """The API alone (a gRPC instance's HTTP face): 404 for anything else."""
        if flushes(request):
            return await self.flush_spans()
        response = self.answer(request)
        return response if response is not None else json_response({"error": "not found"}, 404)

    async def flush_spans(self) -> Response:
        report = {"flushed": True, "tracing": None}
        if self._flush is not None:
            report = await self._flush(FLUSH_TIMEOUT_S)
        return json_response(report)

    def put_behaviour(self, body: bytes) -> Response:
        try:
            change = json.loads(body)
            self.behaviour = updated(self.behaviour, change)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            message = str(exc) if isinstance(exc, BehaviourError) else f"not valid JSON: {exc}"
            return json_response({"error": message}, status=400)
        # wake every held request so that it sees the new behaviour
        self._changed.set()
        self._changed = asyncio.Event()
        return json_response(self.behaviour.model_dump())

    async def unless_hanging(self) -> Behaviour:
        """The behaviour once it no longer says hang; a held request only waits on an event,
        so other requests (and /_health) are served meanwhile."""
        while self.behaviour.hang:
            await self._changed.wait()
        return self.behaviour

    async def delayed(self, rng: random.Random) -> Behaviour:
        """The behaviour a request meets: once it no longer says hang, after the latency it
        samples (both protocols' requests start here)."""
        behaviour = self.behaviour
        if behaviour.hang:  # only then a coroutine to wait in: most requests do not hang
            behaviour = await self.unless_hanging()
        latency = behaviour.latency
        if latency.mean_ms > 0:  # else no delay, and no call into behaviour.py's Python
            delay_ms = sample_latency_ms(latency, rng)
            if delay_ms > 0:
                await asyncio.sleep(delay_ms / 1000)
        return behaviour


def flushes(request: Request) -> bool:
    """Whether `request` asks for the spans' flush (a POST; any other method on that path
    is a shop request)."""
    return request.method == b"POST" and request.path == SPANS_FLUSH
