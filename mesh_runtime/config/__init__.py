"""The mesh configuration: Istio-shaped policies and the versioned config pushed to sidecars."""

from mesh_runtime.config.mesh import Endpoint, MeshConfig, MeshSettings, ServiceEntry
from mesh_runtime.config.policy import (
    ConnectionPool,
    Fault,
    FaultAbort,
    FaultDelay,
    HTTPMatch,
    HTTPRoute,
    LoadBalancer,
    OutlierDetection,
    Retries,
    RetryBudget,
    RouteDestination,
    ServicePolicy,
    StringMatch,
    TrafficPolicy,
)

__all__ = [
    "ConnectionPool",
    "Endpoint",
    "Fault",
    "FaultAbort",
    "FaultDelay",
    "HTTPMatch",
    "HTTPRoute",
    "LoadBalancer",
    "MeshConfig",
    "MeshSettings",
    "OutlierDetection",
    "Retries",
    "RetryBudget",
    "RouteDestination",
    "ServiceEntry",
    "ServicePolicy",
    "StringMatch",
    "TrafficPolicy",
]
