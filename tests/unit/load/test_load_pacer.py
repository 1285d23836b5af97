"""The worker pacer: hand-out order, books kept, and the records it writes."""

from __future__ import annotations

import json
import random

import pytest

from harness.load.pacer import Pacer, connections_to_open, share_of
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
        pacer.sent(request, request.intended_s)
        pacer.done(request, request.intended_s, request.intended_s + 0.002, 200, 2)
    assert pacer.finished
    assert len(lines) == 50
    assert pacer.stats.sent == pacer.stats.completed == 50


def test_late_request_is_recorded_with_its_wait_in_corrected_latency() -> None:
    """Sent 300 ms after its intended time, answered 5 ms later: corrected 305, latency 5."""
    pacer, lines = make()
    request = pacer.claim(0.0)
    assert request is not None
    pacer.sent(request, request.intended_s + 0.3)
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


def test_late_sends_are_counted_with_their_largest_lag() -> None:
    """A send 300 ms after its intended time counts as late; one 5 ms late does not."""
    pacer, _ = make()
    first, second = pacer.claim(0.0), pacer.claim(0.0)
    assert first is not None and second is not None
    pacer.sent(first, first.intended_s + 0.005)
    pacer.sent(second, second.intended_s + 0.3)
    snapshot = pacer.stats.snapshot(second.intended_s + 0.31)
    assert snapshot["late"] == 1
    assert snapshot["max_lag_ms"] == pytest.approx(300.0)
    assert pacer.in_flight == 2


def test_overdue_counts_unclaimed_requests_past_their_time() -> None:
    """At 100 ms, worker 0 of 2 at 100 RPS has requests 0, 2, ..., 8 due (10 ms apart)."""
    pacer, _ = make()
    assert pacer.overdue(0.0) == 0
    assert pacer.overdue(0.085) == 5  # due at 0, 20, 40, 60, 80 ms
    assert pacer.overdue(0.085) == 5  # looking does not claim
    request = pacer.claim(0.085)
    assert request is not None and request.number == 0
    assert pacer.overdue(0.085) == 4


def test_overdue_stops_counting_at_most_and_keeps_the_order() -> None:
    """Counting stops at `at_most` (none at 0), and what was looked at is claimed in order."""
    pacer, _ = make()
    assert pacer.overdue(0.085, at_most=0) == 0
    assert pacer.overdue(0.085, at_most=3) == 3
    assert pacer.overdue(0.085, at_most=3) == 3  # the same three, from the look-ahead
    assert pacer.overdue(0.085) == 5
    numbers = [r.number for r in (pacer.claim(0.085) for _ in range(5)) if r]
    assert numbers == [0, 2, 4, 6, 8]


def test_claims_after_a_look_ahead_keep_the_order() -> None:
    """Requests looked at by `overdue` are handed out first, in order, then the rest."""
    pacer, _ = make()
    pacer.overdue(0.05)
    numbers = [r.number for r in (pacer.claim(0.05) for _ in range(5)) if r]
    assert numbers == [0, 2, 4, 6, 8]


def test_unsent_includes_requests_looked_at_but_never_claimed() -> None:
    """Requests peeked at by `overdue` and never claimed still count as unsent at the end."""
    pacer, _ = make()
    pacer.overdue(0.5)
    assert pacer.claim(1.0) is None
    assert pacer.unsent == 50


@pytest.mark.parametrize(
    ("overdue", "in_flight", "connections", "ceiling", "answered", "expected"),
    [
        (0, 16, 16, 1000, 0, 0),  # nothing due: nothing to open
        (3, 16, 16, 1000, 0, 3),  # every connection waits for an answer: one per due request
        (3, 15, 16, 1000, 0, 0),  # a connection free: the worker's CPU is behind, not the pool
        (5, 16, 16, 18, 0, 2),  # only up to the ceiling
        (5, 18, 18, 18, 0, 0),  # at the ceiling: requests wait and leave late
        (10, 16, 16, 1000, 3, 7),  # 3 answers back: those connections take 3 of the 10 soon
        (300, 16, 16, 1000, 8, 0),  # half the answers back, unread: the worker's CPU is behind
        (300, 16, 16, 1000, 16, 0),  # however far behind
        (300, 16, 16, 1000, 0, 16),  # many due: at most as many again as are open
        (300, 0, 0, 1000, 0, 0),  # none open yet: Locust is still spawning the first
    ],
)
def test_connections_open_only_for_requests_no_connection_will_take(
    overdue: int, in_flight: int, connections: int, ceiling: int, answered: int, expected: int
) -> None:
    """Connections grow by the due requests while all are waiting for their answers, less
    the connections whose answer is back, at most doubling at a time, up to the ceiling;
    not at all while half the connections or more have answers waiting to be read."""
    got = connections_to_open(overdue, in_flight, connections, ceiling, answered)
    assert got == expected


def test_ceiling_is_shared_between_workers_as_locust_spreads_users() -> None:
    """1000 connections over 3 workers: 334, 333, 333."""
    assert [share_of(1000, w, 3) for w in range(3)] == [334, 333, 333]
