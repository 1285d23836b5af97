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

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from mesh_runtime.errors import DeployError
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.kubernetes.manifests import INGRESS_PORT


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
