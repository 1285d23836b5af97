"""Circuit breaker thresholds and overflow counting."""

from __future__ import annotations

from mesh_runtime.config import ConnectionPool
from mesh_runtime.sidecar.policy.breaker import CircuitBreaker


def pool(
    max_requests: int = 1024, max_pending: int = 1024, max_connections: int = 1024
) -> ConnectionPool:
    return ConnectionPool.model_validate(
        {
            "tcp": {"maxConnections": max_connections},
            "http": {"http2MaxRequests": max_requests, "http1MaxPendingRequests": max_pending},
        }
    )


def test_requests_over_the_limit_overflow() -> None:
    """The request past http2MaxRequests is refused and counted as an overflow."""
    breaker = CircuitBreaker(pool(max_requests=2))
    assert [breaker.try_acquire_request() for _ in range(3)] == [True, True, False]
    assert breaker.in_flight == 2
    assert breaker.overflows == 1


def test_release_admits_the_next_request() -> None:
    """Releasing a request frees a slot; extra releases never go below zero."""
    breaker = CircuitBreaker(pool(max_requests=1))
    assert breaker.try_acquire_request()
    assert not breaker.try_acquire_request()
    breaker.release_request()
    breaker.release_request()
    assert breaker.in_flight == 0
    assert breaker.try_acquire_request()
    assert breaker.overflows == 1


def test_pending_limit_overflows() -> None:
    """A request may wait only while fewer than http1MaxPendingRequests wait."""
    breaker = CircuitBreaker(pool(max_pending=2))
    assert breaker.may_queue(0) and breaker.may_queue(1)
    assert not breaker.may_queue(2)
    assert breaker.overflows == 1


def test_zero_pending_means_no_queueing() -> None:
    """http1MaxPendingRequests 0 answers every request that would wait with an overflow."""
    breaker = CircuitBreaker(pool(max_pending=0))
    assert not breaker.may_queue(0)
    assert breaker.overflows == 1


def test_connection_limit_is_not_an_overflow() -> None:
    """Reaching maxConnections refuses a new connection but counts no overflow."""
    breaker = CircuitBreaker(pool(max_connections=2))
    assert breaker.may_open_connection(1)
    assert not breaker.may_open_connection(2)
    assert breaker.overflows == 0


def test_update_applies_new_limits_and_keeps_counts() -> None:
    """A new policy changes limits at once; in-flight and overflow counts survive."""
    breaker = CircuitBreaker(pool(max_requests=1))
    assert breaker.try_acquire_request()
    assert not breaker.try_acquire_request()
    breaker.update(pool(max_requests=3, max_connections=5))
    assert breaker.in_flight == 1 and breaker.overflows == 1
    assert breaker.try_acquire_request() and breaker.try_acquire_request()
    assert not breaker.try_acquire_request()
    assert breaker.max_connections == 5 and breaker.max_requests == 3
