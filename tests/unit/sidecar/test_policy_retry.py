"""Retry decisions (Envoy's retryOn), backoff bounds and the retry budget."""

from __future__ import annotations

import random
import statistics

import pytest

from mesh_runtime.config import Retries
from mesh_runtime.config import RetryBudget as RetryBudgetPolicy
from mesh_runtime.sidecar.policy.retry import (
    AttemptResult,
    RetryBudget,
    backoff_delay,
    is_retriable,
)

OK = AttemptResult(200)
NOT_FOUND = AttemptResult(404)
E500 = AttemptResult(500)
E502 = AttemptResult(502)
E503 = AttemptResult(503)
E504 = AttemptResult(504)
CONNECT = AttemptResult(None, "connect-failure")
RESET = AttemptResult(None, "reset")
TIMEOUT = AttemptResult(None, "timeout")


def retries(retry_on: str, **extra: object) -> Retries:
    return Retries.model_validate({"retryOn": retry_on, **extra})


def retried(policy: Retries) -> set[AttemptResult]:
    every = [OK, NOT_FOUND, E500, E502, E503, E504, CONNECT, RESET, TIMEOUT]
    return {r for r in every if is_retriable(policy, r)}


def test_5xx_retries_every_5xx_and_every_failure_without_an_answer() -> None:
    """retryOn 5xx covers all 5xx, connect failures, resets and per-try timeouts."""
    assert retried(retries("5xx")) == {E500, E502, E503, E504, CONNECT, RESET, TIMEOUT}


def test_gateway_error_retries_502_503_504_and_failures_without_an_answer() -> None:
    """retryOn gateway-error leaves a plain 500 alone."""
    assert retried(retries("gateway-error")) == {E502, E503, E504, CONNECT, RESET, TIMEOUT}


def test_reset_retries_only_failures_without_an_answer() -> None:
    """retryOn reset covers disconnects, connect failures and timeouts, no status code."""
    assert retried(retries("reset")) == {CONNECT, RESET, TIMEOUT}


def test_connect_failure_retries_only_connect_failures() -> None:
    """retryOn connect-failure covers nothing but failed connects."""
    assert retried(retries("connect-failure")) == {CONNECT}


def test_retriable_status_codes_need_the_condition_and_the_list() -> None:
    """Listed codes are retried only with retriable-status-codes in retryOn."""
    with_condition = retries("retriable-status-codes", retriableStatusCodes=[404, 503])
    assert retried(with_condition) == {NOT_FOUND, E503}
    without_condition = retries("connect-failure", retriableStatusCodes=[404])
    assert retried(without_condition) == {CONNECT}


def test_success_is_never_retried() -> None:
    """A 2xx answer is never retried, whatever the conditions."""
    policy = retries("5xx,gateway-error,reset,connect-failure,retriable-status-codes")
    assert not is_retriable(policy, OK)


def test_result_without_status_or_error_counts_as_reset() -> None:
    """A malformed result with neither status nor error is treated as a reset."""
    assert is_retriable(retries("reset"), AttemptResult(None))
    assert not is_retriable(retries("connect-failure"), AttemptResult(None))


def test_backoff_stays_within_envoy_bounds() -> None:
    """Retry n waits in [0, (2**n - 1) x base), never over the max interval."""
    policy = retries("5xx", backoffBaseInterval="10ms", backoffMaxInterval="1s")
    rng = random.Random(21)
    for n, ceiling in [(1, 0.010), (2, 0.030), (3, 0.070), (4, 0.150)]:
        delays = [backoff_delay(policy, n, rng) for _ in range(2000)]
        assert all(0.0 <= d < ceiling for d in delays)
        # Full jitter: the mean sits near half the ceiling.
        assert statistics.fmean(delays) == pytest.approx(ceiling / 2, rel=0.1)


def test_backoff_is_capped_at_the_max_interval() -> None:
    """Late retries are capped at backoffMaxInterval."""
    policy = retries("5xx", backoffBaseInterval="25ms", backoffMaxInterval="250ms")
    rng = random.Random(22)
    delays = [backoff_delay(policy, 10, rng) for _ in range(500)]
    assert max(delays) == 0.25
    assert min(delays) >= 0.0
    assert backoff_delay(policy, 10_000, rng) <= 0.25


def test_backoff_treats_retry_number_below_one_as_the_first() -> None:
    """A retry number of 0 is bounded as the first retry."""
    policy = retries("5xx", backoffBaseInterval="10ms")
    rng = random.Random(23)
    assert all(backoff_delay(policy, 0, rng) < 0.010 for _ in range(200))


def budget(percent: float, minimum: int) -> RetryBudget:
    return RetryBudget(RetryBudgetPolicy(budgetPercent=percent, minRetryConcurrency=minimum))


def test_budget_allows_min_retry_concurrency_at_low_load() -> None:
    """With few active requests, minRetryConcurrency retries may run at once."""
    b = budget(20, 3)
    assert [b.try_acquire(active_requests=5) for _ in range(4)] == [True, True, True, False]
    assert b.in_flight == 3


def test_budget_scales_with_active_requests() -> None:
    """At 100 active requests a 20 % budget allows 20 retries in flight."""
    b = budget(20, 3)
    granted = sum(b.try_acquire(active_requests=100) for _ in range(50))
    assert granted == 20


def test_budget_release_frees_a_slot_and_never_goes_negative() -> None:
    """Releasing gives a slot back; extra releases do not create credit."""
    b = budget(0, 1)
    assert b.try_acquire(0)
    assert not b.try_acquire(0)
    b.release()
    b.release()
    assert b.in_flight == 0
    assert b.try_acquire(0)
    assert not b.try_acquire(0)


def test_budget_update_keeps_retries_in_flight() -> None:
    """A new budget policy applies at once and keeps the in-flight count."""
    b = budget(20, 2)
    assert b.try_acquire(0) and b.try_acquire(0)
    b.update(RetryBudgetPolicy(budgetPercent=20, minRetryConcurrency=3))
    assert b.in_flight == 2
    assert b.try_acquire(0)
    assert not b.try_acquire(0)
