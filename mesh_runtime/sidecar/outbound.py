"""The outbound path (local app -> mesh): one request through the mesh's policies.

Host -> service -> route -> L7 fault -> circuit breaker -> (subset, healthy endpoints,
balancer, one try through the pool) x retries, under the route timeout. The decisions
themselves live in `policy`; this module only sequences them around the I/O and turns
each outcome into an answer with Envoy's response flags.

The route timeout and the per-try timeout cover the whole response (Envoy's): until the
body has begun nothing went downstream, so they give 504 UT or a retry; a body still
streaming at the deadline is cut (the downstream connection is reset) and flagged UT.
Metrics and the access log of a streamed answer are recorded when its body ends.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Final

from mesh_runtime.grpc_codes import http_status_of
from mesh_runtime.sidecar.endpoint_pool import PoolOverflow
from mesh_runtime.sidecar.exchange import body_started, expire_body_at, send_request
from mesh_runtime.sidecar.grpc import (
    as_grpc,
    call_budget,
    grpc_timeout,
    head_status,
    trailers_only,
    with_grpc_timeout,
)
from mesh_runtime.sidecar.http1 import (
    BodyTimeout,
    Request,
    Response,
    simple_response,
)
from mesh_runtime.sidecar.meshconfig import HTTPRoute, Retries
from mesh_runtime.sidecar.observe import (
    Observer,
    RequestInfo,
    Span,
    end_grpc_span,
    no_answer,
)
from mesh_runtime.sidecar.policy import (
    AttemptResult,
    RetryBudget,
    backoff_delay,
    body_deadline,
    choose_subset,
    decide_fault,
    is_retriable,
    per_try_timeout,
)
from mesh_runtime.sidecar.state import ServiceRuntime, StateHolder
from mesh_runtime.sidecar.telemetry.flags import (
    DOWNSTREAM_CONNECTION_TERMINATION,
    UPSTREAM_TIMEOUT,
    cancel_flag,
)
from mesh_runtime.sidecar.upstream import AttemptError, ConnectFailure, UpstreamTimeout
from mesh_runtime.sidecar.wire import LazyHeaderMap, service_of_host, upstream_headers

Outcome = Response | AttemptError

_FLAG_OF_ERROR: Final = {"connect-failure": "UF", "timeout": "UT", "reset": "UC"}


class OutboundProxy:
    """The handler of the outbound listener."""

    def __init__(
        self,
        holder: StateHolder,
        observer: Observer,
        rng: random.Random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._holder = holder
        self._obs = observer
        self._rng = rng
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None

    async def handle(self, request: Request) -> Response:
        start = self._clock()
        info = RequestInfo.outbound(request)
        routed = self._route(request, info)
        if isinstance(routed, Response):
            response = routed
        else:
            try:
                response = await routed
            except asyncio.CancelledError as gone:  # the caller left: counted, status 0
                info.duration_ms = (self._clock() - start) * 1000.0
                flag = cancel_flag(gone, DOWNSTREAM_CONNECTION_TERMINATION)
                self._done(info, no_answer(flag))
                raise
        if info.grpc and isinstance(response.body, bytes) and response.status >= 400:
            response = as_grpc(response)  # the sidecar's own error, as a gRPC answer
        info.duration_ms = (self._clock() - start) * 1000.0
        # str(int()) is native code where compiled; b"%d" % a float is the generic formatter.
        elapsed = str(int(info.duration_ms)).encode()
        response.headers.append((b"x-meshproof-upstream-ms", elapsed))
        body = response.body
        if isinstance(body, bytes) or body.complete:
            self._done(info, response)
        else:  # Envoy logs a request once its response is complete (or cut)
            body.on_end(lambda error: self._body_ended(info, response, start, error))
        return response

    def _body_ended(
        self, info: RequestInfo, response: Response, start: float, error: BaseException | None
    ) -> None:
        if isinstance(error, BodyTimeout):
            response.flags = _join(response.flags, "UT")
        info.duration_ms = (self._clock() - start) * 1000.0
        self._done(info, response)

    def _done(self, info: RequestInfo, response: Response) -> None:
        if info.open_span is not None:
            end_grpc_span(info.open_span, response)
            info.open_span = None
        self._obs.request_done(info, response)

    def _route(self, request: Request, info: RequestInfo) -> Response | Awaitable[Response]:
        """The answer to a request no route takes, else the routed request for `handle` to
        await (not a coroutine itself: one coroutine fewer a request)."""
        state = self._holder.current
        info.service = service_of_host(request.header(b"host"))
        svc = state.services.get(info.service) if state is not None else None
        if svc is None:
            return simple_response(404, f"no service named {info.service!r} in the mesh", "NR")
        headers = LazyHeaderMap(request.headers)
        route = svc.routes.match(request.method.decode("latin-1"), request.path, headers)
        if route is None:
            return simple_response(404, f"no route of {svc.name} matches", "NR")
        info.route = route.name
        if route.fault is not None:
            return self._faulted(svc, route, request, info, headers)
        return self._guarded(svc, route, request, info)

    async def _faulted(
        self,
        svc: ServiceRuntime,
        route: HTTPRoute,
        request: Request,
        info: RequestInfo,
        headers: LazyHeaderMap,
    ) -> Response:
        """The route's L7 fault first (Envoy's fault filter): a delay, an abort, or both."""
        assert route.fault is not None
        flags = ""
        fault = decide_fault(route.fault, headers, self._rng)
        if fault.delayed:
            flags = "DI"
            await asyncio.sleep(fault.delay_s)
        if fault.abort_grpc is not None:
            return trailers_only(fault.abort_grpc, "fault filter abort", _join(flags, "FI"))
        if fault.abort_status is not None:
            return simple_response(fault.abort_status, "fault filter abort", _join(flags, "FI"))
        response = await self._guarded(svc, route, request, info)
        if flags:
            response.flags = _join(flags, response.flags)
        return response

    async def _guarded(
        self, svc: ServiceRuntime, route: HTTPRoute, request: Request, info: RequestInfo
    ) -> Response:
        """The request under the circuit breaker's request limit and the route timeout."""
        if not svc.breaker.try_acquire_request():
            self._obs.overflow(svc.name)
            return simple_response(503, "upstream overflow (circuit breaker open)", "UO")
        svc.in_flight += 1
        try:
            if route.timeout is None:
                return await self._attempts(svc, route, request, info, None)
            async with asyncio.timeout(route.timeout) as scope:
                return await self._attempts(svc, route, request, info, scope.when())
        except TimeoutError:
            return simple_response(504, "upstream request timeout", "UT")
        except PoolOverflow:
            self._obs.overflow(svc.name)
            return simple_response(503, "upstream overflow (pending requests)", "UO")
        finally:
            svc.in_flight -= 1
            svc.breaker.release_request()

    async def _attempts(
        self,
        svc: ServiceRuntime,
        route: HTTPRoute,
        request: Request,
        info: RequestInfo,
        deadline: float | None,
    ) -> Response:
        """Tries until one may be answered; `deadline` is the route's (loop time)."""
        retries = route.retries
        max_tries = 1 + (retries.attempts if retries is not None else 0)
        subset = choose_subset(route, self._rng)
        budget = svc.budget_for(route)
        tried: list[str] = []
        held: RetryBudget | None = None
        try:
            while True:
                instance = self._pick(svc, subset, tried)
                if instance is None:
                    return simple_response(503, "no healthy upstream", "UH")
                tried.append(instance)
                span, per_try = self._start_try(svc, instance, request, retries, info)
                try:
                    outcome = await self._send(
                        svc, instance, request, per_try, span, deadline, info.grpc
                    )
                except asyncio.CancelledError as cut:  # the route's timeout, or the caller
                    span.end(0, cancel_flag(cut, UPSTREAM_TIMEOUT))
                    raise
                self._end_try(span, outcome, info)
                if held is not None:
                    held.release()
                    held = None
                retriable = self._judge(svc, instance, outcome, retries, info.grpc)
                if request.stream is not None and not request.stream.replayable:
                    retriable = False  # a streamed request no longer held whole
                if not retriable or len(tried) >= max_tries:
                    return _final(outcome, retriable and len(tried) > 1)
                if budget is None or not budget.try_acquire(svc.in_flight):
                    return _final(outcome, False)
                held = budget
                await self._before_retry(svc, outcome, retries, len(tried))
        finally:
            if held is not None:
                held.release()

    def _pick(self, svc: ServiceRuntime, subset: str | None, tried: list[str]) -> str | None:
        names = svc.instances(subset)
        if svc.outlier is not None:
            names = svc.outlier.healthy(names, self._clock())
        if tried:
            # Envoy's previous_hosts predicate: a retry goes elsewhere when it can.
            fresh = [n for n in names if n not in tried]
            names = fresh or names
        return svc.balancer.pick(names, svc.active)

    def _judge(
        self,
        svc: ServiceRuntime,
        instance: str,
        outcome: Outcome,
        retries: Retries | None,
        grpc: bool,
    ) -> bool:
        """Feed outlier detection; return whether the outcome may be retried."""
        outlier = svc.outlier
        if outlier is None and retries is None:
            return False  # nothing to feed, nothing to retry: the common case, decided here
        seen = None
        if isinstance(outcome, Response):
            code = head_status(outcome) if grpc else None
            result = AttemptResult(outcome.status, None, code)
            if code:  # outlier detection counts a gRPC error as its HTTP status (Envoy's)
                seen = AttemptResult(http_status_of(code))
        else:
            result = AttemptResult(None, outcome.kind)  # type: ignore[arg-type]
        if outlier is not None and outlier.record(instance, seen or result, self._clock()):
            self._obs.ejection(svc.name, instance)
        return retries is not None and is_retriable(retries, result)

    async def _before_retry(
        self, svc: ServiceRuntime, outcome: Outcome, retries: Retries | None, tries: int
    ) -> None:
        if isinstance(outcome, Response):
            outcome.discard()
        self._obs.retry(svc.name)
        assert retries is not None
        delay = backoff_delay(retries, tries, self._rng)
        if delay > 0:
            await asyncio.sleep(delay)

    def _start_try(
        self,
        svc: ServiceRuntime,
        instance: str,
        request: Request,
        retries: Retries | None,
        info: RequestInfo,
    ) -> tuple[Span, float | None]:
        """A try to `instance`: its CLIENT span and its per-try timeout. (`_start_try` and
        `_end_try` are plain calls around `_send`, not a coroutine around it: one fewer
        a request.)"""
        endpoint = svc.endpoints[instance]
        info.instance = instance
        info.version = endpoint.version
        pool = svc.pools[instance]
        info.upstream_host = pool.address
        info.security = "mutual_tls" if pool.tls is not None else ""
        span = self._obs.client_span(request, info, endpoint)
        info.attempts += 1
        per_try = per_try_timeout(
            retries.perTryTimeout if retries is not None else None,
            grpc_timeout(request.headers) if info.grpc else None,
        )
        return span, per_try

    @staticmethod
    def _end_try(span: Span, outcome: Outcome, info: RequestInfo) -> None:
        """End the try's span with its outcome (a streaming gRPC answer's at its end)."""
        if isinstance(outcome, Response) and info.grpc:
            body = outcome.body
            if isinstance(body, bytes) or body.complete:  # trailers-only: may be retried
                end_grpc_span(span, outcome)
            else:  # streaming (never retried): ended with its trailers' status (`_done`)
                info.open_span = span
        elif isinstance(outcome, Response):
            span.end(outcome.status, "-")
        else:
            span.end(0, _FLAG_OF_ERROR.get(outcome.kind, "UC"))

    async def _send(
        self,
        svc: ServiceRuntime,
        instance: str,
        request: Request,
        per_try: float | None,
        span: Span,
        route_deadline: float | None,
        grpc: bool = False,
    ) -> Outcome:
        """One try: the response once its body has begun, its rest under the deadline."""
        headers = upstream_headers(request, span.traceparent(), self._holder.source)
        if grpc:  # deadline propagation: the app is told what this try has left
            budget = call_budget(per_try, route_deadline, self._loop_time())
            if budget is not None:
                headers = with_grpc_timeout(headers, budget)
        pool = svc.pools[instance]
        svc.active[instance] = svc.active.get(instance, 0) + 1
        try:
            if per_try is None:
                response = await send_request(pool, svc, request, headers)
                if route_deadline is not None:
                    await body_started(response)
                expire_body_at(response, route_deadline)
                return response
            try:
                async with asyncio.timeout(per_try) as scope:
                    response = await send_request(pool, svc, request, headers)
                    await body_started(response)
            except TimeoutError:
                return UpstreamTimeout(f"no answer within the per-try timeout {per_try}s")
            expire_body_at(response, body_deadline(route_deadline, scope.when()))
            return response
        except AttemptError as exc:
            return exc
        finally:
            svc.active[instance] -= 1

    def _loop_time(self) -> float:
        """The running loop's clock, which deadlines are on. The loop is looked up once:
        each look-up asks the kernel for the process id (asyncio's check for a fork)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop.time()


def _final(outcome: Outcome, exhausted: bool) -> Response:
    """The answer for the last try's outcome."""
    if isinstance(outcome, Response):
        if exhausted and (outcome.status >= 500 or head_status(outcome)):
            outcome.flags = "URX"
        return outcome
    if isinstance(outcome, ConnectFailure):
        return simple_response(503, f"upstream connect error: {outcome}", "UF")
    if isinstance(outcome, UpstreamTimeout):
        return simple_response(504, "upstream request timeout", "UT")
    return simple_response(503, f"upstream connection reset: {outcome}", "UC")


def _join(first: str, second: str) -> str:
    if not first or first == "-":
        return second
    if not second or second == "-":
        return first
    return f"{first},{second}"
