"""The deployment plan: every process, port, command line and proxy, decided up front.

Pure: fed a Topology, a mode and a port allocator, it returns values; nothing here starts
a process or opens a socket. The local runtime carries the plan out in two stages: first
every part that needs no other to start (trace sink, Toxiproxy, Prometheus, the control
plane, every service instance), then every sidecar.

    spec.py       ProcessSpec, Tools, Plan; the names of processes and proxies
    files.py      PlanFiles: the files a deployment keeps in its work dir
    addresses.py  ports, proxies, ingress URLs, the initial mesh config
    commands.py   each process's command line
    make.py       make_plan: all of the above, in start order
"""

from mesh_runtime.runtimes.plan.addresses import (
    grpc_ingress,
    otlp_url,
    tcp_destinations,
    tcp_ingress,
)
from mesh_runtime.runtimes.plan.files import PlanFiles
from mesh_runtime.runtimes.plan.make import make_plan, service_levels
from mesh_runtime.runtimes.plan.spec import (
    HOST,
    PROCESS_ENV,
    Plan,
    ProcessSpec,
    Tools,
    proxy_name,
    ready_url,
    sidecar_name,
)

__all__ = [
    "HOST",
    "PROCESS_ENV",
    "Plan",
    "PlanFiles",
    "ProcessSpec",
    "Tools",
    "grpc_ingress",
    "make_plan",
    "otlp_url",
    "proxy_name",
    "ready_url",
    "service_levels",
    "sidecar_name",
    "tcp_destinations",
    "tcp_ingress",
]
