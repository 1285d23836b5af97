"""The versioned mesh configuration the control plane pushes to every sidecar."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from mesh_runtime.config.policy import ServicePolicy


class MeshModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeshSettings(MeshModel):
    trustDomain: str = "meshproof.local"
    mtls: Literal["DISABLE", "PERMISSIVE", "STRICT"] = "DISABLE"
    """Istio's PeerAuthentication mode for the whole mesh."""


class Endpoint(MeshModel):
    instance: str
    """Instance name, e.g. 'catalog-1'."""
    version: str
    address: str
    """host:port of the instance's sidecar inbound listener."""
    via: dict[str, str] = {}
    """Source service -> host:port of the Toxiproxy proxy on that edge for this endpoint."""

    def address_for(self, source: str) -> str:
        """Where a sidecar of `source` should connect to reach this endpoint."""
        return self.via.get(source, self.address)


class ServiceEntry(MeshModel):
    name: str
    endpoints: list[Endpoint] = []
    policy: ServicePolicy = ServicePolicy()


class MeshConfig(MeshModel):
    version: int = 0
    mesh: MeshSettings = MeshSettings()
    services: dict[str, ServiceEntry] = {}
