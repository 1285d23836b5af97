"""The control plane: holds the versioned MeshConfig and serves it to sidecars by long poll.

`build_mesh_config` turns a topology and its allocated addresses into the first config;
`ConfigStore` is the pure state; `server` is the aiohttp API; `ControlPlaneClient` is the
synchronous client the harness and the runtimes use.
"""

from mesh_runtime.control.build import build_mesh_config
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.control.store import ConfigStore, SidecarReport, UnknownService, merge_patch

__all__ = [
    "ConfigStore",
    "ControlPlaneClient",
    "SidecarReport",
    "UnknownService",
    "build_mesh_config",
    "merge_patch",
]
