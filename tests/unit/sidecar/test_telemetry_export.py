"""The span exporter's endpoint URL and queue bound, without sending anything."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from mesh_runtime.errors import InvalidInput
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.sidecar.telemetry import SpanEncoder, SpanExporter, SpanRecorder

ENCODER = SpanEncoder({"service.name": "a"}, "s")


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1:4318/v1/traces", "http:///v1/traces", "http://127.0.0.1:99999/v1/traces"],
)
def test_a_bad_endpoint_is_one_clear_error(url: str) -> None:
    """A wrong scheme, no host or an impossible port is an InvalidInput naming the flag."""
    with pytest.raises(InvalidInput, match="--otlp-endpoint"):
        SpanExporter(url, ENCODER)


def test_spans_past_the_queue_bound_are_dropped_and_counted() -> None:
    """Ended spans queue up to max_queue; the rest are counted as dropped."""
    exporter = SpanExporter("http://127.0.0.1:4318/v1/traces", ENCODER, max_queue=3)
    recorder = SpanRecorder(exporter.add, rng=random.Random(1))
    for _ in range(5):
        recorder.start_server_span("inbound a", None).end(200)
    assert exporter.summary()["queued"] == 3 and exporter.dropped == 2


class HeldSink(asyncio.Protocol):
    """An OTLP/HTTP endpoint on loopback that answers 200 to each POST, the first one only
    once `release` is set; `posts` counts the POSTs it read whole."""

    posts = 0
    arrived: asyncio.Event
    release: asyncio.Event

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""
        self.answers: set[asyncio.Task[None]] = set()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, rest = self.buffer.split(b"\r\n\r\n", 1)
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            HeldSink.posts += 1
            HeldSink.arrived.set()
            task = asyncio.ensure_future(self.answer(HeldSink.posts))
            self.answers.add(task)
            task.add_done_callback(self.answers.discard)

    async def answer(self, number: int) -> None:
        if number == 1:
            await HeldSink.release.wait()
        assert isinstance(self.transport, asyncio.Transport)
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")


def test_spans_that_end_during_an_export_wait_for_the_next_pass() -> None:
    """A pass sends the spans queued when it began: two spans ending while its POST is
    out are not a second POST of that pass but the next pass's (a flush sends them)."""

    async def scenario() -> tuple[int, int, int, int]:
        HeldSink.posts = 0
        HeldSink.arrived, HeldSink.release = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(HeldSink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        exporter = SpanExporter(f"http://127.0.0.1:{port}/v1/traces", ENCODER, interval_s=60)
        recorder = SpanRecorder(exporter.add, rng=random.Random(1))
        runner = asyncio.ensure_future(exporter.run())
        try:
            for _ in range(3):
                recorder.start_server_span("inbound a", None).end(200)
            first = asyncio.ensure_future(exporter.flush(10))
            await asyncio.wait_for(HeldSink.arrived.wait(), 10)
            for _ in range(2):
                recorder.start_server_span("inbound a", None).end(200)
            HeldSink.release.set()
            assert await first
            after_pass = (HeldSink.posts, exporter.exported)
            assert await exporter.flush(10)
            return (*after_pass, HeldSink.posts, exporter.exported)
        finally:
            await exporter.shutdown(5, runner)
            server.close()

    assert asyncio.run(scenario()) == (1, 3, 2, 5)


def test_an_idle_exporter_sets_no_timer_and_a_first_span_starts_the_interval() -> None:
    """With nothing queued the export task waits without a timer (it woke an idle
    sidecar's loop every interval); the first span queued starts the interval, after which
    it is sent without a flush."""

    async def scenario() -> tuple[list[asyncio.TimerHandle], int, int]:
        HeldSink.posts = 0
        HeldSink.arrived, HeldSink.release = asyncio.Event(), asyncio.Event()
        HeldSink.release.set()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(HeldSink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        timers: list[asyncio.TimerHandle] = []
        call_at = loop.call_at

        def counted_call_at(when: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            handle = call_at(when, *args, **kwargs)
            timers.append(handle)
            return handle

        exporter = SpanExporter(f"http://127.0.0.1:{port}/v1/traces", ENCODER, interval_s=0.05)
        recorder = SpanRecorder(exporter.add, rng=random.Random(1))
        loop.call_at = counted_call_at  # type: ignore[method-assign]
        runner = asyncio.ensure_future(exporter.run())
        try:
            for _ in range(5):  # the task's first steps, up to its wait
                await asyncio.sleep(0)
            idle_timers = [t for t in timers if not t.cancelled()]
            recorder.start_server_span("inbound a", None).end(200)
            await asyncio.wait_for(HeldSink.arrived.wait(), 10)
            await asyncio.wait_for(_exported(exporter, 1), 10)  # its answer read too
            return idle_timers, HeldSink.posts, exporter.exported
        finally:
            loop.call_at = call_at  # type: ignore[method-assign]
            await exporter.shutdown(5, runner)
            server.close()

    idle_timers, posts, exported = asyncio.run(scenario())
    assert idle_timers == [] and (posts, exported) == (1, 1)


async def _exported(exporter: SpanExporter, spans: int) -> None:
    while exporter.exported < spans:
        await asyncio.sleep(0.001)


def test_a_full_batch_does_not_cut_the_backoff_after_a_failed_export() -> None:
    """With the endpoint down, spans that keep filling a batch wait for the backoff like
    the rest: each one ended a connect attempt to the endpoint before (a sidecar at 1000
    RPS tried to connect about once a request until its queue was full)."""

    async def scenario() -> tuple[int, int]:
        port = fresh_port()  # nothing listens: each connect is refused
        exporter = SpanExporter(
            f"http://127.0.0.1:{port}/v1/traces", ENCODER, batch_size=4, interval_s=60
        )
        recorder = SpanRecorder(exporter.add, rng=random.Random(1))
        runner = asyncio.ensure_future(exporter.run())
        try:
            for _ in range(4):
                recorder.start_server_span("inbound a", None).end(200)
            async with asyncio.timeout(10):
                while exporter.failed_exports == 0:
                    await asyncio.sleep(0.01)
            for _ in range(40):  # a span every 5 ms: 0.2 s, well within the 5 s backoff
                recorder.start_server_span("inbound a", None).end(200)
                await asyncio.sleep(0.005)
            return exporter.connections, exporter.failed_exports
        finally:
            await exporter.shutdown(0.1, runner)

    assert asyncio.run(scenario()) == (1, 1)
