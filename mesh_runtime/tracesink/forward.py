"""Spans sent on to a user's OTLP/HTTP endpoint (Jaeger, Tempo, an OpenTelemetry Collector).

The sink's receiving path only *offers* each decoded export request to a bounded queue
(`ForwardQueue`, pure: no I/O, no clock); a background task (`Forwarder.run`) takes
batches from it and POSTs them as OTLP/protobuf. The receiving path never waits for the
user's endpoint: when the queue is full the offered spans are dropped and counted. Every
forwarded resource gets the configured resource attributes (`meshproof.run.id`), so a
run's traces can be found in the user's backend.
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

from mesh_runtime.otlp import BadForwardUrl, forward_url

__all__ = ["BadForwardUrl", "ForwardQueue", "Forwarder", "forward_url", "with_resource_attributes"]

log = logging.getLogger("meshproof.tracesink.forward")

RUN_ID_ATTRIBUTE = "meshproof.run.id"
MAX_QUEUED_SPANS = 20_000
"""Spans waiting to be sent; beyond it offered spans are dropped (counted)."""
BATCH_SPANS = 1_000
"""At most about this many spans in one POST (whole resource groups, so one may be larger)."""
SEND_TIMEOUT_S = 5.0


def span_count(request: ExportTraceServiceRequest) -> int:
    return sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)


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
    """In a POST that failed (no answer, timeout, a non-2xx status)."""
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
            n = sum(len(s.spans) for s in group.scope_spans)
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
                        await self._send(session, groups, spans)
                    finally:
                        self._in_flight = 0

    async def _send(
        self, session: aiohttp.ClientSession, groups: list[ResourceSpans], spans: int
    ) -> None:
        body = with_resource_attributes(groups, self.attributes).SerializeToString()
        headers = {"Content-Type": "application/x-protobuf"}
        try:
            async with session.post(self.url, data=body, headers=headers) as response:
                answer = await response.read()
                if response.status // 100 != 2:
                    text = answer[:200].decode(errors="replace").strip()
                    self.queue.failed(spans, f"HTTP {response.status}: {text}".strip(": "))
                    return
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.queue.failed(spans, f"{type(exc).__name__}: {exc}".strip(": "))
            log.warning("forwarding %d spans to %s failed: %s", spans, self.url, exc)
            return
        self.queue.sent(spans, _rejected(answer, response.content_type))


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
