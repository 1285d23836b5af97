"""The harness uses meshproof's one exception tree (see mesh_runtime.errors)."""

from mesh_runtime.errors import (
    ControlPlaneError,
    DeployError,
    ExperimentError,
    FaultError,
    InvalidInput,
    MeshproofError,
    ReadinessTimeout,
    RunError,
    ToolNotFound,
    TopologyError,
)

__all__ = [
    "ControlPlaneError",
    "DeployError",
    "ExperimentError",
    "FaultError",
    "InvalidInput",
    "MeshproofError",
    "ReadinessTimeout",
    "RunError",
    "ToolNotFound",
    "TopologyError",
]
