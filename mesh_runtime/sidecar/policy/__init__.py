"""The sidecar's pure decisions: balancing, routing, faults, retries, breaking, ejection.

Every decision here is fed values, an injected `random.Random` and a clock reading;
none touches a socket, a file or the event loop, so all are tested without I/O.
"""

from mesh_runtime.sidecar.policy.balancer import Balancer, make_balancer

__all__ = [
    "Balancer",
    "make_balancer",
]
