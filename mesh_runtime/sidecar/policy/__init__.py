"""The sidecar's pure decisions: balancing, routing, faults, retries, breaking, ejection.

Every decision here is fed values, an injected `random.Random` and a clock reading;
none touches a socket, a file or the event loop, so all are tested without I/O.
"""

from mesh_runtime.sidecar.policy.balancer import Balancer, make_balancer
from mesh_runtime.sidecar.policy.breaker import CircuitBreaker
from mesh_runtime.sidecar.policy.faults import NO_FAULT, FaultDecision, decide_fault
from mesh_runtime.sidecar.policy.outlier import OutlierDetector
from mesh_runtime.sidecar.policy.retry import (
    AttemptError,
    AttemptResult,
    RetryBudget,
    backoff_delay,
    is_retriable,
)
from mesh_runtime.sidecar.policy.routing import (
    RouteTable,
    choose_subset,
    endpoints_for,
    match_route,
)
from mesh_runtime.sidecar.policy.timeouts import body_deadline, per_try_timeout

__all__ = [
    "NO_FAULT",
    "AttemptError",
    "AttemptResult",
    "Balancer",
    "CircuitBreaker",
    "FaultDecision",
    "OutlierDetector",
    "RetryBudget",
    "RouteTable",
    "backoff_delay",
    "body_deadline",
    "choose_subset",
    "decide_fault",
    "endpoints_for",
    "is_retriable",
    "make_balancer",
    "match_route",
    "per_try_timeout",
]
