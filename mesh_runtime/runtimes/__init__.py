"""Ways to run the mesh: `LocalRuntime` (processes on 127.0.0.1), later docker.

Every runtime follows `Runtime` and hands back a `Deployment`, which is also its state file.
"""

from mesh_runtime.runtimes.base import Runtime
from mesh_runtime.runtimes.deployment import (
    Deployment,
    InstanceRecord,
    ProcessRecord,
    ProxyRecord,
)
from mesh_runtime.runtimes.local import LocalRuntime
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient

__all__ = [
    "Deployment",
    "InstanceRecord",
    "LocalRuntime",
    "ProcessRecord",
    "ProxyRecord",
    "Runtime",
    "ToxiproxyClient",
]
