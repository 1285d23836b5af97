"""The worker pacer: hand-out order, books kept, and the records it writes."""

from __future__ import annotations

import json
import random

import pytest

from harness.load.pacer import Pacer
from harness.load.tracecontext import TraceIds
from harness.spec.load import LoadSpec, RouteSpec

SPEC = LoadSpec(
    rps=100,
    duration="1s",
    warmup="0s",
    connections=4,
    workers=2,
    routes=[
        RouteSpec(name="a", headers={"X-Test": "1"}),
        RouteSpec(name="b", method="POST", path="/b", body="hi"),
    ],
)


def make(worker: int = 0) -> tuple[Pacer, list[str]]:
    lines: list[str] = []
    return Pacer(SPEC, worker, 2, 0.0, lines.append, TraceIds(random.Random(1))), lines


def test_worker_gets_every_other_request_in_order() -> None:
    """Worker 1 of 2 at 100 RPS is handed requests 1, 3, 5, ... at 10 ms, 30 ms, ..."""
    pacer, _ = make(worker=1)
    first = [pacer.claim(0.0) for _ in range(3)]
    assert [r.number for r in first if r] == [1, 3, 5]
    assert [r.intended_s for r in first if r] == pytest.approx([0.01, 0.03, 0.05])


def test_request_carries_route_headers_and_its_traceparent() -> None:
    """Headers are the route's plus defaults plus a traceparent naming the record's trace id."""
    pacer, _ = make()
    request = pacer.claim(0.0)
    assert request is not None
    headers = request.headers()
    assert headers["traceparent"] == f"00-{request.trace_id}-{headers['traceparent'][36:52]}-01"
    assert headers["Accept-Encoding"] == "identity"
    if request.route.name == "a":
        assert headers["X-Test"] == "1"
    else:
        assert request.route.body == b"hi"


def test_finished_only_when_every_claimed_request_completed() -> None:
    """The pacer is finished once the schedule ran out and nothing is in flight."""
    pacer, lines = make()
    claimed = []
    while (request := pacer.claim(0.5)) is not None:
        claimed.append(request)
    assert len(claimed) == 50
    assert pacer.exhausted and not pacer.finished
    for request in claimed:
        pacer.sent()
        pacer.done(request, request.intended_s, request.intended_s + 0.002, 200, 2)
    assert pacer.finished
    assert len(lines) == 50
    assert pacer.stats.sent == pacer.stats.completed == 50


def test_late_request_is_recorded_with_its_wait_in_corrected_latency() -> None:
    """Sent 300 ms after its intended time, answered 5 ms later: corrected 305, latency 5."""
    pacer, lines = make()
    request = pacer.claim(0.0)
    assert request is not None
    record = pacer.done(request, request.intended_s + 0.3, request.intended_s + 0.305, 503, 0)
    row = json.loads(lines[0])
    assert row["corrected_ms"] == pytest.approx(305.0) == pytest.approx(record.corrected_ms)
    assert row["latency_ms"] == pytest.approx(5.0)
    assert row["trace_id"] == request.trace_id
    assert pacer.stats.failed == 1


def test_requests_still_waiting_at_the_schedules_end_are_unsent() -> None:
    """Past the end of the schedule nothing more is handed out; the rest count as unsent."""
    pacer, _ = make()
    assert pacer.claim(0.2) is not None
    assert pacer.claim(1.0) is None
    assert pacer.unsent == 49
    assert pacer.exhausted and not pacer.finished  # the one claimed is still in flight
    assert pacer.claim(1.1) is None and pacer.unsent == 49
