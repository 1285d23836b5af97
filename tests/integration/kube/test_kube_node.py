"""The shop on a real single-node cluster (tests/fixtures/node.py: kubelet, containerd,
CNI bridge, kube-proxy, CoreDNS): after `up --runtime kubernetes` every part's pod becomes
Ready (the sidecars find the control plane by its Service name, through cluster DNS and
kube-proxy), `status` says so, a request through the gateway's pod is answered by the
whole call graph, and `down` leaves nothing with the label and no pod on the node.
One cluster and one shop for the whole module.

Prometheus is the exception: its image (prom/prometheus) cannot be pulled here and no
build of it is loaded into the node, so `up` runs with `--no-wait` and the test waits for
every other part; `status` must name ErrImageNeverPull for it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from harness.cli.main import main
from harness.kube.localnode import LocalNode
from mesh_runtime.kube.resources import NAMESPACE, POD
from mesh_runtime.runtimes.deployment import KubernetesPlacement
from mesh_runtime.runtimes.kubernetes.runtime import KubernetesRuntime
from tests.conftest import poll
from tests.integration.faults.faultkit import ROOT

pytestmark = pytest.mark.integration

SHOP = ROOT / "experiments" / "topologies" / "shop.yaml"
INSTANCES = {"gateway-0", "frontend-0", "catalog-0", "catalog-1", "cart-0", "inventory-0"}
UNLOADED = {"prometheus"}  # parts whose image is not in the node (see the docstring)
SERVICES = {"gateway", "frontend", "catalog", "cart", "inventory"}
TRACE_ID = "5d2f9e1c8b7a6f5e4d3c2b1a09f8e7d6"


@dataclass
class ShopOnNode:
    node: LocalNode
    namespace: str
    state_dir: Path
    up_code: int
    up_s: float

    def flags(self) -> list[str]:
        return ["--kubeconfig", str(self.node.kubeconfig), "--namespace", self.namespace]

    def deployment_id(self) -> str:
        saved = yaml.safe_load((self.state_dir / "deployments" / "shop.json").read_text())
        return str(saved["kubernetes"]["deployment_id"])


@pytest.fixture(scope="module")
def shop(local_node: LocalNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopOnNode]:
    """`meshproof up shop --runtime kubernetes` on the node (waiting for readiness), timed."""
    namespace = f"node-{uuid.uuid4().hex[:8]}"
    with local_node.client() as kube:
        kube.create(NAMESPACE, None, {"metadata": {"name": namespace}})
    state_dir = tmp_path_factory.mktemp("node-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MESHPROOF_STATE_DIR", str(state_dir))
        flags = ["--kubeconfig", str(local_node.kubeconfig), "--namespace", namespace]
        began = time.monotonic()
        code = main(["up", str(SHOP), "--runtime", "kubernetes", *flags, "--no-wait"])
        shop = ShopOnNode(local_node, namespace, state_dir, code, 0.0)
        if code == 0:
            poll(lambda: not_ready(shop) == UNLOADED, timeout=180, interval=0.5, what="parts")
        shop.up_s = time.monotonic() - began
        try:
            yield shop
        finally:
            if (state_dir / "deployments" / "shop.json").exists():
                main(["down", "shop"])


def part_states(shop: ShopOnNode) -> list[Any]:
    placement = KubernetesPlacement(
        kubeconfig=str(shop.node.kubeconfig),
        namespace=shop.namespace,
        deployment_id=shop.deployment_id(),
    )
    with shop.node.client() as kube:
        return KubernetesRuntime().parts(kube, placement)


def not_ready(shop: ShopOnNode) -> set[str]:
    return {part.name for part in part_states(shop) if not part.ready}


def labelled(node: LocalNode, namespace: str, deployment: str) -> list[tuple[str, str]]:
    placement = KubernetesPlacement(kubeconfig="-", namespace=namespace, deployment_id=deployment)
    with node.client() as kube:
        found = KubernetesRuntime().labelled(kube, placement)
        return [(r.kind, o["metadata"]["name"]) for r, o in found]


def gateway_address(shop: ShopOnNode) -> str:
    """The gateway pod's address on the node's bridge and its ingress port (the Service's
    target, the container port named `inbound`)."""
    with shop.node.client() as kube:
        pods = kube.list(POD, shop.namespace, label_selector="app=gateway")
    (pod,) = pods
    ports = [p for c in pod["spec"]["containers"] for p in c.get("ports", [])]
    inbound = next(p["containerPort"] for p in ports if p.get("name") == "inbound")
    return f"{pod['status']['podIP']}:{inbound}"


def test_every_part_with_a_loaded_image_becomes_ready_on_the_node(
    shop: ShopOnNode, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each part's pod is Running and Ready, and `status` says so per part; Prometheus's
    is not, and `status` names why."""
    assert shop.up_code == 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MESHPROOF_STATE_DIR", str(shop.state_dir))
        capsys.readouterr()
        assert main(["status", "shop", "--json"]) == 1  # not everything is ready
    report = yaml.safe_load(capsys.readouterr().out)
    parts = {p["name"]: p for p in report["processes"]}
    assert INSTANCES | {"control-plane", "toxiproxy", "trace-sink"} | UNLOADED == set(parts)
    for name, part in parts.items():
        if name in UNLOADED:
            assert part["ready"] is False and "ErrImageNeverPull" in part["reason"], part
        else:
            assert (part["phase"], part["ready"]) == ("Running", True), (name, part)


def spans_of(shop: ShopOnNode, trace_id: str) -> list[dict[str, Any]]:
    """The spans of `trace_id` the trace sink wrote into its pod's emptyDir (read from the
    host, under the kubelet's root dir)."""
    with shop.node.client() as kube:
        (pod,) = kube.list(POD, shop.namespace, label_selector="meshproof.part=trace-sink")
    volumes = shop.node.kubelet_root / "pods" / pod["metadata"]["uid"] / "volumes"
    found = []
    for path in volumes.glob("kubernetes.io~empty-dir/*/spans.jsonl"):
        lines = path.read_text(encoding="utf-8").splitlines()
        found += [json.loads(line) for line in lines if trace_id in line]
    return found


def test_a_request_through_the_gateway_has_its_whole_trace_in_the_sink(
    shop: ShopOnNode,
) -> None:
    """From the host to the gateway pod over the node's bridge: 200, answered by the whole
    call graph, and every hop's spans (app and sidecar, in and out) reach the trace sink."""
    url = f"http://{gateway_address(shop)}/"
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    response = requests.get(url, headers={"traceparent": traceparent}, timeout=10)
    assert response.status_code == 200, response.text
    body: Any = response.json()
    assert body["instance"] == "gateway-0"
    (frontend,) = body["calls"]
    assert {call["service"] for call in frontend["calls"]} == {"catalog", "cart"}
    assert all(call["status"] == 200 for call in frontend["calls"])

    def whole_trace() -> list[dict[str, Any]]:
        found = spans_of(shop, TRACE_ID)
        handled = {s["service"] for s in found if s["name"].endswith(" handle")}
        return found if handled == SERVICES and len(found) >= 14 else []

    found = poll(whole_trace, timeout=30, interval=0.5, what="the request's whole trace")
    assert len([s for s in found if s["name"].startswith("inbound")]) == 5
    assert len([s for s in found if s["name"].startswith("outbound")]) == 4


def test_down_leaves_nothing_with_the_label_and_no_container(shop: ShopOnNode) -> None:
    """`down` deletes every labelled object and the node ends up running no container."""
    dep = shop.deployment_id()
    assert labelled(shop.node, shop.namespace, dep)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MESHPROOF_STATE_DIR", str(shop.state_dir))
        began = time.monotonic()
        assert main(["down", "shop"]) == 0
        down_s = time.monotonic() - began
    assert labelled(shop.node, shop.namespace, dep) == []
    with shop.node.client() as kube:
        poll(
            lambda: not kube.list(POD, shop.namespace),
            timeout=60,
            interval=0.5,
            what="the shop's pods gone",
        )
    print(f"node: up {shop.up_s:.1f}s, down {down_s:.1f}s, timings {shop.node.timings}")
