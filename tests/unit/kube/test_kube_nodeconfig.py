"""The single-node cluster's configuration files (harness.kube.nodeconfig), without a node."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from harness.kube.nodeconfig import (
    CONTAINERD_TEMPLATE,
    DNS_SERVICE_IP,
    PAUSE_IMAGE,
    NodeNetwork,
    cni_conflist,
    containerd_config,
    corefile,
    dns_service_objects,
    forward_rules,
    kubelet_chain_cleanup,
    kubelet_config,
)

NET = NodeNetwork(bridge="mptest0", subnet="10.244.7.0/24")


def test_the_node_address_is_the_first_of_the_pod_subnet() -> None:
    """The bridge's (and the node's) address is the subnet's first host."""
    assert (NET.node_ip, NET.prefix) == ("10.244.7.1", 24)


def test_containerd_config_is_the_projects_file_with_this_nodes_paths() -> None:
    """Every $-name of the template is filled; the CRI clamps oom_score_adj, uses the local
    pause image, the node's CNI folder and its own socket."""
    text = containerd_config(
        CONTAINERD_TEMPLATE.read_text(encoding="utf-8"),
        root=Path("/w/root"),
        state=Path("/w/state"),
        socket=Path("/w/c.sock"),
        cni_conf_dir=Path("/w/cni"),
        cni_bin_dir=Path("/usr/lib/cni"),
    )
    config = tomllib.loads(text)
    assert (config["root"], config["state"], config["grpc"]["address"]) == (
        "/w/root",
        "/w/state",
        "/w/c.sock",
    )
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True and cri["sandbox_image"] == PAUSE_IMAGE
    assert cri["cni"] == {"bin_dir": "/usr/lib/cni", "conf_dir": "/w/cni", "max_conf_num": 1}


def test_pods_get_the_bridge_and_a_route_to_the_services_only() -> None:
    """The CNI bridge on the node's bridge, the node as gateway, a route to the Service
    range and no default route, no masquerade."""
    (bridge,) = json.loads(cni_conflist(NET, Path("/w/ipam"), "10.96.0.0/16"))["plugins"]
    assert (bridge["type"], bridge["bridge"], bridge["ipMasq"]) == ("bridge", "mptest0", False)
    assert "isDefaultGateway" not in bridge
    ipam = bridge["ipam"]
    assert ipam["ranges"] == [[{"subnet": "10.244.7.0/24", "gateway": "10.244.7.1"}]]
    assert ipam["routes"] == [{"dst": "10.96.0.0/16", "gw": "10.244.7.1"}]


def a_kubelet_config(client_ca: Path | None = None) -> dict[str, object]:
    return kubelet_config(
        network=NET,
        runtime_socket=Path("/w/c.sock"),
        port=1,
        healthz_port=2,
        resolv_conf=Path("/w/resolv.conf"),
        pod_logs_dir=Path("/w/logs"),
        client_ca=client_ca,
    )


def test_the_kubelet_serves_on_the_node_address_with_cluster_dns_only() -> None:
    """Node address, cluster DNS, the empty host resolv.conf, the node's containerd."""
    config = a_kubelet_config()
    assert config["address"] == "10.244.7.1" and config["clusterDNS"] == [DNS_SERVICE_IP]
    assert config["resolvConf"] == "/w/resolv.conf"
    assert config["containerRuntimeEndpoint"] == "unix:///w/c.sock"
    assert config["authentication"] == {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": False},
    }


def test_the_kubelet_trusts_the_client_ca_it_is_given_and_never_anonymous() -> None:
    """With a client CA (the API server's node proxy), x509 clients it signed are
    authenticated; anonymous requests still are not."""
    config = a_kubelet_config(client_ca=Path("/w/ca.crt"))
    authentication = config["authentication"]
    assert authentication["x509"] == {"clientCAFile": "/w/ca.crt"}  # type: ignore[index]
    assert authentication["anonymous"] == {"enabled": False}  # type: ignore[index]


def test_coredns_answers_the_cluster_domain_and_forwards_nothing() -> None:
    """Bound to the node's address, the kubernetes plugin with the given kubeconfig, and
    no `forward` (no resolver off the machine is ever asked)."""
    text = corefile(NET, Path("/w/kubeconfig"), "admin", 9153)
    assert "bind 10.244.7.1" in text and "kubeconfig /w/kubeconfig admin" in text
    assert "ready 127.0.0.1:9153" in text and "forward" not in text


def test_the_dns_service_points_at_coredns_on_the_node() -> None:
    """kube-dns has the kubelet's cluster DNS address; its one endpoint is the node."""
    service, endpoints = dns_service_objects(NET)
    assert service["spec"]["clusterIP"] == DNS_SERVICE_IP  # type: ignore[index]
    assert endpoints["endpoints"] == [{"addresses": ["10.244.7.1"], "conditions": {"ready": True}}]


def test_pod_traffic_stays_on_the_bridge() -> None:
    """A Service address kube-proxy did not rewrite is rejected first; bridge to bridge is
    accepted before anything else a pod sends is rejected."""
    unrewritten, accept, reject = forward_rules(NET, "10.96.0.0/16")
    assert unrewritten == ["-i", "mptest0", "-d", "10.96.0.0/16", "-j", "REJECT"]
    assert accept == ["-i", "mptest0", "-o", "mptest0", "-j", "ACCEPT"]
    assert reject == ["-i", "mptest0", "!", "-o", "mptest0", "-j", "REJECT"]


def test_the_kubelets_own_chains_are_removed_for_both_families() -> None:
    """The jumps go before the chains are flushed and deleted, for iptables and ip6tables."""
    commands = kubelet_chain_cleanup()
    assert {c[0] for c in commands} == {"iptables", "ip6tables"}
    jump = commands.index(["iptables", "-w", "-D", "INPUT", "-j", "KUBE-FIREWALL"])
    delete = commands.index(["iptables", "-w", "-t", "filter", "-X", "KUBE-FIREWALL"])
    assert jump < delete
