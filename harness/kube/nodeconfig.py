"""The configuration files of a single-node cluster on this machine (pure: values in, text
or documents out; `harness.kube.localnode` writes them and starts the processes).

The node's network is one Linux bridge the node makes (`NodeNetwork`): the bridge holds the
node's address (the first of the pod subnet), the API server binds it so pods reach it
through the `kubernetes` Service, the kubelet registers it as the node IP, and the CNI
`bridge` plugin puts every pod on it. Nothing leaves it: `forward_rules` accepts traffic
from the bridge to the bridge and rejects the rest of what pods send through the host.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from string import Template

NODE_NAME = "meshproof-node"
CLUSTER_DOMAIN = "cluster.local"
DNS_SERVICE_IP = "10.96.0.10"  # in the API server's service range (harness.kube.testing)
PAUSE_IMAGE = "meshproof/pause:3.10"
CONTAINERD_TEMPLATE = Path(__file__).with_name("containerd.toml")


@dataclass(frozen=True)
class NodeNetwork:
    """The bridge and the pod subnet; the node's own address is the subnet's first."""

    bridge: str = "mpnode0"
    subnet: str = "10.244.0.0/24"

    @property
    def node_ip(self) -> str:
        return str(next(ipaddress.ip_network(self.subnet).hosts()))

    @property
    def prefix(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen


def containerd_config(
    template: str, *, root: Path, state: Path, socket: Path, cni_conf_dir: Path, cni_bin_dir: Path
) -> str:
    """The node's containerd configuration: the project's template with this node's paths."""
    return Template(template).substitute(
        root=root,
        state=state,
        socket=socket,
        sandbox_image=PAUSE_IMAGE,
        cni_conf_dir=cni_conf_dir,
        cni_bin_dir=cni_bin_dir,
    )


def cni_conflist(network: NodeNetwork, ipam_dir: Path, service_cidr: str) -> str:
    """The pod network: the CNI bridge plugin on the node's bridge, addresses from the
    subnet (host-local, its leases in `ipam_dir`), the node's address as the gateway for the
    Services' range only (no default route, no masquerade: nothing a pod sends is meant to
    leave the machine)."""
    document = {
        "cniVersion": "0.4.0",
        "name": "meshproof",
        "plugins": [
            {
                "type": "bridge",
                "bridge": network.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": network.subnet, "gateway": network.node_ip}]],
                    "routes": [{"dst": service_cidr, "gw": network.node_ip}],
                    "dataDir": str(ipam_dir),
                },
            }
        ],
    }
    return json.dumps(document, indent=2)


def kubelet_config(
    *,
    network: NodeNetwork,
    runtime_socket: Path,
    port: int,
    healthz_port: int,
    resolv_conf: Path,
    pod_logs_dir: Path,
    client_ca: Path | None = None,
) -> dict[str, object]:
    """The kubelet's KubeletConfiguration for this machine: cgroup v1 with cgroupfs, no QoS
    cgroups or node-allocatable enforcement (the sandbox gives no cgroup hierarchy of its
    own), swap tolerated, the cluster DNS and an empty host resolv.conf (pods resolve only
    cluster names), every endpoint on the node's address or loopback. With `client_ca`,
    clients with a certificate it signed (the API server's node proxy) are authenticated;
    anonymous requests never are."""
    authentication: dict[str, object] = {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": False},
    }
    if client_ca is not None:
        authentication["x509"] = {"clientCAFile": str(client_ca)}
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "address": network.node_ip,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": authentication,
        "authorization": {"mode": "AlwaysAllow"},
        "clusterDNS": [DNS_SERVICE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(resolv_conf),
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        "podLogsDir": str(pod_logs_dir),
        "serializeImagePulls": False,
        "registerNode": True,
        "nodeStatusReportFrequency": "10s",
    }


def corefile(network: NodeNetwork, kubeconfig: Path, context: str, ready_port: int) -> str:
    """CoreDNS serving the cluster domain from the API server on the node's address; any
    other name is refused (no `forward`: nothing is asked of a resolver off the machine)."""
    return (
        f".:53 {{\n"
        f"    bind {network.node_ip}\n"
        f"    ready 127.0.0.1:{ready_port}\n"
        f"    errors\n"
        f"    loadbalance\n"
        f"    cache 5\n"
        f"    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{\n"
        f"        kubeconfig {kubeconfig} {context}\n"
        f"        pods insecure\n"
        f"    }}\n"
        f"}}\n"
    )


def dns_service_objects(network: NodeNetwork) -> tuple[dict[str, object], dict[str, object]]:
    """The `kube-dns` Service (the cluster DNS address the kubelet gives pods) and its
    EndpointSlice naming CoreDNS on the node's address."""
    labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
    ports = [("dns", "UDP"), ("dns-tcp", "TCP")]
    service: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
        "spec": {
            "clusterIP": DNS_SERVICE_IP,
            "ports": [{"name": n, "port": 53, "protocol": p, "targetPort": 53} for n, p in ports],
        },
    }
    endpoints: dict[str, object] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kube-dns-node",
            "namespace": "kube-system",
            "labels": {"kubernetes.io/service-name": "kube-dns", **labels},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [network.node_ip], "conditions": {"ready": True}}],
        "ports": [{"name": n, "port": 53, "protocol": p} for n, p in ports],
    }
    return service, endpoints


def forward_rules(network: NodeNetwork, service_cidr: str) -> list[list[str]]:
    """iptables rules (filter table, FORWARD, inserted first in this order): a packet to a
    Service address kube-proxy has not rewritten (yet) is rejected at once (the host routes
    the Service range onto the bridge, where nobody answers it), pod to pod through the
    bridge is accepted, anything else a pod sends through the host is rejected."""
    bridge = network.bridge
    return [
        ["-i", bridge, "-d", service_cidr, "-j", "REJECT"],
        ["-i", bridge, "-o", bridge, "-j", "ACCEPT"],
        ["-i", bridge, "!", "-o", bridge, "-j", "REJECT"],
    ]


KUBELET_CHAINS = ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT")


def kubelet_chain_cleanup() -> list[list[str]]:
    """iptables arguments that remove the chains the kubelet makes on its own (kube-proxy's
    `--cleanup` leaves them): the jumps to KUBE-FIREWALL, then each chain flushed and
    deleted, in every table, for IPv4 and IPv6. Each may fail where there is nothing."""
    commands: list[list[str]] = []
    for program in ("iptables", "ip6tables"):
        for hook in ("INPUT", "OUTPUT"):
            commands.append([program, "-w", "-D", hook, "-j", "KUBE-FIREWALL"])
        for table in ("filter", "nat", "mangle"):
            for action in ("-F", "-X"):
                commands += [[program, "-w", "-t", table, action, c] for c in KUBELET_CHAINS]
    return commands
