"""Retries with Envoy's semantics: which results are retried, the backoff, the budget.

retryOn conditions (Envoy's `x-envoy-retry-on` values, as Istio passes them through):
- `5xx`: any 5xx answer, or no answer at all (connect failure, reset, per-try timeout);
- `gateway-error`: 502, 503, 504, or no answer at all (Envoy counts an upstream reset,
  a connect failure and a per-try timeout as a gateway error: each becomes a 503/504);
- `reset`: no answer at all (disconnect, reset, connect failure, per-try timeout);
- `connect-failure`: the connection could not be opened;
- `retriable-status-codes`: an answer whose status is in `retriableStatusCodes`;
- gRPC (Istio's names): `cancelled`, `deadline-exceeded`, `internal`,
  `resource-exhausted`, `unavailable`: a trailers-only answer with that `grpc-status`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from mesh_runtime.sidecar.grpc import RETRY_ON_GRPC
from mesh_runtime.sidecar.meshconfig import Retries
from mesh_runtime.sidecar.meshconfig import RetryBudget as RetryBudgetPolicy

AttemptError = Literal["connect-failure", "reset", "timeout"]

_GATEWAY_ERRORS = frozenset({502, 503, 504})
_MAX_EXPONENT = 30


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """The outcome of one try: an HTTP status, or an error with no answer (status None)."""

    status: int | None
    error: AttemptError | None = None
    grpc_status: int | None = None
    """The `grpc-status` of a trailers-only gRPC answer (None: not gRPC, or not yet known)."""

    @property
    def ok(self) -> bool:
        """An answer below 500: neither retried by 5xx nor counted by outlier detection."""
        return self.error is None and self.status is not None and self.status < 500


def is_retriable(retries: Retries, result: AttemptResult) -> bool:
    """Whether this try's result may be retried under `retries.retryOn`."""
    status = result.status
    if result.grpc_status and _by_grpc_status(retries, result.grpc_status):
        return True
    if result.error is None and status is not None and status < 500:
        # The common case decides without parsing retryOn.
        return bool(retries.retriableStatusCodes) and _by_status_code(retries, status)
    conditions = retries.conditions
    if status is None or result.error is not None:
        # No answer at all; a result with neither status nor error counts as a reset.
        if conditions & {"5xx", "gateway-error", "reset"}:
            return True
        return result.error == "connect-failure" and "connect-failure" in conditions
    if "5xx" in conditions:
        return True
    if "gateway-error" in conditions and status in _GATEWAY_ERRORS:
        return True
    return _by_status_code(retries, status)


def _by_grpc_status(retries: Retries, grpc_status: int) -> bool:
    return any(RETRY_ON_GRPC.get(name) == grpc_status for name in retries.conditions)


def _by_status_code(retries: Retries, status: int) -> bool:
    return status in retries.retriableStatusCodes and "retriable-status-codes" in retries.conditions


def backoff_delay(retries: Retries, retry_number: int, rng: random.Random) -> float:
    """Seconds to wait before retry number `retry_number` (1 for the first retry).

    Envoy's jittered exponential backoff: uniform in [0, (2**n - 1) * base), the result
    capped at backoffMaxInterval. The first retry waits up to base, the second up to
    3 x base, the third up to 7 x base.
    """
    exponent = min(max(retry_number, 1), _MAX_EXPONENT)
    ceiling = ((1 << exponent) - 1) * retries.backoffBaseInterval
    return min(rng.random() * ceiling, retries.backoffMaxInterval)


class RetryBudget:
    """Envoy's retry budget for one upstream cluster.

    A retry may start while retries in flight stay below
    max(minRetryConcurrency, budgetPercent % of the active requests), so that in an
    outage retries cannot multiply the load on the upstream.
    """

    __slots__ = ("_fraction", "_in_flight", "_min_concurrency")

    def __init__(self, policy: RetryBudgetPolicy) -> None:
        self._fraction = policy.budgetPercent / 100.0
        self._min_concurrency = policy.minRetryConcurrency
        self._in_flight = 0

    def update(self, policy: RetryBudgetPolicy) -> None:
        """Apply a new policy; retries in flight are kept."""
        self._fraction = policy.budgetPercent / 100.0
        self._min_concurrency = policy.minRetryConcurrency

    def limit(self, active_requests: int) -> float:
        """How many retries may be in flight with `active_requests` active."""
        return max(float(self._min_concurrency), self._fraction * active_requests)

    def try_acquire(self, active_requests: int) -> bool:
        """Take a retry slot; False means the budget is spent (Envoy's retry overflow)."""
        if self._in_flight < self.limit(active_requests):
            self._in_flight += 1
            return True
        return False

    def release(self) -> None:
        """Give back a slot taken by try_acquire when that retry ends."""
        if self._in_flight > 0:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        return self._in_flight
