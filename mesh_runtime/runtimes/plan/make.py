"""`make_plan`: the whole plan of a topology, in start order (services from the leaves of
the call graph up; Prometheus in the first stage, see `make_plan`). Pure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mesh_runtime.runtimes.deployment import InstanceRecord, KubernetesSource, ProxyRecord
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
) -> Plan:
    """The whole plan for `topology` in `mode`; ports come from `allocate_port`.

    Prometheus starts in the first stage, beside the trace sink and Toxiproxy: its scrape
    config names every sidecar's admin port (known here), and its first scrape comes at
    least 5 s after it starts (the discovery and scrape managers reload on 5 s tickers),
    so those seconds overlap the rest of the deploy instead of following it. A runtime
    still waits, at the end, until every target is up.

    With `config_source` the control plane takes its policies from Istio objects in
    Kubernetes instead of the topology."""
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
    stages: list[tuple[ProcessSpec, ...]] = [tuple(first)]
    if control_port is not None:
        stages.append((control_plane_process(tools, control_port, files, config_source),))
    stages += service_stages(topology, tools, instances, proxies, otlp, control_url, files)
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


def service_stages(
    topology: Topology,
    tools: Tools,
    instances: list[InstanceRecord],
    proxies: list[ProxyRecord],
    otlp: str,
    control_url: str | None,
    files: PlanFiles,
) -> list[tuple[ProcessSpec, ...]]:
    """A stage per service level (leaves first): each instance's app and, with a control
    plane to take its config from, its sidecar."""
    stages: list[tuple[ProcessSpec, ...]] = []
    by_instance = {r.instance: r for r in instances}
    for level in service_levels(topology):
        stage: list[ProcessSpec] = []
        for inst in topology.instances():
            if inst.service not in level:
                continue
            record = by_instance[inst.name]
            stage.append(service_process(topology, tools, record, instances, proxies, otlp))
            if control_url:
                dialect = topology.metrics.dialect
                stage.append(sidecar_process(tools, record, control_url, otlp, files, dialect))
        stages.append(tuple(stage))
    return stages
