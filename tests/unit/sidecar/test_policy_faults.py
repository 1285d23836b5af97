"""Fault sampling: percentages, independence of delay and abort, header matches."""

from __future__ import annotations

import math
import random

from mesh_runtime.config import Fault
from mesh_runtime.sidecar.policy.faults import NO_FAULT, FaultDecision, decide_fault


def fault(data: dict[str, object]) -> Fault:
    return Fault.model_validate(data)


def near(observed: int, trials: int, p: float) -> bool:
    return abs(observed - trials * p) <= 5 * math.sqrt(trials * p * (1 - p))


def test_no_fault_configured_means_no_fault() -> None:
    """None or an empty fault injects nothing."""
    rng = random.Random(1)
    assert decide_fault(None, {}, rng) == NO_FAULT
    assert decide_fault(fault({}), {}, rng) == NO_FAULT
    assert not NO_FAULT.delayed and not NO_FAULT.aborted


def test_full_percentage_always_applies() -> None:
    """100 % delay and 100 % abort apply to every request."""
    f = fault({"delay": {"fixedDelay": "250ms"}, "abort": {"httpStatus": 503}})
    decision = decide_fault(f, {}, random.Random(1))
    assert decision == FaultDecision(delay_s=0.25, abort_status=503)


def test_zero_percentage_never_applies() -> None:
    """0 % never injects."""
    f = fault({"abort": {"httpStatus": 500, "percentage": 0}})
    rng = random.Random(2)
    assert all(decide_fault(f, {}, rng) == NO_FAULT for _ in range(1000))


def test_abort_percentage_within_binomial_tolerance() -> None:
    """A 20 % abort hits about a fifth of requests."""
    f = fault({"abort": {"httpStatus": 503, "percentage": 20}})
    rng = random.Random(3)
    trials = 10000
    hits = sum(decide_fault(f, {}, rng).abort_status == 503 for _ in range(trials))
    assert near(hits, trials, 0.2)


def test_delay_and_abort_are_sampled_independently() -> None:
    """With 50 % delay and 50 % abort, about a quarter of requests get both."""
    f = fault(
        {
            "delay": {"fixedDelay": "10ms", "percentage": 50},
            "abort": {"httpStatus": 500, "percentage": 50},
        }
    )
    rng = random.Random(4)
    trials = 10000
    decisions = [decide_fault(f, {}, rng) for _ in range(trials)]
    both = sum(d.delayed and d.aborted for d in decisions)
    delayed = sum(d.delayed for d in decisions)
    assert near(both, trials, 0.25)
    assert near(delayed, trials, 0.5)


def test_fault_applies_only_when_headers_match() -> None:
    """A header-scoped fault leaves requests without the header alone."""
    f = fault(
        {
            "abort": {"httpStatus": 418},
            "headers": {"X-Chaos": {"exact": "on"}, "x-user": {"regex": "tester-[0-9]+"}},
        }
    )
    rng = random.Random(5)
    assert decide_fault(f, {"x-chaos": "on", "x-user": "tester-12"}, rng).abort_status == 418
    assert decide_fault(f, {"x-chaos": "on", "x-user": "someone"}, rng) == NO_FAULT
    assert decide_fault(f, {"x-chaos": "on"}, rng) == NO_FAULT
    assert decide_fault(f, {}, rng) == NO_FAULT
