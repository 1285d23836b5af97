"""Where the harness reaches a kubernetes deployment: each part by its Service's ClusterIP.

Every part of the deployment has a Service of its own with the part's port numbers
(`manifests.services`): an instance `<instance>`, `control-plane`, `toxiproxy`,
`trace-sink`, `prometheus`, and each topology service `<service>` on port 80. A ClusterIP
stays the same when a pod is replaced (pod_delete, a new control-plane pod), so the
handle's URLs hold across the faults a run makes. A ClusterIP is reached where kube-proxy
runs: on a node of the cluster (the tests' node routes the Service range onto its bridge),
or in a pod; `run --runtime kubernetes` is meant to be started there. Pure.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from mesh_runtime.errors import DeployError
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.kubernetes.services import INGRESS_PORT

RETRY_S = 0.5


def cluster_ips(services: list[dict[str, Any]]) -> dict[str, str]:
    """Service name -> its ClusterIP (a headless or pending Service is left out)."""
    out = {}
    for service in services:
        address = (service.get("spec") or {}).get("clusterIP")
        if address and address != "None":
            out[service["metadata"]["name"]] = address
    return out


def host_view(deployment: Deployment, addresses: Mapping[str, str], ingress: str) -> Deployment:
    """The handle with every URL at a Service's ClusterIP (`addresses`: name -> IP; the
    load enters at the topology's `ingress` service, port 80) and each instance's `host`;
    a part whose Service has no address is a DeployError."""

    def address(name: str) -> str:
        try:
            return addresses[name]
        except KeyError:
            raise DeployError(f"{deployment.name}: Service {name} has no ClusterIP") from None

    def moved(url: str | None, name: str) -> str | None:
        if url is None:
            return None
        port = urlsplit(url).port
        return f"http://{address(name)}:{port}"

    instances = [r.model_copy(update={"host": address(r.instance)}) for r in deployment.instances]
    return deployment.model_copy(
        update={
            "ingress_url": f"http://{address(ingress)}:{INGRESS_PORT}",
            "control_url": moved(deployment.control_url, "control-plane"),
            "toxiproxy_url": moved(deployment.toxiproxy_url, "toxiproxy"),
            "prometheus_url": moved(deployment.prometheus_url, "prometheus"),
            "trace_url": moved(deployment.trace_url, "trace-sink"),
            "instances": instances,
        }
    )


def require_reachable(deployment: Deployment, timeout_s: float = 10.0) -> None:
    """DeployError (one line) unless this machine opens a TCP connection to the ingress's
    ClusterIP within `timeout_s` (tried again while kube-proxy may still be syncing the
    endpoints): `run` needs the mesh's Services, which kube-proxy routes on a node only."""
    parts = urlsplit(deployment.ingress_url)
    host, port = parts.hostname or "", parts.port or INGRESS_PORT
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(left, 0.1)):
                return
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
        if time.monotonic() + RETRY_S >= deadline:
            break
        time.sleep(RETRY_S)
    raise DeployError(
        f"{deployment.name}: this machine cannot reach the mesh's ingress at {host}:{port}"
        f" (a Service's ClusterIP; {reason}): run meshproof on a node of the cluster, where"
        " kube-proxy routes Service addresses"
    )
