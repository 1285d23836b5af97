"""A docker compose file of the deployment the docker runtime makes. Pure.

`compose_files(cplan, ...)` turns the same ContainerPlan the runtime starts into a compose
project: one service per container (pods included; an app and its sidecar join their pod
with `network_mode: service:<pod>`), the same images, commands and published ports (on
127.0.0.1), the mesh on a network of its own, plus what the runtime runs on the host or
creates through an API:

- `prometheus` (the `prom/prometheus` image) scraping every sidecar's admin port on the
  mesh network;
- `otel-collector` (`otel/opentelemetry-collector-contrib`): the mesh sends its spans
  there (OTLP/HTTP); it forwards them to meshproof's trace sink, whose spans.jsonl a run
  reads, and prints them (debug exporter); add the team's own backend to its exporters;
- `jaeger` (`jaegertracing/jaeger`, in-memory storage; UI and query API on
  127.0.0.1:16686): the trace sink forwards every span it receives there
  (`--forward`, as `meshproof run --otlp-forward` does), the user's own tracing backend
  as it would be;
- Toxiproxy's proxies from a `-config` file instead of its API.

The deployment's files (mesh config, Toxiproxy proxies, Prometheus and collector configs,
and the secrets: control plane token, sidecar admin token, the CA's bootstrap secret, each
sidecar's credential) are written beside the compose file in `<topology>/`. Each
container mounts only its own of them (`mounts.mounts_of`, as the runtime does), under
`WORK_DIR`, where the plan's commands expect them: a sidecar its service's credential and
the admin token, the control plane its config, token, `ca/` and `control-plane/`, the
trace sink `spans.jsonl` (written empty), Toxiproxy its proxies. A render keeps one
secret, the control token; the others derive from it (`compose_secrets`), so a render
with the kept token writes the same files again.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mesh_runtime.runtimes.docker.images import stable_tag
from mesh_runtime.runtimes.docker.specs import (
    ContainerPlan,
    ContainerSpec,
    container_plan,
    container_tools,
    port_owners,
    translate,
)
from mesh_runtime.runtimes.plan import PlanFiles, make_plan
from mesh_runtime.runtimes.prometheus import scrape_config
from mesh_runtime.runtimes.workdir import DeploymentSecrets, secret_files
from mesh_runtime.topology import MeshMode, Topology

FIRST_PORT = 20000
"""A render's first port number (the default of --first-port)."""
WORK_DIR = Path("/meshproof/work")
"""Where the deployment's files are in every container (the plan's work dir)."""
NETWORK = "mesh"
PROMETHEUS_IMAGE = "prom/prometheus:v2.53.0"
COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib:0.104.0"
COLLECTOR_OTLP_PORT = 4318
JAEGER_IMAGE = "jaegertracing/jaeger:2.12.0"
"""The image of Jaeger's release v2.12.0, the same release as its Go module v1.75.0 that
`make setup` builds for the tests."""
JAEGER_UI_PORT = 16686
JAEGER_OTLP = "http://jaeger:4318/v1/traces"
PROMETHEUS_PORT = 9090
TOXIPROXY_CONFIG = "toxiproxy.json"
COLLECTOR_CONFIG = "otel-collector.yaml"


def render_plan(
    topology: Topology, topology_file: str, mode: MeshMode, first_port: int = FIRST_PORT
) -> ContainerPlan:
    """The ContainerPlan a render writes: ports numbered from `first_port` (so a render is
    reproducible), every path under WORK_DIR, as the images hold the executables."""
    ports = itertools.count(first_port)
    plan = make_plan(
        topology,
        topology_file=topology_file,
        mode=mode,
        allocate_port=lambda: next(ports),
        work_dir=WORK_DIR,
        tools=container_tools("prometheus"),
    )
    return container_plan(plan)


def compose_files(cplan: ContainerPlan, token: str) -> dict[str, str]:
    """Relative path -> text: `<topology>.compose.yaml` and the files in `<topology>/`."""
    name = cplan.plan.topology.name
    owners = port_owners(cplan.plan)
    files = {
        f"{name}/mesh-config.json": cplan.mesh_config.model_dump_json(indent=2) + "\n",
        **_secret_files(cplan, name, compose_secrets(token)),
        f"{name}/{TOXIPROXY_CONFIG}": json.dumps(toxiproxy_proxies(cplan), indent=2) + "\n",
        f"{name}/prometheus.yml": _yaml(_prometheus_config(cplan, owners)),
        f"{name}/{COLLECTOR_CONFIG}": _yaml(_collector_config(cplan)),
        **_writable_files(cplan, name),
    }
    files[f"{name}.compose.yaml"] = _header(name) + _yaml(compose_document(cplan))
    return files


def compose_secrets(token: str) -> DeploymentSecrets:
    """A render's secrets: its control token, and the others derived from it."""

    def derived(label: str) -> str:
        return hmac.new(token.encode(), label.encode(), hashlib.sha256).hexdigest()

    return DeploymentSecrets(token, derived("admin-token"), derived("bootstrap-secret"))


def is_secret(relative: str) -> bool:
    """True for the files of `compose_files` that must be owner-only."""
    parts = Path(relative).parts[1:]
    return parts[:1] in (("control-token",), ("admin-token",), ("credentials",), ("ca",))


def _secret_files(cplan: ContainerPlan, name: str, keys: DeploymentSecrets) -> dict[str, str]:
    texts = secret_files(PlanFiles(WORK_DIR), cplan.plan.instances, keys)
    return {f"{name}/{path.relative_to(WORK_DIR)}": text + "\n" for path, text in texts.items()}


def _writable_files(cplan: ContainerPlan, name: str) -> dict[str, str]:
    """An empty file for each writable file mount (the trace sink's spans): compose would
    bind a new empty folder where the file is missing. Writable folders it makes itself."""
    paths = {m.path for s in cplan.containers for m in s.mounts if m.writable and not m.directory}
    work_dir = cplan.plan.work_dir
    return {f"{name}/{path.relative_to(work_dir)}": "" for path in sorted(paths)}


def compose_document(cplan: ContainerPlan) -> dict[str, Any]:
    """The compose document (a dict, as YAML would load it)."""
    name = cplan.plan.topology.name
    services: dict[str, Any] = {}
    started: list[str] = []
    for stage in cplan.stages:
        for spec in stage:
            services[spec.name] = _service(cplan, spec, name, started)
        started += [spec.name for spec in stage]
    services["prometheus"] = {
        "image": PROMETHEUS_IMAGE,
        "command": ["--config.file=/etc/prometheus/prometheus.yml", "--web.enable-lifecycle"],
        "volumes": [f"./{name}/prometheus.yml:/etc/prometheus/prometheus.yml:ro"],
        "ports": [f"127.0.0.1:{PROMETHEUS_PORT}:{PROMETHEUS_PORT}"],
        "networks": [NETWORK],
        "depends_on": [s.name for s in cplan.containers if s.role == "pod"],
    }
    services["jaeger"] = {
        "image": JAEGER_IMAGE,
        "ports": [f"127.0.0.1:{JAEGER_UI_PORT}:{JAEGER_UI_PORT}"],
        "networks": [NETWORK],
    }
    services["otel-collector"] = {
        "image": COLLECTOR_IMAGE,
        "command": [f"--config=/etc/otelcol/{COLLECTOR_CONFIG}"],
        "volumes": [f"./{name}/{COLLECTOR_CONFIG}:/etc/otelcol/{COLLECTOR_CONFIG}:ro"],
        "networks": [NETWORK],
        "depends_on": ["trace-sink"],
    }
    return {
        "name": f"meshproof-{name}",
        "services": services,
        "networks": {NETWORK: {"driver": "bridge", "labels": {"meshproof.topology": name}}},
    }


def collector_endpoint() -> str:
    return f"http://otel-collector:{COLLECTOR_OTLP_PORT}/v1/traces"


def _service(
    cplan: ContainerPlan, spec: ContainerSpec, topology: str, started: list[str]
) -> dict[str, Any]:
    service: dict[str, Any] = {
        "image": stable_tag(spec.image),
        "command": list(_command(cplan, spec)),
        "labels": {"meshproof.part": spec.name, "meshproof.role": spec.role},
    }
    if spec.env:
        service["environment"] = dict(spec.env)
    volumes = _volumes(spec, topology, cplan.plan.work_dir)
    if volumes:
        service["volumes"] = volumes
    if spec.pod is not None:
        service["network_mode"] = f"service:{spec.pod}"
        service["depends_on"] = [spec.pod, *(n for n in started if n != spec.pod)]
    else:
        service["networks"] = {NETWORK: {"aliases": [spec.alias]}} if spec.alias else [NETWORK]
        if spec.role != "pod" and started:
            service["depends_on"] = list(started)
    if spec.publish:
        service["ports"] = [f"127.0.0.1:{port}:{port}" for port in spec.publish]
    return service


def _volumes(spec: ContainerSpec, topology: str, work_dir: Path) -> list[str]:
    """The container's own files of `<topology>/` (its mounts; Toxiproxy its config)."""
    volumes = [
        f"./{topology}/{m.path.relative_to(work_dir)}:{m.path}" + ("" if m.writable else ":ro")
        for m in spec.mounts
    ]
    if spec.role == "toxiproxy":
        volumes.append(f"./{topology}/{TOXIPROXY_CONFIG}:{WORK_DIR / TOXIPROXY_CONFIG}:ro")
    return volumes


def _command(cplan: ContainerPlan, spec: ContainerSpec) -> tuple[str, ...]:
    """The runtime's command, spans to the collector, Toxiproxy's proxies from a file."""
    sink = cplan.plan.otlp_endpoint
    command = tuple(
        arg.replace(_in_network(cplan, sink), collector_endpoint()) for arg in spec.command
    )
    if spec.role == "toxiproxy":
        command = (*command, "-config", str(WORK_DIR / TOXIPROXY_CONFIG))
    if spec.role == "trace-sink":
        command = (*command, "--forward", JAEGER_OTLP)
    return command


def _in_network(cplan: ContainerPlan, url: str) -> str:
    return translate(url, port_owners(cplan.plan), None)


def toxiproxy_proxies(cplan: ContainerPlan) -> list[dict[str, Any]]:
    """Toxiproxy's `-config` file: every proxy of the plan, enabled."""
    return [
        {"name": p.name, "listen": p.listen, "upstream": p.upstream, "enabled": True}
        for p in cplan.proxies
    ]


def _prometheus_config(cplan: ContainerPlan, owners: Mapping[int, str]) -> dict[str, Any]:
    config = scrape_config(cplan.plan.instances)
    for job in config["scrape_configs"]:
        for group in job["static_configs"]:
            group["targets"] = [translate(t, owners, None) for t in group["targets"]]
    return config


def _collector_config(cplan: ContainerPlan) -> dict[str, Any]:
    sink = _in_network(cplan, cplan.plan.otlp_endpoint).removesuffix("/v1/traces")
    return {
        "receivers": {
            "otlp": {"protocols": {"http": {"endpoint": f"0.0.0.0:{COLLECTOR_OTLP_PORT}"}}}
        },
        "processors": {"batch": {}},
        "exporters": {
            "otlphttp/meshproof": {"endpoint": sink, "compression": "none"},
            "debug": {"verbosity": "basic"},
        },
        "service": {
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["otlphttp/meshproof", "debug"],
                }
            }
        },
    }


def _header(topology: str) -> str:
    return (
        f"# The {topology} mesh as `meshproof up --runtime docker` deploys it; written by\n"
        f"# `meshproof compose render`. Needs the images `meshproof images build` makes\n"
        "# (meshproof/mesh, meshproof/toxiproxy); prom/prometheus and the OpenTelemetry\n"
        "# Collector must be pulled or provided where the engine cannot reach a registry.\n"
        "# See compose/README.md.\n"
    )


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
