"""Spans sent on to a user's OTLP/HTTP endpoint (Jaeger, Tempo, an OpenTelemetry Collector).

The sink's receiving path only *offers* each decoded export request to a bounded queue
(`ForwardQueue`, pure: no I/O, no clock); a background task (`Forwarder.run`) takes
batches from it and POSTs them as OTLP/protobuf. The receiving path never waits for the
user's endpoint: when the queue is full the offered spans are dropped and counted. Every
forwarded resource gets the configured resource attributes (`meshproof.run.id`), so a
run's traces can be found in the user's backend.

A POST that fails in a way worth another try (no connection, no answer in time, 408, 429
or 5xx: OTLP/HTTP's retryable answers, as the Collector's `retry_on_failure` treats them)
puts its batch back at the front of the queue, and the next try waits a capped, doubling
backoff: a collector restarting during a run loses no span. Any other 4xx refuses the
batch for good (counted `failed`). While it fails the queue fills and then drops, as
above; `failing` (consecutive failed tries) tells the run's end not to wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from mesh_runtime.otlp import BadForwardUrl, forward_url, retryable

__all__ = ["BadForwardUrl", "ForwardQueue", "Forwarder", "forward_url", "with_resource_attributes"]

log = logging.getLogger("meshproof.tracesink.forward")

RUN_ID_ATTRIBUTE = "meshproof.run.id"
MAX_QUEUED_SPANS = 20_000
"""Spans waiting to be sent; beyond it offered spans are dropped (counted)."""
BATCH_SPANS = 1_000
"""At most about this many spans in one POST (whole resource groups, so one may be larger)."""
SEND_TIMEOUT_S = 5.0
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 5.0


def group_span_count(group: ResourceSpans) -> int:
    return sum(len(s.spans) for s in group.scope_spans)


def span_count(request: ExportTraceServiceRequest) -> int:
    return sum(group_span_count(group) for group in request.resource_spans)


def with_resource_attributes(
    groups: list[ResourceSpans], attributes: dict[str, str]
) -> ExportTraceServiceRequest:
    """One export request of `groups`, each resource carrying `attributes` (set or replaced)."""
    request = ExportTraceServiceRequest()
    for group in groups:
        added = request.resource_spans.add()
        added.CopyFrom(group)
        kept = [kv for kv in added.resource.attributes if kv.key not in attributes]
        del added.resource.attributes[:]
        added.resource.attributes.extend(kept)
        added.resource.attributes.extend(
            KeyValue(key=key, value=AnyValue(string_value=value))
            for key, value in attributes.items()
        )
    return request


@dataclass
class ForwardCounts:
    """Span counts of one forwarder (what `/stats` and run.json report)."""

    sent: int = 0
    dropped: int = 0
    """Offered while the queue was full: never sent."""
    failed: int = 0
    """In a POST refused for good (a 4xx other than 408 and 429): never sent."""
    rejected: int = 0
    """Accepted by the endpoint's 2xx but named rejected in its partial_success."""
    exports: int = 0
    failed_exports: int = 0
    last_error: str | None = None


@dataclass
class ForwardQueue:
    """The bounded queue between the receiving path and the sender. Pure."""

    max_spans: int = MAX_QUEUED_SPANS
    counts: ForwardCounts = field(default_factory=ForwardCounts)
    _groups: deque[tuple[ResourceSpans, int]] = field(default_factory=deque)
    queued: int = 0

    def offer(self, request: ExportTraceServiceRequest) -> bool:
        """Queue every span of `request`, or none (all dropped and counted) when they do not fit."""
        spans = span_count(request)
        if spans == 0:
            return True
        if self.queued + spans > self.max_spans:
            self.counts.dropped += spans
            return False
        for group in request.resource_spans:
            n = group_span_count(group)
            if n:
                self._groups.append((group, n))
        self.queued += spans
        return True

    def take(self, max_spans: int = BATCH_SPANS) -> tuple[list[ResourceSpans], int]:
        """The oldest resource groups, up to about `max_spans` spans (at least one group)."""
        groups: list[ResourceSpans] = []
        spans = 0
        while self._groups and (not groups or spans + self._groups[0][1] <= max_spans):
            group, n = self._groups.popleft()
            groups.append(group)
            spans += n
        self.queued -= spans
        return groups, spans

    def put_back(self, groups: list[ResourceSpans]) -> None:
        """A batch `take` gave, back at the front in its order, to be tried again (it may
        take the queue past `max_spans` for a while: offers are dropped until it drains)."""
        for group in reversed(groups):
            n = group_span_count(group)
            self._groups.appendleft((group, n))
            self.queued += n

    def retrying(self, error: str) -> None:
        """A try that failed in a way worth another (its spans went back with `put_back`)."""
        self.counts.exports += 1
        self.counts.failed_exports += 1
        self.counts.last_error = error

    def sent(self, spans: int, rejected: int = 0) -> None:
        self.counts.exports += 1
        self.counts.sent += spans - rejected
        self.counts.rejected += rejected

    def failed(self, spans: int, error: str) -> None:
        self.counts.exports += 1
        self.counts.failed_exports += 1
        self.counts.failed += spans
        self.counts.last_error = error


class Forwarder:
    """Sends what the queue holds to `url`, in the background (`run` as an asyncio task)."""

    def __init__(
        self,
        url: str,
        attributes: dict[str, str],
        queue: ForwardQueue | None = None,
        timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.attributes = dict(attributes)
        self.queue = queue or ForwardQueue()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._wake = asyncio.Event()
        self._in_flight = 0
        self.failing = 0
        """Tries that failed in a row (worth another try); 0 once one is sent."""

    def offer(self, request: ExportTraceServiceRequest) -> None:
        self.queue.offer(request)
        self._wake.set()

    def stats(self) -> dict[str, Any]:
        counts = self.queue.counts
        return {
            "url": self.url,
            "attributes": self.attributes,
            "queued": self.queue.queued,
            "in_flight": self._in_flight,
            "sent": counts.sent,
            "dropped": counts.dropped,
            "failed": counts.failed,
            "rejected": counts.rejected,
            "exports": counts.exports,
            "failed_exports": counts.failed_exports,
            "last_error": counts.last_error,
            "failing": self.failing,
        }

    async def run(self) -> None:
        """Until cancelled: wait for spans, send them a batch at a time."""
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self.queue.queued:
                    groups, spans = self.queue.take()
                    self._in_flight = spans
                    try:
                        error = await self._send(session, groups, spans)
                    finally:
                        self._in_flight = 0
                    if error is not None:
                        self.queue.put_back(groups)
                        self._failed(spans, error)
                        await asyncio.sleep(self.backoff())

    def backoff(self) -> float:
        """Seconds before the next try after `failing` failed ones: 0.5, 1, 2, 4, 5, 5 ..."""
        return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** min(max(self.failing - 1, 0), 4))

    def _failed(self, spans: int, error: str) -> None:
        self.failing += 1
        self.queue.retrying(error)
        if self.failing == 1 or self.failing % 20 == 0:
            log.warning(
                "forwarding %d spans to %s failed (%d in a row): %s; trying again in %.1f s",
                spans,
                self.url,
                self.failing,
                error,
                self.backoff(),
            )

    async def _send(
        self, session: aiohttp.ClientSession, groups: list[ResourceSpans], spans: int
    ) -> str | None:
        """POST one batch: None when it is done with (sent, or refused for good), else
        what went wrong (it is to be tried again)."""
        body = with_resource_attributes(groups, self.attributes).SerializeToString()
        headers = {"Content-Type": "application/x-protobuf"}
        try:
            async with session.post(self.url, data=body, headers=headers) as response:
                answer = await response.read()
                status = response.status
                if status // 100 != 2:
                    error = f"HTTP {status}: {answer[:200].decode(errors='replace').strip()}"
                    if retryable(status):
                        return error.strip(": ")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}".strip(": ")
        if self.failing:
            log.warning("%s answered again after %d failed tries", self.url, self.failing)
            self.failing = 0
        if status // 100 == 2:
            self.queue.sent(spans, _rejected(answer, response.content_type))
        else:
            self.queue.failed(spans, error.strip(": "))
            log.warning("%s refused %d spans for good: %s", self.url, spans, error)
        return None


def _rejected(body: bytes, content_type: str) -> int:
    """The spans a 2xx answer's partial_success names rejected (0 when it names none)."""
    if content_type != "application/x-protobuf" or not body:
        return 0
    response = ExportTraceServiceResponse()
    try:
        response.ParseFromString(body)
    except Exception:
        return 0
    return int(response.partial_success.rejected_spans)
