"""The command lines of a single-node cluster's Kubernetes programs (pure: values in, argv
out; `harness.kube.localnode` starts them): kube-controller-manager and kube-scheduler on
127.0.0.1 without leader election, kube-proxy in iptables mode on the node's subnet, the
kubelet registering the node by its bridge address. kube-router's is in `netpolicy`."""

from __future__ import annotations

from pathlib import Path

from harness.kube.nodeconfig import NODE_NAME, NodeNetwork


def _common(kubeconfig: Path) -> list[str]:
    return ["--leader-elect=false", "--bind-address=127.0.0.1", f"--kubeconfig={kubeconfig}"]


def controller_manager_command(
    binary: Path, kubeconfig: Path, port: int, *, root_ca: Path, service_account_key: Path
) -> list[str]:
    return [
        str(binary),
        *_common(kubeconfig),
        f"--secure-port={port}",
        # no cloud, no node IPAM (the CNI config holds the pod subnet)
        "--controllers=*,-nodeipam,-route,-cloud-node-lifecycle,-service",
        f"--root-ca-file={root_ca}",
        f"--service-account-private-key-file={service_account_key}",
        "--use-service-account-credentials=false",
    ]


def scheduler_command(binary: Path, kubeconfig: Path, port: int) -> list[str]:
    return [str(binary), *_common(kubeconfig), f"--secure-port={port}"]


def kube_proxy_command(
    binary: Path, kubeconfig: Path, network: NodeNetwork, health_port: int, metrics_port: int
) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={NODE_NAME}",
        "--proxy-mode=iptables",
        f"--cluster-cidr={network.subnet}",
        f"--nodeport-addresses={network.subnet}",
        "--conntrack-max-per-core=0",  # leave the host's conntrack table size alone
        f"--healthz-bind-address=127.0.0.1:{health_port}",
        f"--metrics-bind-address=127.0.0.1:{metrics_port}",
    ]


def kubelet_command(
    binary: Path, config: Path, kubeconfig: Path, *, root_dir: Path, cert_dir: Path, node_ip: str
) -> list[str]:
    return [
        str(binary),
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={root_dir}",
        f"--cert-dir={cert_dir}",
        f"--node-ip={node_ip}",
        f"--hostname-override={NODE_NAME}",
    ]
