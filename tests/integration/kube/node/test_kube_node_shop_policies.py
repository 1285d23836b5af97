"""The shop on the node (conftest.py), continued: the control plane keeps its policy
changes and version in a ConfigMap across a new pod; a network_disconnect (a deny-all
NetworkPolicy, enforced by the node's kube-router) cuts one catalog pod off from new
connections until reverted, and fails, leaving no policy, while the controller is
stopped; and `down` leaves nothing with the label and no pod on the node."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.cli.main import main
from harness.errors import FaultError
from harness.faults.base import FaultContext
from harness.faults.kinds import REGISTRY
from harness.faults.kube_network import connect_command
from harness.faults.undo import RollbackExecutor
from harness.kube.localnode import LocalNode
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.kube.resources import CONFIG_MAP, NETWORK_POLICY, POD
from mesh_runtime.runtimes.deployment import KubernetesPlacement
from mesh_runtime.runtimes.deployment import load as load_state
from mesh_runtime.runtimes.kubernetes.runtime import KubernetesRuntime
from tests.conftest import poll
from tests.integration.kube.node.shopkit import ShopOnNode, pod_address, replace_pod

pytestmark = pytest.mark.integration


def labelled(node: LocalNode, namespace: str, deployment: str) -> list[tuple[str, str]]:
    placement = KubernetesPlacement(kubeconfig="-", namespace=namespace, deployment_id=deployment)
    with node.client() as kube:
        found = KubernetesRuntime().labelled(kube, placement)
        return [(r.kind, o["metadata"]["name"]) for r, o in found]


def state_version(shop: ShopOnNode) -> int:
    """The config version saved in the control plane's state ConfigMap (-1: none yet)."""
    with shop.node.client() as kube:
        data = kube.get(CONFIG_MAP, shop.namespace, "control-plane-state").get("data") or {}
    text = data.get("mesh-config.json")
    return int(json.loads(text)["version"]) if text else -1


def sidecar_dump(shop: ShopOnNode, instance: str, token: str) -> dict[str, Any]:
    """The instance's sidecar /config_dump, read at its pod's admin port."""
    address = pod_address(shop, f"meshproof.part={instance}", "admin")
    headers = {"Authorization": f"Bearer {token}"}
    answer = requests.get(f"http://{address}/config_dump", headers=headers, timeout=5)
    answer.raise_for_status()
    dump: dict[str, Any] = answer.json()
    return dump


def test_a_new_control_plane_pod_keeps_the_policy_changes_and_version(
    shop: ShopOnNode,
) -> None:
    """The control plane keeps its config in the ConfigMap control-plane-state: after a
    policy change through its API and its pod replaced, the new pod serves the changed
    policy at the same version (not the initial config), and a sidecar that polled the
    new pod still runs it."""
    deployment = load_state(shop.state_dir / "deployments" / "shop.json")
    assert deployment.control_url and deployment.control_token
    assert deployment.admin_token_file
    admin_token = Path(deployment.admin_token_file).read_text(encoding="utf-8").strip()
    control = ControlPlaneClient(deployment.control_url, deployment.control_token)
    original = control.config().services["catalog"].policy
    version = control.patch_policy(
        "catalog", {"trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}}}
    )
    try:
        poll(lambda: state_version(shop) == version, timeout=10, interval=0.2, what="saved")
        replace_pod(shop, "control-plane")
        poll(control.ready, timeout=30, interval=0.2, what="the new control plane")
        config = control.config()
        assert config.version == version
        balancer = config.services["catalog"].policy.trafficPolicy.loadBalancer.simple
        assert balancer == "LEAST_REQUEST"

        def polled_the_new_pod() -> bool:
            report = control.status()["sidecars"].get("frontend-0") or {}
            return report.get("applied") == version

        poll(polled_the_new_pod, timeout=30, interval=0.2, what="frontend-0 polling it")
        dump = sidecar_dump(shop, "frontend-0", admin_token)
        assert dump["version"] == version
        catalog = dump["services"]["catalog"]["policy"]["trafficPolicy"]["loadBalancer"]
        assert catalog["simple"] == "LEAST_REQUEST"
    finally:
        restored = control.put_policy("catalog", original)
        poll(lambda: state_version(shop) == restored, timeout=10, interval=0.2, what="restored")


def new_connection(shop: ShopOnNode, from_part: str, to_part: str) -> bool:
    """Whether a new TCP connection from `from_part`'s pod (its app container, by exec) to
    `to_part`'s pod, at its sidecar's inbound port, is accepted."""
    with shop.node.client() as kube:
        (source,) = kube.list(POD, shop.namespace, label_selector=f"meshproof.part={from_part}")
        address, port = pod_address(shop, f"meshproof.part={to_part}", "inbound").split(":")
        result = kube.exec(
            shop.namespace,
            source["metadata"]["name"],
            "app",
            connect_command(address, int(port), timeout_s=2),
        )
    assert result.exit_code in (0, 1), result
    return result.exit_code == 0


def test_network_disconnect_cuts_one_catalog_pod_off_until_reverted(shop: ShopOnNode) -> None:
    """network_disconnect through the registry on catalog-1 (kube-router enforces the
    NetworkPolicy on the node): after apply a new connection from frontend-0's pod to
    catalog-1's is refused while catalog-0's is accepted; revert deletes the policy and
    catalog-1 is reached again. A second one, left applied, is undone by its ledger entry
    alone (as `meshproof recover` does): exactly its policy deleted."""
    deployment = load_state(shop.state_dir / "deployments" / "shop.json")
    ctx = FaultContext(deployment=deployment, run="node-test")
    kind = REGISTRY.kind("network_disconnect")

    def disconnect(name: str) -> Any:
        fault = kind.model.model_validate(
            {"name": name, "kind": "network_disconnect", "target": "catalog-1"}
        )
        return REGISTRY.make_injector(fault, ctx)

    def policies() -> list[str]:
        with shop.node.client() as kube:
            return [p["metadata"]["name"] for p in kube.list(NETWORK_POLICY, shop.namespace)]

    assert new_connection(shop, "frontend-0", "catalog-1")
    injector = disconnect("cut")
    (step,) = injector.rollback_entry().steps
    assert step.action == "restore_kube_object"
    injector.apply()
    try:
        (name,) = policies()
        assert name.startswith("meshproof-disconnect-catalog-1-")
        assert not new_connection(shop, "frontend-0", "catalog-1")
        assert new_connection(shop, "frontend-0", "catalog-0")
    finally:
        injector.revert()
    assert policies() == []
    assert new_connection(shop, "frontend-0", "catalog-1")
    print(f"network_disconnect on the node: {injector.timings}")

    left = disconnect("left")
    entry = left.rollback_entry().to_json()
    left.apply()
    assert len(policies()) == 1
    RollbackExecutor()(json.loads(json.dumps(entry)))
    assert policies() == []
    poll(
        lambda: new_connection(shop, "frontend-0", "catalog-1"),
        timeout=30,
        interval=0.5,
        what="catalog-1 reached again",
    )


def test_network_disconnect_fails_and_leaves_nothing_where_policy_is_not_enforced(
    shop: ShopOnNode,
) -> None:
    """With the node's policy controller stopped (SIGSTOP), the NetworkPolicy changes
    nothing: apply fails within its 10 s, naming the missing enforcement, and deletes the
    policy again; catalog-1 is reached all along."""
    deployment = load_state(shop.state_dir / "deployments" / "shop.json")
    ctx = FaultContext(deployment=deployment, run="node-test")
    fault = REGISTRY.kind("network_disconnect").model.model_validate(
        {"name": "unenforced", "kind": "network_disconnect", "target": "catalog-1"}
    )
    injector = REGISTRY.make_injector(fault, ctx)
    injector.rollback_entry()
    controller = shop.node.process("kube-router")
    assert controller is not None
    os.kill(controller.popen.pid, signal.SIGSTOP)
    try:
        with pytest.raises(FaultError, match="does not seem to enforce NetworkPolicy"):
            injector.apply()
    finally:
        os.kill(controller.popen.pid, signal.SIGCONT)
    with shop.node.client() as kube:
        assert kube.list(NETWORK_POLICY, shop.namespace) == []
    assert new_connection(shop, "frontend-0", "catalog-1")


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
