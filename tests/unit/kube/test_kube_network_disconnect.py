"""network_disconnect on the kubernetes runtime without a cluster: the NetworkPolicy it
creates, the connection check it runs in a pod (run here as a real process against a real
socket), the pods it picks, its dry-run plan; and the node's kube-router command line and
the clean-up of its rules (harness.kube.netpolicy)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from harness.faults.kube_network import (
    connect_command,
    deny_all_policy,
    pod_port,
    policy_name,
    prober_of,
)
from harness.faults.kube_plan import faults_plan
from harness.kube.netpolicy import cleanup_commands, firewall_ready, kube_router_command
from harness.spec.faults import FaultSpec

FAULT: TypeAdapter[FaultSpec] = TypeAdapter(FaultSpec)


def test_the_policy_selects_the_parts_pod_and_denies_everything() -> None:
    """Both directions, no rule, the part's pod by its Deployment's labels; labelled with
    the deployment (so `down` finds it)."""
    policy = deny_all_policy("shop-1a2b", "catalog-1")
    labels = {"meshproof.deployment": "shop-1a2b", "meshproof.part": "catalog-1"}
    assert policy == {
        "metadata": {"labels": labels},
        "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress", "Egress"]},
    }


def test_one_policy_name_per_fault_and_part() -> None:
    """Names differ by run/fault; each is a valid object name."""
    a, b = policy_name("catalog-1", "run-1/cut"), policy_name("catalog-1", "run-1/cut2")
    assert a != b and a.startswith("meshproof-disconnect-catalog-1-")
    assert a == policy_name("catalog-1", "run-1/cut")
    assert len(policy_name("x" * 300, "m")) <= 253


def run_probe(address: str, port: int) -> subprocess.CompletedProcess[str]:
    command = connect_command(address, port, timeout_s=2)
    assert command[0] == "python"
    return subprocess.run(
        [sys.executable, *command[1:]], capture_output=True, text=True, timeout=30
    )


def test_the_connection_check_exits_0_when_it_connects_and_1_when_not() -> None:
    """Against a listening socket: 0; against a port nobody listens on: 1, with why."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert run_probe("127.0.0.1", port).returncode == 0
    closed = run_probe("127.0.0.1", port)
    assert closed.returncode == 1
    assert "ConnectionRefusedError" in closed.stderr


def pod(name: str, part: str, containers: list[dict[str, Any]], phase: str = "Running") -> Any:
    return {
        "metadata": {"name": name, "labels": {"meshproof.part": part}},
        "spec": {"containers": containers},
        "status": {"phase": phase, "podIP": "10.244.0.9"},
    }


APP = {"name": "app", "ports": [{"name": "app", "containerPort": 8080}]}
SIDECAR = {"name": "sidecar", "ports": [{"name": "inbound", "containerPort": 15006}]}


def test_the_check_runs_from_another_parts_running_pod_with_an_app_container() -> None:
    """Not the target's own pod, not a pod without the mesh image, not one pending."""
    pods = [
        pod("catalog-1-x", "catalog-1", [APP, SIDECAR]),
        pod("toxiproxy-x", "toxiproxy", [{"name": "toxiproxy"}]),
        pod("cart-0-x", "cart-0", [APP], phase="Pending"),
        pod("frontend-0-x", "frontend-0", [SIDECAR, APP]),
    ]
    chosen = prober_of(pods, "catalog-1")
    assert chosen is not None and chosen["metadata"]["name"] == "frontend-0-x"
    assert prober_of(pods[:2], "catalog-1") is None
    assert pod_port(pods[0]) == 15006  # the sidecar's inbound: what other pods reach
    assert pod_port(pods[2]) == 8080


def test_dry_run_plans_the_policy_and_the_checks() -> None:
    """On the kubernetes runtime: the check, the policy created, the check until cut; at
    revert the policy deleted and the check until it connects again."""
    fault = FAULT.validate_python(
        {"name": "cut", "kind": "network_disconnect", "target": "catalog-1", "duration": "5s"}
    )
    lines = faults_plan([fault], ["shop"], kubernetes_runtime=True)
    assert lines[0].startswith("fault cut (network_disconnect on catalog-1)")
    policies = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies"
    assert lines[3].startswith("  apply  POST   " + policies + "  (")
    assert lines[5].startswith("  revert DELETE " + policies + "/<it>")
    assert "until a new connection fails" in lines[4]


def test_kube_router_runs_its_firewall_alone_with_no_port_open() -> None:
    """Router and service proxy off, health and metrics off, the node's name and range."""
    command = kube_router_command(
        Path("/bin/kube-router"), Path("/k/admin.kubeconfig"), "meshproof-node", "10.96.0.0/16"
    )
    assert command[0] == "/bin/kube-router"
    for flag in (
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--health-port=0",
        "--metrics-port=0",
        "--kubeconfig=/k/admin.kubeconfig",
        "--hostname-override=meshproof-node",
        "--service-cluster-ip-range=10.96.0.0/16",
    ):
        assert flag in command


SAVED = """\
# Generated by iptables-save
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:KUBE-NWPLCY-DEFAULT - [0:0]
:KUBE-POD-FW-ABCDEF - [0:0]
:KUBE-ROUTER-FORWARD - [0:0]
:KUBE-ROUTER-INPUT - [0:0]
-A INPUT -m comment --comment "kube-router netpol - 4IA2OSFRMVNDXBVV" -j KUBE-ROUTER-INPUT
-A FORWARD -m comment --comment "kube-router netpol - TEMCG2JMHZYE7H7T" -j KUBE-ROUTER-FORWARD
-A FORWARD -i mpnode0 -j ACCEPT
-A FORWARD -j DOCKER
-A KUBE-ROUTER-FORWARD -d 10.244.0.9/32 -j KUBE-POD-FW-ABCDEF
COMMIT
"""


def test_the_firewall_is_ready_once_forward_jumps_to_it() -> None:
    assert firewall_ready(SAVED)
    assert not firewall_ready(SAVED.replace("-j KUBE-ROUTER-FORWARD\n", "-j DOCKER\n"))


def test_clean_up_removes_only_kube_routers_jumps_chains_and_sets() -> None:
    """Its jumps from the top chains first (with their comments as saved), then its chains
    flushed, then deleted, then its sets; the node's and Docker's rules are left alone."""
    commands = cleanup_commands(SAVED, "KUBE-SRC-AAAA\nKUBE-DST-BBBB\ndocker-set\n")
    iptables = ["iptables", "-w", "-t", "filter"]
    assert commands[:2] == [
        [*iptables, "-D", "INPUT", "-m", "comment", "--comment",
         "kube-router netpol - 4IA2OSFRMVNDXBVV", "-j", "KUBE-ROUTER-INPUT"],
        [*iptables, "-D", "FORWARD", "-m", "comment", "--comment",
         "kube-router netpol - TEMCG2JMHZYE7H7T", "-j", "KUBE-ROUTER-FORWARD"],
    ]  # fmt: skip
    chains = [
        "KUBE-NWPLCY-DEFAULT",
        "KUBE-POD-FW-ABCDEF",
        "KUBE-ROUTER-FORWARD",
        "KUBE-ROUTER-INPUT",
    ]
    assert commands[2:6] == [[*iptables, "-F", c] for c in chains]
    assert commands[6:10] == [[*iptables, "-X", c] for c in chains]
    assert commands[10:] == [
        ["ipset", "destroy", "KUBE-SRC-AAAA"],
        ["ipset", "destroy", "KUBE-DST-BBBB"],
    ]
    assert not any("DOCKER" in c or "mpnode0" in c for c in commands)


@pytest.mark.parametrize("target", ["catalog-1", "sidecar:catalog-1", "control-plane"])
def test_network_disconnect_targets_parse(target: str) -> None:
    fault = FAULT.validate_python({"name": "c", "kind": "network_disconnect", "target": target})
    assert fault.target == target
