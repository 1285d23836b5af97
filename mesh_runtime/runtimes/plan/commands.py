"""The command line of each process the plan runs: trace sink, Toxiproxy, control plane,
Prometheus, each sample service and each sidecar. Pure."""

from __future__ import annotations

from mesh_runtime.quantities import format_duration
from mesh_runtime.runtimes.deployment import InstanceRecord, KubernetesSource, ProxyRecord
from mesh_runtime.runtimes.plan.files import PlanFiles
from mesh_runtime.runtimes.plan.spec import HOST, ProcessSpec, Tools, sidecar_name
from mesh_runtime.runtimes.prometheus import prometheus_command
from mesh_runtime.runtimes.toxiproxy import toxiproxy_command
from mesh_runtime.topology import Topology


def _python(tools: Tools, module: str, *args: str) -> tuple[str, ...]:
    return (tools.python, "-m", module, *args)


def trace_sink_process(tools: Tools, port: int, files: PlanFiles) -> ProcessSpec:
    command = _python(
        tools, "mesh_runtime.tracesink", "--port", str(port), "--out", str(files.spans)
    )
    return ProcessSpec("trace-sink", "trace-sink", command, {"port": port})


def toxiproxy_process(tools: Tools, port: int) -> ProcessSpec:
    command = toxiproxy_command(tools.toxiproxy, port, HOST)
    return ProcessSpec("toxiproxy", "toxiproxy", tuple(command), {"port": port})


def control_plane_process(
    tools: Tools,
    port: int,
    files: PlanFiles,
    source: KubernetesSource | None = None,
    cert_lifetime_s: float | None = None,
) -> ProcessSpec:
    """`cert_lifetime_s`: the lifetime of the certificates its CA issues (None: the control
    plane's default, 1 h; a soak shortens it to see renewals in minutes)."""
    command = _python(
        tools,
        "mesh_runtime.control",
        "--config",
        str(files.mesh_config),
        "--port",
        str(port),
        "--token-file",
        str(files.control_token),
        "--state-file",
        str(files.control_state),
        "--ca-dir",
        str(files.ca_dir),
        "--bootstrap-secret-file",
        str(files.bootstrap_secret),
    )
    if source is not None:
        command += ("--kubeconfig", source.kubeconfig, "--namespace", source.namespace)
        command += ("--kube-context", source.context) if source.context else ()
    if cert_lifetime_s is not None:
        command += ("--cert-lifetime", format_duration(cert_lifetime_s))
    return ProcessSpec("control-plane", "control-plane", command, {"port": port})


def prometheus_process(tools: Tools, port: int, files: PlanFiles) -> ProcessSpec:
    command = prometheus_command(
        tools.prometheus, files.prometheus_config, files.prometheus_data, port
    )
    return ProcessSpec("prometheus", "prometheus", tuple(command), {"port": port})


def service_process(
    topology: Topology,
    tools: Tools,
    record: InstanceRecord,
    instances: list[InstanceRecord],
    proxies: list[ProxyRecord],
    otlp: str,
) -> ProcessSpec:
    args = ["--service", record.service, "--instance", record.instance]
    args += ["--version", record.version, "--port", str(record.app_port)]
    spec = topology.services[record.service]
    if spec.protocol == "tcp":
        command = _python(tools, "mesh_runtime.services.kv", *args)
        return ProcessSpec(record.instance, "service", command, {"port": record.app_port})
    if spec.protocol == "grpc":
        args += ["--protocol", "grpc"]
    calls = spec.calls
    if calls:
        args += ["--calls", ",".join(calls)]
        tcp = {c for c in calls if topology.protocol(c) == "tcp"}
        grpc = [c for c in calls if topology.protocol(c) == "grpc"]
        if grpc:
            args += ["--grpc", ",".join(grpc)]
        if record.outbound_port is not None:
            args += ["--via", f"{HOST}:{record.outbound_port}"]
            for callee in calls:
                if callee in tcp:
                    args += ["--tcp", f"{callee}={HOST}:{record.tcp_ports[callee]}"]
        else:
            for callee in calls:
                targets = _direct_targets(record.service, callee, instances, proxies)
                flag = "--tcp" if callee in tcp else "--direct"
                args += [flag, f"{callee}={','.join(targets)}"]
    args += ["--otlp-endpoint", otlp]
    command = _python(tools, "mesh_runtime.services", *args)
    return ProcessSpec(record.instance, "service", command, {"port": record.app_port})


def _direct_targets(
    source: str, callee: str, instances: list[InstanceRecord], proxies: list[ProxyRecord]
) -> list[str]:
    """No-mesh addresses of `callee`'s instances, through a proxy where the edge has one."""
    via = {p.instance: p.listen for p in proxies if p.edge == f"{source}->{callee}"}
    return [via.get(r.instance, f"{HOST}:{r.app_port}") for r in instances if r.service == callee]


def sidecar_process(
    tools: Tools,
    record: InstanceRecord,
    control_url: str,
    otlp: str,
    files: PlanFiles,
    metrics_dialect: str = "istio",
) -> ProcessSpec:
    ports = {
        "inbound": record.inbound_port or 0,
        "outbound": record.outbound_port or 0,
        "admin": record.admin_port or 0,
    }
    args = ["--service", record.service, "--instance", record.instance]
    args += ["--version", record.version]
    args += ["--inbound-port", str(ports["inbound"]), "--outbound-port", str(ports["outbound"])]
    args += ["--app-port", str(record.app_port), "--admin-port", str(ports["admin"])]
    args += ["--control-plane", control_url, "--otlp-endpoint", otlp]
    if tools.sidecar:
        command = (*tools.sidecar, *args)  # another sidecar program: only the base contract
    else:
        args += ["--bootstrap-token-file", str(files.credential(record.instance))]
        args += ["--admin-token-file", str(files.admin_token)]
        if metrics_dialect != "istio":  # the default: today's command lines unchanged
            args += ["--metrics-dialect", metrics_dialect]
        for service, port in record.tcp_ports.items():
            args += ["--tcp-outbound", f"{service}={port}"]
        if record.gateway_port is not None:
            args += ["--gateway-port", str(record.gateway_port)]
        command = _python(tools, "mesh_runtime.sidecar", *args)
    return ProcessSpec(sidecar_name(record.instance), "sidecar", command, ports)
