"""The sidecar's OTLP span exporter against the real trace sink process."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import pytest
from sidecar_procs import PYTHON, Proc, Processes, ready_200, wait_until

from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.sidecar.telemetry import SpanEncoder, SpanExporter, SpanRecorder

pytestmark = pytest.mark.integration

RESOURCE = {"service.name": "catalog", "service.instance.id": "catalog-0"}


def start_sink(procs: Processes, port: int, out: Path, name: str = "tracesink") -> Proc:
    command = [PYTHON, "-m", "mesh_runtime.tracesink", "--port", str(port), "--out", str(out)]
    proc = procs.spawn(name, command)
    wait_until(ready_200(port, "/ready"), 15, "trace sink")
    return proc


@pytest.fixture
def sink(procs: Processes, tmp_path: Path) -> tuple[int, Path]:
    """A running trace sink: its port and the spans file it writes."""
    port, out = fresh_port(), tmp_path / "spans.jsonl"
    start_sink(procs, port, out)
    return port, out


def assert_arrived_once(out: Path, ids: list[str]) -> None:
    wait_until(lambda: len(span_ids(out)) >= len(ids), 10, "spans written")
    assert sorted(span_ids(out)) == sorted(ids)


def span_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["span_id"] for line in path.read_text().splitlines() if line]


def make_exporter(
    port: int, interval_s: float = 0.2, max_queue: int = 16384, path: str = "/v1/traces"
) -> tuple[SpanExporter, SpanRecorder]:
    exporter = SpanExporter(
        f"http://127.0.0.1:{port}{path}",
        SpanEncoder(RESOURCE, "meshproof.sidecar"),
        interval_s=interval_s,
        max_queue=max_queue,
    )
    return exporter, SpanRecorder(exporter.add, rng=random.Random(5))


async def end_spans(recorder: SpanRecorder, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        span = recorder.start_server_span("inbound catalog", None)
        span.end(200)
        ids.append(f"{span.span_id:016x}")
    return ids


def test_every_span_arrives_in_small_batches(sink: tuple[int, Path]) -> None:
    """700 spans ended at once reach the sink, each once, in exports of at most 256,
    all over one kept-alive connection."""
    port, out = sink

    async def scenario() -> tuple[list[str], SpanExporter]:
        exporter, recorder = make_exporter(port, interval_s=0.05)
        task = asyncio.get_running_loop().create_task(exporter.run())
        ids = await end_spans(recorder, 700)
        async with asyncio.timeout(10):
            while exporter.exported < 700:
                await asyncio.sleep(0.02)
        task.cancel()
        return ids, exporter

    ids, exporter = asyncio.run(scenario())
    assert_arrived_once(out, ids)
    assert exporter.summary() == {
        "exported": 700,
        "exports": 3,
        "queued": 0,
        "dropped": 0,
        "failed_exports": 0,
        "connections": 1,
    }


def test_shutdown_lets_the_running_export_finish_and_sends_the_rest(
    sink: tuple[int, Path],
) -> None:
    """Spans queued as the sidecar stops all arrive once: the export in progress is not
    cut, and what is left after it is sent before shutdown returns."""
    port, out = sink

    async def scenario() -> tuple[list[str], SpanExporter]:
        exporter, recorder = make_exporter(port, interval_s=60)
        runner = asyncio.get_running_loop().create_task(exporter.run())
        ids = await end_spans(recorder, 300)
        await asyncio.sleep(0)  # the runner wakes for the first full batch and starts it
        await exporter.shutdown(10, runner)
        assert runner.done() and not runner.cancelled()
        return ids, exporter

    ids, exporter = asyncio.run(scenario())
    assert_arrived_once(out, ids)
    assert (exporter.exported, exporter.exports, exporter.dropped) == (300, 2, 0)


def test_a_flush_returns_once_the_sink_wrote_every_span_ended_before_it(
    sink: tuple[int, Path],
) -> None:
    """With a 60 s export interval, `flush` sends at once and returns only after the sink
    answered: every span ended before it is already in the sink's file, none later; a
    flush with nothing queued returns True too."""
    port, out = sink

    async def scenario() -> tuple[list[str], list[str], bool]:
        exporter, recorder = make_exporter(port, interval_s=60)
        runner = asyncio.get_running_loop().create_task(exporter.run())
        await asyncio.sleep(0)  # the runner waits out its interval
        ids = await end_spans(recorder, 300)
        assert await exporter.flush(5)
        written = span_ids(out)  # read before anything else can run
        assert await exporter.flush(5)
        await exporter.shutdown(5, runner)
        return ids, written, exporter.exports == 2

    ids, written, two_exports = asyncio.run(scenario())
    assert sorted(written) == sorted(ids) and two_exports


def test_a_flush_to_a_sink_that_is_gone_says_so_in_time(tmp_path: Path) -> None:
    """No sink listening: `flush` returns False within its timeout, the spans still queued."""

    async def scenario() -> tuple[bool, float, int]:
        exporter, recorder = make_exporter(fresh_port(), interval_s=60)
        runner = asyncio.get_running_loop().create_task(exporter.run())
        await end_spans(recorder, 3)
        began = time.monotonic()
        flushed = await exporter.flush(0.5)
        took = time.monotonic() - began
        queued = exporter.queued
        runner.cancel()
        return flushed, took, queued

    flushed, took, queued = asyncio.run(scenario())
    assert not flushed and took < 2.0 and queued == 3


def test_spans_wait_for_a_sink_that_comes_up_late(procs: Processes, tmp_path: Path) -> None:
    """Exports to a sink that is not listening yet are kept and sent once it is up."""
    port, out = fresh_port(), tmp_path / "spans.jsonl"

    async def scenario() -> tuple[list[str], SpanExporter]:
        exporter, recorder = make_exporter(port, interval_s=0.05)
        ids = await end_spans(recorder, 50)
        assert not await exporter.send_queued()
        assert exporter.queued == 50 and exporter.failed_exports == 1
        await asyncio.to_thread(start_sink, procs, port, out)
        await exporter.shutdown(10)
        return ids, exporter

    ids, exporter = asyncio.run(scenario())
    assert_arrived_once(out, ids)
    assert exporter.exported == 50 and exporter.dropped == 0


def test_a_restarted_sink_gets_the_next_export_on_a_new_connection(
    procs: Processes, tmp_path: Path
) -> None:
    """The kept-alive connection dies with the sink; the next export opens a new one to
    the sink that took its place, and every span arrives once."""
    port, first, second = fresh_port(), tmp_path / "first.jsonl", tmp_path / "second.jsonl"

    async def scenario() -> tuple[list[str], list[str], SpanExporter]:
        exporter, recorder = make_exporter(port)
        sink = await asyncio.to_thread(start_sink, procs, port, first, "sink-1")
        before = await end_spans(recorder, 10)
        assert await exporter.send_queued()
        await asyncio.to_thread(sink.stop)
        await asyncio.to_thread(start_sink, procs, port, second, "sink-2")
        after = await end_spans(recorder, 10)
        assert await exporter.send_queued()
        await exporter.shutdown(5)
        return before, after, exporter

    before, after, exporter = asyncio.run(scenario())
    assert_arrived_once(first, before)
    assert_arrived_once(second, after)
    assert (exporter.exported, exporter.exports, exporter.connections) == (20, 2, 2)


def test_a_batch_refused_for_good_is_dropped_not_retried(sink: tuple[int, Path]) -> None:
    """A 4xx answer (here 404 for a path the sink does not serve) drops that batch and
    counts it, so the spans behind it are not blocked."""
    port, _ = sink

    async def scenario() -> SpanExporter:
        exporter, recorder = make_exporter(port, path="/v1/nothing-here")
        await end_spans(recorder, 20)
        assert await exporter.send_queued()
        return exporter

    exporter = asyncio.run(scenario())
    assert exporter.summary() == {
        "exported": 0,
        "exports": 0,
        "queued": 0,
        "dropped": 20,
        "failed_exports": 1,
        "connections": 1,
    }


def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    """Past max_queue, new spans are dropped and counted; shutdown gives up on what is
    left when nothing listens, within its deadline."""
    port = fresh_port()

    async def scenario() -> SpanExporter:
        exporter, recorder = make_exporter(port, max_queue=100)
        await end_spans(recorder, 130)
        assert exporter.queued == 100 and exporter.dropped == 30
        await exporter.shutdown(0.5)
        return exporter

    exporter = asyncio.run(scenario())
    assert exporter.queued == 0 and exporter.dropped == 130 and exporter.exported == 0
