"""The sidecar's pure decisions: balancing, routing, faults, retries, breaking, ejection.

Every decision here is fed values, an injected `random.Random` and a clock reading;
none touches a socket, a file or the event loop, so all are tested without I/O.
"""

from mesh_runtime.sidecar.policy.balancer import Balancer, make_balancer
from mesh_runtime.sidecar.policy.faults import NO_FAULT, FaultDecision, decide_fault
from mesh_runtime.sidecar.policy.routing import (
    RouteTable,
    choose_subset,
    endpoints_for,
    match_route,
)

__all__ = [
    "NO_FAULT",
    "Balancer",
    "FaultDecision",
    "RouteTable",
    "choose_subset",
    "decide_fault",
    "endpoints_for",
    "make_balancer",
    "match_route",
]
