"""The topology file: services, versions, replicas, call graph, Toxiproxy edges, policies."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from mesh_runtime.config.mesh import PROTOCOLS, MeshSettings, Protocol
from mesh_runtime.config.policy import ServicePolicy
from mesh_runtime.errors import TopologyError
from mesh_runtime.validation import load_model

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def short_name(value: str) -> str:
    """A lowercase name of letters, digits and '-' (a topology's, a target's)."""
    if not _NAME.match(value):
        raise ValueError("expected a lowercase name of letters, digits and '-'")
    return value


ShortName = Annotated[str, AfterValidator(short_name)]


class TopologyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VersionSpec(TopologyModel):
    name: str = "v1"
    replicas: int = Field(1, ge=0, le=20)


class ServiceSpec(TopologyModel):
    protocol: Protocol = "http"
    """What the service's instances speak (Istio's port protocol): `http` (the default),
    `grpc` or `tcp`."""
    ingress: bool = False
    """The service the load enters through (exactly one per topology)."""
    calls: list[str] = []
    """Services this one calls, in order, for every request it serves."""
    replicas: int | None = Field(None, ge=0, le=20)
    """Shorthand for versions: [{name: v1, replicas: N}]."""
    versions: list[VersionSpec] = []
    policy: ServicePolicy = ServicePolicy()

    @field_validator("protocol", mode="before")
    @classmethod
    def _known_protocol(cls, value: object) -> object:
        if value not in PROTOCOLS:
            raise ValueError(
                f"unknown protocol {value!r} (expected one of: {', '.join(PROTOCOLS)})"
            )
        return value

    @model_validator(mode="after")
    def _tcp(self) -> ServiceSpec:
        if self.protocol == "tcp" and self.ingress:
            raise ValueError("a tcp service cannot be the ingress (the load enters over HTTP)")
        if self.protocol == "tcp" and self.calls:
            raise ValueError("a tcp service makes no calls (its sidecars only proxy bytes)")
        return self

    @model_validator(mode="after")
    def _versions(self) -> ServiceSpec:
        if self.replicas is not None and self.versions:
            raise ValueError("give either replicas or versions, not both")
        if not self.versions:
            replicas = 1 if self.replicas is None else self.replicas
            object.__setattr__(self, "versions", [VersionSpec(name="v1", replicas=replicas)])
        names = [v.name for v in self.versions]
        if len(set(names)) != len(names):
            raise ValueError("version names must be distinct")
        return self


class ToxiproxySpec(TopologyModel):
    edges: list[str] = []
    """Edges 'source->destination' whose traffic goes through Toxiproxy, one proxy per
    destination endpoint, so that a single replica can be faulted."""


class MetricsSpec(TopologyModel):
    dialect: Literal["istio", "linkerd", "envoy"] = "istio"
    """The names and labels of every sidecar's /metrics (`--metrics-dialect`): Istio's
    (the default), Linkerd's, or Envoy's as Consul's sidecars export them; the mesh's
    own `meshproof_*` counters are in every dialect. The harness reads the reference
    mesh in Istio's names (its `meshproof` dialect): the others are for testing the
    `linkerd` and `consul` dialects against live data."""


class Edge(TopologyModel):
    source: str
    destination: str

    @property
    def name(self) -> str:
        return f"{self.source}->{self.destination}"


class Instance(TopologyModel):
    service: str
    version: str
    index: int
    """0-based index among all instances of the service."""

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"


class Topology(TopologyModel):
    name: ShortName
    description: str = ""
    mesh: MeshSettings = MeshSettings()
    services: dict[str, ServiceSpec]
    toxiproxy: ToxiproxySpec = ToxiproxySpec()
    metrics: MetricsSpec = MetricsSpec()

    @model_validator(mode="after")
    def _graph(self) -> Topology:
        if not self.services:
            raise ValueError("services: at least one service is needed")
        for name, spec in self.services.items():
            if not _NAME.match(name):
                raise ValueError(
                    f"services.{name}: expected a lowercase name of letters, digits and '-'"
                )
            for callee in spec.calls:
                if callee not in self.services:
                    raise ValueError(f"services.{name}.calls: unknown service {callee!r}")
                if callee == name:
                    raise ValueError(f"services.{name}.calls: a service cannot call itself")
        ingress = [n for n, s in self.services.items() if s.ingress]
        if len(ingress) != 1:
            raise ValueError(f"exactly one service must have ingress: true (found {len(ingress)})")
        self._check_acyclic()
        for text in self.toxiproxy.edges:
            edge = parse_edge(text)
            if edge.source not in self.services or edge.destination not in self.services:
                raise ValueError(f"toxiproxy.edges: {text!r} names an unknown service")
            if edge.destination not in self.services[edge.source].calls:
                raise ValueError(f"toxiproxy.edges: {edge.source} does not call {edge.destination}")
        return self

    def _check_acyclic(self) -> None:
        state: dict[str, int] = {}

        def visit(node: str, trail: list[str]) -> None:
            if state.get(node) == 1:
                raise ValueError("services: calls form a cycle: " + " -> ".join([*trail, node]))
            if state.get(node) == 2:
                return
            state[node] = 1
            for callee in self.services[node].calls:
                visit(callee, [*trail, node])
            state[node] = 2

        for name in self.services:
            visit(name, [])

    @property
    def ingress(self) -> str:
        return next(n for n, s in self.services.items() if s.ingress)

    def protocol(self, service: str) -> Protocol:
        """What `service` speaks ('http' for a name the topology does not have)."""
        spec = self.services.get(service)
        return spec.protocol if spec else "http"

    def call_graph(self) -> dict[str, list[str]]:
        """Service -> the services it calls for every request."""
        return {name: list(spec.calls) for name, spec in self.services.items()}

    def traced_call_graph(self) -> dict[str, list[str]]:
        """The call graph without calls to tcp services: a raw TCP connection carries no
        trace context, so no span of the callee (or of the proxying sidecars) joins the
        request's trace. Trace completeness expects spans along this graph."""
        tcp = {name for name, spec in self.services.items() if spec.protocol == "tcp"}
        return {
            name: [callee for callee in spec.calls if callee not in tcp]
            for name, spec in self.services.items()
            if name not in tcp
        }

    def edges(self) -> list[Edge]:
        return [Edge(source=n, destination=c) for n, s in self.services.items() for c in s.calls]

    def proxied_edges(self) -> list[Edge]:
        return [parse_edge(text) for text in self.toxiproxy.edges]

    def instances(self) -> list[Instance]:
        """Every instance, in a stable order: services as written, versions as written."""
        out: list[Instance] = []
        for name, spec in self.services.items():
            index = 0
            for version in spec.versions:
                for _ in range(version.replicas):
                    out.append(Instance(service=name, version=version.name, index=index))
                    index += 1
        return out


def parse_edge(text: str) -> Edge:
    source, sep, destination = text.partition("->")
    if not sep or not source.strip() or not destination.strip():
        raise ValueError(f"expected an edge like 'frontend->catalog', got {text!r}")
    return Edge(source=source.strip(), destination=destination.strip())


MeshMode = Literal["mesh", "no-mesh"]


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology file; a problem is one TopologyError line."""
    return load_model(path, Topology, TopologyError, _not_a_topology)


def _not_a_topology(data: dict[str, Any]) -> str | None:
    """An experiment file given where a topology file belongs."""
    if "services" not in data and ("target" in data or "title" in data):
        return (
            "this is an experiment file; `up` takes a topology file"
            " (`meshproof run` takes an experiment)"
        )
    if "mesh" in data and "ingress" in data and "prometheus" in data:
        return (
            "this is a target file (a mesh meshproof did not deploy); `meshproof run EXPERIMENT"
            " --target FILE` and `meshproof target check FILE` take it"
        )
    return None
