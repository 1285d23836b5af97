"""The sample shop application: gateway -> frontend -> catalog, cart -> inventory.

Each instance is `python -m mesh_runtime.services`; it applies a behaviour (latency,
errors, hang, body size, trace propagation) and calls the services the topology says.
It is the application a mesh is put in front of: of the mesh it imports only the
sidecar's raw HTTP/1.1 stack (`http_serve`, `http_pool`), so that an app hop costs no
more CPU than a sidecar hop.
"""

from mesh_runtime.services.behaviour import (
    Behaviour,
    BehaviourError,
    Latency,
    RoundRobin,
    padded_body,
    sample_latency_ms,
    should_fail,
    updated,
)

__all__ = [
    "Behaviour",
    "BehaviourError",
    "Latency",
    "RoundRobin",
    "padded_body",
    "sample_latency_ms",
    "should_fail",
    "updated",
]
