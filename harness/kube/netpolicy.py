"""NetworkPolicy on the tests' node: kube-router's network policy controller, alone. Pure.

The node's CNI plugin (bridge) does not enforce NetworkPolicy; kube-router's firewall does,
with iptables rules and ipsets on the host: a chain per pod a policy selects
(KUBE-POD-FW-*), one per policy (KUBE-NWPLCY-*), sets of pod addresses (KUBE-SRC-*,
KUBE-DST-*), reached from the top of INPUT, FORWARD and OUTPUT through KUBE-ROUTER-*. The
node runs it with its router and service proxy off (kube-proxy is the node's proxy) and no
port open (health and metrics off), after the kubelet registered the node (kube-router
reads its Node object at start).

    kube_router_command(binary, kubeconfig, "meshproof-node", "10.96.0.0/16")
    firewall_ready(iptables_save_text)           # its chains in place: policies enforced
    cleanup_commands(iptables_save_text, ipsets) # what removes them again, in order

kube-router's own `--cleanup-config` also tears down what its router and service proxy
would have made (IPVS services, its bridge), so the node removes its rules itself.
"""

from __future__ import annotations

import shlex
from pathlib import Path

TOP_CHAINS = ("INPUT", "FORWARD", "OUTPUT")
CHAIN_PREFIXES = ("KUBE-ROUTER-", "KUBE-NWPLCY-", "KUBE-POD-FW-")
SET_PREFIXES = ("KUBE-SRC-", "KUBE-DST-")


def kube_router_command(
    binary: Path, kubeconfig: Path, node_name: str, service_cidr: str
) -> list[str]:
    """kube-router as the node's network policy controller, nothing else."""
    return [
        str(binary),
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={node_name}",
        f"--service-cluster-ip-range={service_cidr}",
        "--health-port=0",
        "--metrics-port=0",
        # a policy created or deleted is synced at once; this is only the periodic resync
        "--iptables-sync-period=1m",
    ]


def _owned(chain: str) -> bool:
    return chain.startswith(CHAIN_PREFIXES)


def firewall_ready(iptables_save: str) -> bool:
    """Whether `iptables-save -t filter` shows kube-router's jump from FORWARD in place."""
    return any(
        line.startswith("-A FORWARD ") and line.endswith("-j KUBE-ROUTER-FORWARD")
        for line in iptables_save.splitlines()
    )


def cleanup_commands(iptables_save: str, ipset_names: str) -> list[list[str]]:
    """The commands that remove kube-router's rules, chains and ipsets: the jumps from the
    top chains, then each of its chains flushed, then deleted, then its sets destroyed.
    `iptables_save`: `iptables-save -t filter`; `ipset_names`: `ipset list -n`."""
    jumps: list[list[str]] = []
    chains: list[str] = []
    for line in iptables_save.splitlines():
        if line.startswith(":"):
            chain = line[1:].split()[0]
            if _owned(chain):
                chains.append(chain)
        elif line.startswith("-A "):
            words = shlex.split(line)
            chain = words[1]
            target = words[words.index("-j") + 1] if "-j" in words else ""
            if chain in TOP_CHAINS and _owned(target):
                jumps.append(["iptables", "-w", "-t", "filter", "-D", chain, *words[2:]])
    flush = [["iptables", "-w", "-t", "filter", "-F", chain] for chain in chains]
    delete = [["iptables", "-w", "-t", "filter", "-X", chain] for chain in chains]
    sets = [
        ["ipset", "destroy", name] for name in ipset_names.split() if name.startswith(SET_PREFIXES)
    ]
    return [*jumps, *flush, *delete, *sets]
