"""The open-loop schedule: intended send times, ramps, and the split across workers."""

from __future__ import annotations

import pytest

from harness.load.schedule import Schedule, Segment, segments_of
from harness.spec.load import LoadSpec, Stage


def test_constant_rate_sends_every_1_over_rps_seconds() -> None:
    """At a constant 200 RPS request k is meant to go at k / 200 s, 200 a second."""
    spec = LoadSpec(rps=200, duration="10s", warmup="0s")
    times = [slot.intended_s for slot in Schedule.of(spec).slots()]
    assert len(times) == 2000
    assert times[:3] == pytest.approx([0.0, 0.005, 0.010])
    assert times[-1] == pytest.approx(9.995)


def test_warmup_runs_at_the_target_rate_before_the_measured_part() -> None:
    """Warm-up counts in the schedule: 5 s + 10 s at 100 RPS is 1500 requests."""
    schedule = Schedule.of(LoadSpec(rps=100, duration="10s", warmup="5s"))
    assert schedule.duration == 15
    assert schedule.total == 1500
    assert sum(1 for _ in schedule.slots()) == 1500


def test_stage_ramps_linearly_from_the_previous_rate() -> None:
    """A 10 s stage from 100 to 300 RPS sends 2000 requests, denser towards its end."""
    spec = LoadSpec(rps=100, warmup="0s", stages=[Stage(duration="10s", rps=300)])
    times = [slot.intended_s for slot in Schedule.of(spec).slots()]
    assert len(times) == 2000
    first_second = sum(1 for t in times if t < 1)
    last_second = sum(1 for t in times if t >= 9)
    assert first_second == pytest.approx(110, abs=1)  # integral of 100 + 20 t over [0, 1]
    assert last_second == pytest.approx(290, abs=1)


def test_ramp_from_zero_starts_at_time_zero_and_accelerates() -> None:
    """A ramp from 0 RPS gives the k-th request the time sqrt(2k / slope)."""
    seg = Segment(0.0, 10.0, 0.0, 100.0)  # slope 10 RPS per second
    assert seg.time_of(0) == 0.0
    assert seg.time_of(5) == pytest.approx(1.0)
    assert seg.time_of(500) == pytest.approx(10.0)


def test_stages_follow_each_other_and_a_zero_rate_stage_sends_nothing() -> None:
    """Stages chain: 0 -> 0 RPS for 5 s sends nothing, then a ramp picks up after it."""
    spec = LoadSpec(
        rps=50,
        warmup="0s",
        stages=[
            Stage(duration="2s", rps=0),
            Stage(duration="5s", rps=0),
            Stage(duration="2s", rps=50),
        ],
    )
    schedule = Schedule.of(spec)
    times = [slot.intended_s for slot in schedule.slots()]
    assert not [t for t in times if 2 <= t < 7]
    assert len(times) == 100
    assert schedule.rate_at(8.0) == pytest.approx(25.0)


@pytest.mark.parametrize("workers", [2, 3, 7])
def test_workers_split_the_schedule_and_together_keep_it_whole(workers: int) -> None:
    """Worker i of N takes every N-th request; together they send each request exactly once."""
    spec = LoadSpec(rps=1000, duration="3s", warmup="1s", connections=16, workers=workers)
    schedule = Schedule.of(spec)
    shares = [list(schedule.slots(w, workers)) for w in range(workers)]
    numbers = sorted(slot.number for share in shares for slot in share)
    assert numbers == list(range(schedule.total))
    assert all(abs(len(s) - schedule.total / workers) <= 1 for s in shares)
    everyone = sorted(slot.intended_s for share in shares for slot in share)
    assert everyone == [slot.intended_s for slot in schedule.slots()]


def test_a_late_start_skips_the_requests_already_due() -> None:
    """Requests due before the worker was ready are skipped, not fired in a burst."""
    schedule = Schedule.of(LoadSpec(rps=100, duration="10s", warmup="0s"))
    slots = list(schedule.slots(start_s=2.0))
    assert slots[0].intended_s == pytest.approx(2.0)
    assert slots[0].number == 200
    assert len(slots) == 800


def test_segments_of_drop_empty_parts() -> None:
    """A zero warm-up adds no segment."""
    assert segments_of(LoadSpec(rps=10, duration="1s", warmup="0s")) == [
        Segment(0.0, 1.0, 10.0, 10.0)
    ]


def test_worker_outside_the_pool_is_refused() -> None:
    """Asking for worker 2 of 2 is a programming error, reported at once."""
    with pytest.raises(ValueError, match="worker 2"):
        next(Schedule.of(LoadSpec()).slots(2, 2))


def test_expected_requests_between_two_times_integrate_the_rate() -> None:
    """Warm-up 2 s at 100 RPS, then a ramp 100 -> 300 over 2 s: 200 + 400 requests."""
    spec = LoadSpec(rps=100, warmup="2s", stages=[Stage(duration="2s", rps=300)])
    schedule = Schedule.of(spec)
    assert schedule.expected_between(0, 2) == pytest.approx(200)
    assert schedule.expected_between(2, 4) == pytest.approx(400)
    assert schedule.expected_between(3, 4) == pytest.approx(250)
    assert schedule.expected_between(-5, 10) == pytest.approx(schedule.total)
