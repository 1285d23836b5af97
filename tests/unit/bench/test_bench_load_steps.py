"""The load bench steps the rate up until the worker falls behind."""

from __future__ import annotations

from typing import Any

from harness.bench.load import load_lines, steps_until_behind, sustained


def test_steps_stop_at_the_first_rate_not_sustained() -> None:
    """Rates run in order; the first one the worker does not sustain is the last."""
    asked: list[float] = []

    def step(rate: float) -> dict[str, Any]:
        asked.append(rate)
        return {"target_rps": rate, "sustained": rate < 6000}

    steps = steps_until_behind([2000, 4000, 6000, 8000], step)
    assert asked == [2000, 4000, 6000]
    assert [s["sustained"] for s in steps] == [True, True, False]


def test_steps_run_every_rate_while_sustained() -> None:
    """A worker that keeps up runs every rate."""
    steps = steps_until_behind([1, 2, 3], lambda rate: {"sustained": True})
    assert len(steps) == 3


def test_lines_end_with_the_sustained_rate_against_the_target() -> None:
    """The table, then the best sustained rate beside the 15 k target."""
    step = {"target_rps": 2000, "achieved_rps": 1999.0, "sustained": True, "load_average_1m": 1.5}
    result = {"connections": 32, "target": "fortio", "load_average_1m": 1.5, "cpus": 2,
              "steps": [step], "max_sustained_rps_per_worker": 1999.0}  # fmt: skip
    lines = load_lines(result)
    assert lines[0].startswith("load driver: one worker, 32 connections, fortio")
    assert lines[-1] == (
        "sustained RPS per worker (corrected latency recorded): 1999 (target >= 15000): missed"
    )


def test_a_rate_is_sustained_with_no_more_unsent_than_five_ms_of_it() -> None:
    """At 10 000 RPS a worker within 5 ms of lag still has 50 requests due when the run
    stops: 50 unsent is kept up, 51 is behind."""
    assert sustained(10_000, 9_990.0, 50, 1.2)
    assert not sustained(10_000, 9_990.0, 51, 1.2)


def test_a_rate_is_not_sustained_when_answers_or_the_send_lag_fall_short() -> None:
    assert not sustained(10_000, 9_600.0, 0, 1.2)  # under 97 % achieved
    assert not sustained(10_000, 9_990.0, 0, 5.0)  # the median request 5 ms late
    assert sustained(10_000, 9_700.0, 0, 4.9)
