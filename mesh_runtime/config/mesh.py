"""The versioned mesh configuration the control plane pushes to every sidecar."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from mesh_runtime.config.policy import ServicePolicy

Protocol = Literal["http", "grpc", "tcp"]
"""What a service speaks (the topology's `protocol`): HTTP/1.1 (and HTTP/2), gRPC, or raw
TCP (its sidecars proxy connections at L4: connection-level balancing, no L7 policy)."""

PROTOCOLS: tuple[Protocol, ...] = ("http", "grpc", "tcp")


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
    protocol: Protocol = "http"
    """The topology's `protocol` of the service: a `tcp` service's sidecars proxy its
    connections at L4 (mesh_runtime.sidecar.tcp_proxy)."""
    endpoints: list[Endpoint] = []
    policy: ServicePolicy = ServicePolicy()
    egress: list[str] | None = None
    """The services this service's sidecars send to (Istio's `Sidecar` egress hosts): the
    control plane gives those sidecars only these entries and their own
    (mesh_runtime.config.scope). None: every service, as Istio without a `Sidecar`."""


class MeshConfig(MeshModel):
    version: int = 0
    mesh: MeshSettings = MeshSettings()
    services: dict[str, ServiceEntry] = {}

    @field_validator("services")
    @classmethod
    def _keyed_by_name(cls, services: dict[str, ServiceEntry]) -> dict[str, ServiceEntry]:
        """A service's key is its name: a sidecar routes by the key (the Host it is called
        by) and names the service in metrics, spans and SPIFFE IDs by `name`."""
        for key, entry in services.items():
            if entry.name != key:
                raise ValueError(
                    f"the entry under {key!r} is named {entry.name!r}: they must match"
                )
        return services
