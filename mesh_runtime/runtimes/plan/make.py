"""`make_plan`: the whole plan of a topology, in start order (two stages, see
`make_plan`). Pure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mesh_runtime.runtimes.deployment import InstanceRecord, KubernetesSource
from mesh_runtime.runtimes.plan.addresses import (
    grpc_ingress,
    ingress_url,
    initial_mesh_config,
    instance_records,
    otlp_url,
    proxy_records,
    tcp_ingress,
)
from mesh_runtime.runtimes.plan.commands import (
    control_plane_process,
    prometheus_process,
    service_process,
    sidecar_process,
    toxiproxy_process,
    trace_sink_process,
)
from mesh_runtime.runtimes.plan.files import PlanFiles
from mesh_runtime.runtimes.plan.spec import HOST, Plan, ProcessSpec, Tools
from mesh_runtime.topology import MeshMode, Topology


def service_levels(topology: Topology) -> list[list[str]]:
    """Services grouped by height in the call graph: leaves first, the ingress last."""
    graph = topology.call_graph()
    heights: dict[str, int] = {}

    def height(name: str) -> int:
        if name not in heights:
            heights[name] = 1 + max((height(c) for c in graph[name]), default=-1)
        return heights[name]

    for name in graph:
        height(name)
    top = max(heights.values(), default=-1)
    return [[n for n in graph if heights[n] == level] for level in range(top + 1)]


def make_plan(
    topology: Topology,
    *,
    topology_file: str,
    mode: MeshMode,
    allocate_port: Callable[[], int],
    work_dir: Path,
    tools: Tools,
    otlp_endpoint: str | None = None,
    config_source: KubernetesSource | None = None,
    cert_lifetime_s: float | None = None,
) -> Plan:
    """The whole plan for `topology` in `mode`; ports come from `allocate_port`.

    Two stages: first every part that needs no other to start (trace sink, Toxiproxy,
    Prometheus, the control plane and every service instance, leaves of the call graph
    first), then, once those are ready, every sidecar (each takes its config and, with
    mTLS, its certificate from the control plane as it starts). A service calls another
    only when a request comes, so nothing waits for a tier below it; a stage's processes
    start together, so a host's cores are busy with the whole deploy at once. Prometheus
    starts first because its first scrape comes at least 5 s after it starts (its
    discovery and scrape managers reload on 5 s tickers): those seconds overlap the
    deploy instead of following it. A runtime still waits, at the end, until every
    sidecar runs the initial config and every target is up.

    With `config_source` the control plane takes its policies from Istio objects in
    Kubernetes instead of the topology. `cert_lifetime_s`: the lifetime of the sidecars'
    certificates (None: the control plane's default)."""
    files = PlanFiles(work_dir)
    mesh = mode == "mesh"
    port = {role: allocate_port() for role in ("trace-sink", "toxiproxy", "prometheus")}
    control_port = allocate_port() if mesh else None
    instances = instance_records(topology, mesh, allocate_port)
    proxies = proxy_records(topology, instances, mesh, allocate_port)
    sink = otlp_endpoint is None
    otlp = otlp_endpoint or otlp_url(port["trace-sink"])
    control_url = f"http://{HOST}:{control_port}" if control_port else None
    first: list[ProcessSpec] = []
    if sink:
        first.append(trace_sink_process(tools, port["trace-sink"], files))
    first.append(toxiproxy_process(tools, port["toxiproxy"]))
    first.append(prometheus_process(tools, port["prometheus"], files))
    if control_port is not None:
        first.append(
            control_plane_process(tools, control_port, files, config_source, cert_lifetime_s)
        )
    ordered = instances_leaves_first(topology, instances)
    first += [service_process(topology, tools, r, instances, proxies, otlp) for r in ordered]
    stages: list[tuple[ProcessSpec, ...]] = [tuple(first)]
    if control_url is not None and ordered:
        dialect = topology.metrics.dialect
        sidecars = [sidecar_process(tools, r, control_url, otlp, files, dialect) for r in ordered]
        stages.append(tuple(sidecars))
    return Plan(
        topology=topology,
        topology_file=topology_file,
        mode=mode,
        work_dir=work_dir,
        stages=tuple(stages),
        instances=tuple(instances),
        proxies=tuple(proxies),
        mesh_config=initial_mesh_config(topology, instances, proxies),
        ingress_url=ingress_url(topology, instances),
        tcp_ingress=tcp_ingress(topology, instances),
        grpc_ingress=grpc_ingress(topology, instances),
        control_url=control_url,
        toxiproxy_url=f"http://{HOST}:{port['toxiproxy']}",
        prometheus_url=f"http://{HOST}:{port['prometheus']}",
        otlp_endpoint=otlp,
        trace_file=files.spans if sink else None,
        config_source=config_source if mesh else None,
    )


def instances_leaves_first(
    topology: Topology, instances: list[InstanceRecord]
) -> list[InstanceRecord]:
    """Every instance, by service level (leaves of the call graph first), then as listed."""
    by_instance = {r.instance: r for r in instances}
    return [
        by_instance[inst.name]
        for level in service_levels(topology)
        for inst in topology.instances()
        if inst.service in level
    ]
