"""What the node tests share (tests/integration/kube/node/): the shop topology, its instances,
`ShopOnNode` (the `shop` fixture's value), a namespace of its own per use, and finding or
replacing a part's pod."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.kube.localnode import LocalNode
from mesh_runtime.kube.resources import NAMESPACE, POD
from tests.conftest import poll
from tests.integration.faults.faultkit import ROOT

SHOP = ROOT / "experiments" / "topologies" / "shop.yaml"
INSTANCES = {"gateway-0", "frontend-0", "catalog-0", "catalog-1", "cart-0", "inventory-0"}


def new_namespace(node: LocalNode, prefix: str) -> str:
    namespace = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with node.client() as kube:
        kube.create(NAMESPACE, None, {"metadata": {"name": namespace}})
    return namespace


@dataclass
class ShopOnNode:
    node: LocalNode
    namespace: str
    state_dir: Path
    up_code: int
    up_s: float

    def deployment_id(self) -> str:
        saved = yaml.safe_load((self.state_dir / "deployments" / "shop.json").read_text())
        return str(saved["kubernetes"]["deployment_id"])


def pod_address(shop: ShopOnNode, selector: str, port_name: str) -> str:
    """`address:port` of the one pod matching `selector` on the node's bridge, at its
    container port named `port_name`."""
    with shop.node.client() as kube:
        (pod,) = kube.list(POD, shop.namespace, label_selector=selector)
    ports = [p for c in pod["spec"]["containers"] for p in c.get("ports", [])]
    number = next(p["containerPort"] for p in ports if p.get("name") == port_name)
    return f"{pod['status']['podIP']}:{number}"


def ready_pod(shop: ShopOnNode, part: str, not_uid: str = "") -> dict[str, Any] | None:
    """The part's pod once it is Ready (and is not the pod `not_uid`), else None."""
    with shop.node.client() as kube:
        pods = kube.list(POD, shop.namespace, label_selector=f"meshproof.part={part}")
    for pod in pods:
        conditions = (pod.get("status") or {}).get("conditions") or []
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        if (
            ready
            and pod["metadata"]["uid"] != not_uid
            and not pod["metadata"].get("deletionTimestamp")
        ):
            return pod
    return None


def replace_pod(shop: ShopOnNode, part: str) -> None:
    """Delete the part's pod and wait until the one its Deployment makes is Ready."""
    old = ready_pod(shop, part)
    assert old is not None
    with shop.node.client() as kube:
        kube.delete(POD, shop.namespace, old["metadata"]["name"])
    uid = old["metadata"]["uid"]
    poll(lambda: ready_pod(shop, part, uid), timeout=60, interval=0.5, what=f"a new {part} pod")
