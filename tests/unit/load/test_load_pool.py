"""When grown connections close again: the peaks of requests in flight and what is kept."""

from __future__ import annotations

import pytest

from harness.load.pacer import Pacer
from harness.load.pool import InFlightPeaks, connections_to_keep
from harness.spec.load import LoadSpec


def test_the_most_in_flight_is_unknown_until_looks_cover_the_idle_time() -> None:
    """1 s at a look every 0.5 s: two looks are needed, then the larger of the last two."""
    peaks = InFlightPeaks(1.0, look_s=0.5)
    peaks.add(40)
    assert peaks.most() is None
    peaks.add(3)
    assert peaks.most() == 40
    peaks.add(2)
    assert peaks.most() == 3  # the 40 is more than 1 s old


def test_a_reset_forgets_what_the_pool_needed_before_it_grew() -> None:
    """After a reset (the pool grew) the span must be covered again before anything closes."""
    peaks = InFlightPeaks(1.0, look_s=0.5)
    peaks.add(1)
    peaks.add(1)
    peaks.reset()
    peaks.add(1)
    assert peaks.most() is None


@pytest.mark.parametrize(
    ("base", "most", "ceiling", "keep"),
    [
        (16, None, 1000, 1000),  # not idle long enough yet: keep all
        (16, 2, 1000, 16),  # a backlog's connections gone quiet: back to the base
        (4, 30, 1000, 31),  # still needed: the most in flight and one spare
        (4, 999, 1000, 1000),  # never above the ceiling
        (4, 0, 1000, 4),
    ],
)
def test_connections_kept(base: int, most: int | None, ceiling: int, keep: int) -> None:
    """The most in flight together plus one, at least the base, at most the ceiling."""
    assert connections_to_keep(base, most, ceiling) == keep


def test_the_pacer_keeps_the_peak_of_requests_in_flight_between_looks() -> None:
    """Three sent, two done: the peak is 3; the next peak counts from the one still out."""
    pacer = Pacer(LoadSpec(rps=100, duration="1s", warmup="0s"), 0, 1, 0.0, lambda _: None)
    requests = [pacer.claim(0.0) for _ in range(3)]
    for request in requests:
        assert request is not None
        pacer.sent(request, request.intended_s)
    for request in requests[:2]:
        assert request is not None
        pacer.done(request, request.intended_s, request.intended_s + 0.001, 200, 2)
    assert pacer.take_peak() == 3
    assert pacer.take_peak() == 1


def test_requests_sent_late_raise_the_peak_too() -> None:
    """A pool at its ceiling before a slow target sends every request late, and needs
    every connection it has: late sends count as on-time ones do."""
    pacer = Pacer(LoadSpec(rps=100, duration="1s", warmup="0s"), 0, 1, 0.0, lambda _: None)
    for _ in range(3):
        request = pacer.claim(0.0)
        assert request is not None
        pacer.sent(request, request.intended_s + 0.5)
    assert pacer.take_peak() == 3


def test_idle_timeout_is_off_or_at_least_a_second() -> None:
    """`load.idle_timeout`: 30 s by default, 0 keeps every connection, 500ms is refused."""
    assert LoadSpec().idle_timeout == 30.0
    assert LoadSpec(idle_timeout=0).idle_timeout == 0.0
    with pytest.raises(ValueError, match=r"(?s)idle_timeout.*at least 1s"):
        LoadSpec(idle_timeout="500ms")
