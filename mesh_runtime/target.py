"""The target file: a mesh meshproof did not deploy, and how to reach each of its parts.

    name: staging-shop
    mesh: istio                        # the metric dialect and the fault adapters
    ingress: {url: https://shop.staging.example, host: shop.example, ca_file: ca.pem}
    prometheus: {url: http://prometheus:9090, matchers: {namespace: shop}}
    kubernetes: {context: staging, namespaces: [shop]}
    toxiproxy: {url: http://toxiproxy:8474, proxies: [{name: frontend--catalog, edge: frontend->catalog}]}
    traces: {listen: 0.0.0.0:4318}
    services: {frontend: {ingress: true, calls: [catalog]}, catalog: {}}

An experiment runs against it with `target: {external: targets/<name>.yaml}` or
`meshproof run EXPERIMENT --target FILE`; nothing is deployed or torn down
(`mesh_runtime.runtimes.external`). Every relative path is taken from the target file's
folder, and every file it names must exist when it is loaded. No secret is in the file:
only the paths of the files that hold them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from mesh_runtime.errors import TargetError
from mesh_runtime.otlp import forward_url
from mesh_runtime.topology import ServiceSpec, ShortName, Topology, ToxiproxySpec, parse_edge
from mesh_runtime.validation import NestedProblem, load_model

MeshKind = Literal["istio", "linkerd", "consul", "meshproof"]
MESH_KINDS: tuple[MeshKind, ...] = ("istio", "linkerd", "consul", "meshproof")

_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_LISTEN = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")
INGRESS_SERVICE = "ingress"
"""The one service of the call graph when the target file names none."""


class TargetModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = 0
    if port == 0:
        raise ValueError(f"{value!r}: the port must be a number from 1 to 65535")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError(f"{value!r}: a base URL takes no ?query or #fragment (paths are added)")
    return value.rstrip("/")


HttpUrlText = Annotated[str, AfterValidator(_http_url)]
"""An http:// or https:// URL, kept as text without its trailing '/'."""


class TlsAccess(TargetModel):
    """How to trust a server that speaks TLS (the URL is https://)."""

    ca_file: Path | None = None
    """PEM file of the CA(s) that signed the server's certificate; default: the system's."""
    insecure_skip_verify: bool = False
    """Accept any server certificate (a staging mesh with a self-signed one). Not with ca_file."""

    @model_validator(mode="after")
    def _one_way_to_trust(self) -> TlsAccess:
        if self.ca_file is not None and self.insecure_skip_verify:
            raise ValueError("give ca_file or insecure_skip_verify, not both")
        return self


class IngressAccess(TlsAccess):
    """Where the load enters the mesh."""

    url: HttpUrlText
    """The ingress gateway's URL (http:// or https://); request paths are appended to it."""
    host: str | None = None
    """The Host header every request carries (and the TLS server name), when the gateway
    routes by host and the URL's host is not that name."""
    headers: dict[str, str] = {}
    """Extra headers on every request (e.g. a tenant or routing header)."""
    client_cert: Path | None = None
    """PEM client certificate for a gateway that asks for one (mutual TLS)."""
    client_key: Path | None = None
    """Its PEM private key, unless the certificate file holds it too."""

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER.match(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            if name.lower() == "host":
                raise ValueError("give the Host header as ingress.host")
            if "\r" in text or "\n" in text:
                raise ValueError(f"{name}: a header value cannot hold a line break")
        return value

    @model_validator(mode="after")
    def _client_key(self) -> IngressAccess:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key needs client_cert")
        return self

    @property
    def tls(self) -> bool:
        return self.url.startswith("https://")

    @property
    def server_name(self) -> str:
        """The name the gateway is asked for (SNI and certificate check)."""
        if self.host:
            return urlsplit(f"//{self.host}").hostname or self.host
        return urlsplit(self.url).hostname or ""

    def request_headers(self) -> dict[str, str]:
        """The headers every load request carries besides its route's own."""
        headers = dict(self.headers)
        if self.host:
            headers["Host"] = self.host
        return headers


class PrometheusAccess(TlsAccess):
    """The Prometheus that scrapes the mesh's proxies."""

    url: HttpUrlText
    """Its base URL, e.g. http://prometheus.monitoring:9090 (the /api/v1 paths are added)."""
    bearer_token_file: Path | None = None
    """A file holding a bearer token sent as `Authorization: Bearer` (read when used)."""
    matchers: dict[str, str] = {}
    """Extra label matchers ANDed into every series selector, e.g. {namespace: shop}, so
    that only the mesh under test is counted."""

    @field_validator("matchers")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for label in value:
            if not _LABEL.match(label):
                raise ValueError(f"{label!r} is not a Prometheus label name")
        return value

    def selector(self) -> str:
        """The matchers as selector text without braces: `namespace="shop"` ('' for none)."""
        return ",".join(f"{k}={_quoted(v)}" for k, v in sorted(self.matchers.items()))

    def headers(self) -> dict[str, str]:
        """The request headers: the bearer token, read from its file now."""
        if self.bearer_token_file is None:
            return {}
        try:
            token = self.bearer_token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TargetError(
                str(self.bearer_token_file), "", f"cannot read the token: {exc.strerror}"
            ) from None
        return {"Authorization": f"Bearer {token}"}

    def verify(self) -> bool | str:
        """What `requests` takes as `verify=`: the CA file, or whether to check at all."""
        if self.ca_file is not None:
            return str(self.ca_file)
        return not self.insecure_skip_verify


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class KubernetesAccess(TargetModel):
    """The cluster the mesh runs in, for faults made through its API."""

    kubeconfig: Path | None = None
    """The kubeconfig file; default: $KUBECONFIG, else ~/.kube/config."""
    context: str | None = None
    """The kubeconfig context; default: its current context."""
    namespaces: list[str] = Field(min_length=1)
    """The only namespaces meshproof may ever read or change; a fault elsewhere is refused."""

    @field_validator("namespaces")
    @classmethod
    def _namespace_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", name):
                raise ValueError(f"{name!r} is not a Kubernetes namespace name")
        if len(set(value)) != len(value):
            raise ValueError("a namespace is listed twice")
        return value

    def allows(self, namespace: str) -> bool:
        return namespace in self.namespaces

    def kubeconfig_path(self, environ: dict[str, str] | None = None) -> Path:
        """The kubeconfig file to read: the one given, else $KUBECONFIG's first, else ~/.kube/config."""
        if self.kubeconfig is not None:
            return self.kubeconfig
        env = os.environ if environ is None else environ
        first = env.get("KUBECONFIG", "").split(os.pathsep)[0]
        return Path(first) if first else Path.home() / ".kube" / "config"


class ProxySpec(TargetModel):
    """One Toxiproxy proxy standing on an edge of the mesh."""

    name: str
    """The proxy's name on the Toxiproxy server."""
    edge: str
    """The edge it stands on, 'source->destination' as the mesh names the workloads."""
    instance: str | None = None
    """The one destination instance behind it (a fault target `source->instance`);
    none: the proxy carries the whole edge."""

    @field_validator("edge")
    @classmethod
    def _edge(cls, value: str) -> str:
        return parse_edge(value).name


class ToxiproxyAccess(TargetModel):
    """A Toxiproxy server someone placed on edges of the mesh (optional)."""

    url: HttpUrlText
    """Its API, e.g. http://toxiproxy:8474."""
    proxies: list[ProxySpec] = []
    """Which proxy stands on which edge; network faults act on these only."""

    @field_validator("proxies")
    @classmethod
    def _distinct(cls, value: list[ProxySpec]) -> list[ProxySpec]:
        names = [p.name for p in value]
        if len(set(names)) != len(names):
            raise ValueError("proxy names must be distinct")
        return value


class TracesSpec(TargetModel):
    """Where the mesh's collector exports spans to, over OTLP/HTTP."""

    listen: str
    """HOST:PORT the harness's OTLP receiver listens on during a run."""

    @field_validator("listen")
    @classmethod
    def _address(cls, value: str) -> str:
        match = _LISTEN.match(value)
        if not match or not 0 < int(match.group(2)) < 65536:
            raise ValueError(f"expected HOST:PORT, got {value!r}")
        return value

    forward: str | None = None
    """An OTLP/HTTP URL every span the run collects is also sent to (`run --otlp-forward`)."""

    @field_validator("forward")
    @classmethod
    def _forward(cls, value: str | None) -> str | None:
        return None if value is None else forward_url(value)

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class ServiceNode(TargetModel):
    """One workload of the call graph, as the mesh names it."""

    ingress: bool = False
    """The workload the ingress sends the load to (exactly one)."""
    calls: list[str] = []
    """The workloads it calls for every request, in order."""


class TargetFile(TargetModel):
    """A mesh meshproof did not deploy (see the module docstring)."""

    name: ShortName
    """A short lowercase name; the run's deployment is `external-<name>`."""
    mesh: MeshKind
    """Which mesh it is: the metric dialect queried and the fault adapters used."""
    ingress: IngressAccess
    prometheus: PrometheusAccess
    kubernetes: KubernetesAccess | None = None
    """None: no fault goes through the Kubernetes API."""
    toxiproxy: ToxiproxyAccess | None = None
    """None: no network fault (a Toxiproxy needs someone to place it on the mesh's edges)."""
    traces: TracesSpec | None = None
    """None: no spans are collected (trace completeness is NoData)."""
    services: dict[str, ServiceNode] | None = None
    """The call graph, for per-edge tables and trace completeness; optional."""

    @model_validator(mode="after")
    def _graph(self) -> TargetFile:
        if self.traces is not None and self.services is None:
            raise ValueError("traces: needs services (the call graph spans are checked against)")
        namespace = self.prometheus.matchers.get("namespace")
        if namespace is not None and self.kubernetes and not self.kubernetes.allows(namespace):
            raise NestedProblem(
                "prometheus.matchers.namespace",
                f"{namespace!r} is outside kubernetes.namespaces"
                f" ({', '.join(self.kubernetes.namespaces)})",
            )
        edges = {
            f"{name}->{callee}"
            for name, node in (self.services or {}).items()
            for callee in node.calls
        }
        for index, proxy in enumerate(self.toxiproxy.proxies if self.toxiproxy else []):
            if self.services is not None and proxy.edge not in edges:
                raise NestedProblem(
                    f"toxiproxy.proxies[{index}].edge", f"{proxy.edge} is not an edge of services"
                )
        self.topology()  # the call graph's own rules, as a topology's
        return self

    def topology(self) -> Topology:
        """The call graph as a topology (one instance a service), for the analysis."""
        nodes = self.services or {INGRESS_SERVICE: ServiceNode(ingress=True)}
        services = {
            name: ServiceSpec(ingress=node.ingress, calls=list(node.calls))
            for name, node in nodes.items()
        }
        proxied = sorted({p.edge for p in self.toxiproxy.proxies}) if self.toxiproxy else []
        if self.services is None:
            proxied = []
        return Topology(
            name=self.name,
            description=f"external {self.mesh} mesh",
            services=services,
            toxiproxy=ToxiproxySpec(edges=proxied),
        )

    def files(self) -> list[tuple[str, Path]]:
        """Every file the target names, with its field path."""
        named: list[tuple[str, Path | None]] = [
            ("ingress.ca_file", self.ingress.ca_file),
            ("ingress.client_cert", self.ingress.client_cert),
            ("ingress.client_key", self.ingress.client_key),
            ("prometheus.ca_file", self.prometheus.ca_file),
            ("prometheus.bearer_token_file", self.prometheus.bearer_token_file),
            ("kubernetes.kubeconfig", self.kubernetes.kubeconfig if self.kubernetes else None),
        ]
        return [(field, path) for field, path in named if path is not None]


def _resolve(data: Any, folder: Path) -> Any:
    """`data` with every path field made absolute against `folder`."""
    if isinstance(data, BaseModel):
        update = {}
        for name in type(data).model_fields:
            value = getattr(data, name)
            if isinstance(value, Path) and not value.is_absolute():
                update[name] = (folder / value.expanduser()).resolve()
            elif isinstance(value, BaseModel):
                update[name] = _resolve(value, folder)
        return data.model_copy(update=update) if update else data
    return data


def load_target(path: str | Path) -> TargetFile:
    """Read and validate a target file; a problem (a missing file it names too) is one
    TargetError line."""
    target = load_model(path, TargetFile, TargetError, _not_a_target)
    target = _resolve(target, Path(path).resolve().parent)
    for field, file in target.files():
        if not file.is_file():
            raise TargetError(str(path), field, f"no such file: {file}")
    return target


def _not_a_target(data: dict[str, Any]) -> str | None:
    """An experiment or topology file given where a target file belongs."""
    if "title" in data or "load" in data:
        return "this is an experiment file; a target file names a mesh, its ingress and Prometheus"
    if "services" in data and "ingress" not in data and not isinstance(data.get("mesh"), str):
        # a topology's `mesh:` is a mapping (trust domain, mTLS mode), a target's a name
        return (
            "this is a topology file (`meshproof up` takes it); a target file names a"
            " mesh, its ingress and Prometheus"
        )
    return None


def is_target_file(path: str | Path) -> bool:
    """Whether `path` reads as a target file (a mapping naming a mesh and its ingress); a
    file that cannot be read or parsed is not one."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "mesh" in data and "ingress" in data
