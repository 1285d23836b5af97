"""Weighted, seeded route choice and the traceparent each request carries."""

from __future__ import annotations

from collections import Counter

from harness.load.routes import RoutePicker
from harness.load.tracecontext import TRACEPARENT, TraceIds, parse_traceparent
from harness.spec.load import RouteSpec

ROUTES = [
    RouteSpec(name="home", weight=6),
    RouteSpec(name="cart", path="/cart", method="POST", weight=3, body="{}"),
    RouteSpec(name="pay", path="/pay", weight=1),
]


def test_routes_are_chosen_in_proportion_to_weight() -> None:
    """Over 100 000 requests each route's share is within 1 point of its weight's share."""
    picker = RoutePicker(ROUTES, seed=1)
    counts = Counter(picker.pick(k) for k in range(100_000))
    shares = [counts[i] / 100_000 for i in range(3)]
    for share, expected in zip(shares, [0.6, 0.3, 0.1], strict=True):
        assert abs(share - expected) < 0.01


def test_choice_depends_only_on_seed_and_request_number() -> None:
    """The same seed gives the same mix whatever order requests are asked in; another seed differs."""
    a, b, c = RoutePicker(ROUTES, 5), RoutePicker(ROUTES, 5), RoutePicker(ROUTES, 6)
    forward = [a.pick(k) for k in range(1000)]
    backward = [b.pick(k) for k in reversed(range(1000))][::-1]
    assert forward == backward
    assert forward != [c.pick(k) for k in range(1000)]


def test_single_route_is_always_taken() -> None:
    """One route gets every request."""
    picker = RoutePicker([RouteSpec()], seed=3)
    assert {picker.pick(k) for k in range(100)} == {0}


def test_traceparent_is_w3c_version_00_sampled_and_names_its_trace_id() -> None:
    """`00-<32 hex>-<16 hex>-01`, and the recorded trace id is the header's."""
    header, trace_id = TraceIds().traceparent()
    assert TRACEPARENT.match(header)
    assert parse_traceparent(header) == (trace_id, header[36:52])


def test_trace_ids_do_not_repeat() -> None:
    """100 000 trace ids from one generator are all different."""
    ids = TraceIds()
    assert len({ids.traceparent()[1] for _ in range(100_000)}) == 100_000


def test_malformed_or_zero_traceparents_are_rejected() -> None:
    """An all-zero trace id, upper case hex or a wrong version is not a valid traceparent."""
    assert parse_traceparent("00-" + "0" * 32 + "-" + "1" * 16 + "-01") is None
    assert parse_traceparent("00-" + "A" * 32 + "-" + "1" * 16 + "-01") is None
    assert parse_traceparent("01-" + "a" * 32 + "-" + "1" * 16 + "-01") is None
