"""The shop on a real single-node cluster (tests/fixtures/node.py: kubelet, containerd,
CNI bridge, kube-proxy, CoreDNS, kube-router's firewall): `up --runtime kubernetes`
returns once every part's pod is Ready (the sidecars find the control plane by its
Service name, through cluster DNS and kube-proxy), `status` says so, a request through
the gateway's pod is answered by the whole call graph and its whole trace reaches the
trace sink, Prometheus finds every sidecar by Kubernetes discovery (through the
`kubernetes` Service to the API server), and `down` leaves nothing with the label and no
pod on the node. A process kill and a container pause signal the containers' processes
from inside their pods (pods/exec): the kubelet restarts a killed sidecar, and `meshproof
recover` resumes exactly the processes a SIGKILLed harness had paused. A
network_disconnect (a deny-all NetworkPolicy, enforced by the node's kube-router) cuts one
catalog pod off from new connections until reverted, and fails, leaving no policy, while
the controller is stopped. Then, on the same cluster, `meshproof run --runtime
kubernetes` carries experiments out from the host (the mesh reached at its Services'
ClusterIPs): retry-masks-503, pod-delete and pause-and-kill pass. One cluster for the
whole module; one shop at a time on it."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
import yaml

from harness.cli.main import main
from harness.errors import FaultError
from harness.faults.base import FaultContext
from harness.faults.kinds import REGISTRY
from harness.faults.kube_network import connect_command
from harness.faults.kube_process import PodContainer, container_status, list_processes
from harness.faults.undo import RollbackExecutor
from harness.kube.localnode import LocalNode
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.kube.errors import KubeNotFound
from mesh_runtime.kube.resources import (
    CONFIG_MAP,
    DEPLOYMENT,
    NAMESPACE,
    NETWORK_POLICY,
    POD,
    SECRET,
    SERVICE,
    Resource,
)
from mesh_runtime.runtimes import ToxiproxyClient
from mesh_runtime.runtimes.deployment import KubernetesPlacement
from mesh_runtime.runtimes.deployment import load as load_state
from mesh_runtime.runtimes.kubernetes.loadworkers import GRACE_S, load_worker_pods
from mesh_runtime.runtimes.kubernetes.runtime import KubernetesRuntime
from tests.conftest import poll
from tests.integration.faults.faultkit import ROOT, harness_process, recover, wait_for_line

pytestmark = pytest.mark.integration

SHOP = ROOT / "experiments" / "topologies" / "shop.yaml"
RETRY_MASKS_503 = ROOT / "experiments" / "retry-masks-503.yaml"
POD_DELETE = ROOT / "experiments" / "pod-delete.yaml"
KUBE_ROLLOUT = ROOT / "experiments" / "kube-rollout.yaml"
PAUSE_AND_KILL = ROOT / "experiments" / "pause-and-kill.yaml"
HERE = Path(__file__).resolve().parent
INSTANCES = {"gateway-0", "frontend-0", "catalog-0", "catalog-1", "cart-0", "inventory-0"}
SERVICES = {"gateway", "frontend", "catalog", "cart", "inventory"}
EVENT = Resource("", "v1", "events", "Event")
TRACE_ID = "5d2f9e1c8b7a6f5e4d3c2b1a09f8e7d6"


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


@pytest.fixture(scope="module")
def shop(local_node: LocalNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopOnNode]:
    """`meshproof up shop --runtime kubernetes` on the node (waiting for readiness), timed."""
    namespace = new_namespace(local_node, "node")
    state_dir = tmp_path_factory.mktemp("node-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MESHPROOF_STATE_DIR", str(state_dir))
        flags = ["--kubeconfig", str(local_node.kubeconfig), "--namespace", namespace]
        began = time.monotonic()
        code = main(["up", str(SHOP), "--runtime", "kubernetes", *flags])
        shop = ShopOnNode(local_node, namespace, state_dir, code, time.monotonic() - began)
        try:
            yield shop
        finally:
            if (state_dir / "deployments" / "shop.json").exists():
                main(["down", "shop"])


def labelled(node: LocalNode, namespace: str, deployment: str) -> list[tuple[str, str]]:
    placement = KubernetesPlacement(kubeconfig="-", namespace=namespace, deployment_id=deployment)
    with node.client() as kube:
        found = KubernetesRuntime().labelled(kube, placement)
        return [(r.kind, o["metadata"]["name"]) for r, o in found]


def pod_address(shop: ShopOnNode, selector: str, port_name: str) -> str:
    """`address:port` of the one pod matching `selector` on the node's bridge, at its
    container port named `port_name`."""
    with shop.node.client() as kube:
        (pod,) = kube.list(POD, shop.namespace, label_selector=selector)
    ports = [p for c in pod["spec"]["containers"] for p in c.get("ports", [])]
    number = next(p["containerPort"] for p in ports if p.get("name") == port_name)
    return f"{pod['status']['podIP']}:{number}"


def test_up_waits_until_every_part_is_ready_on_the_node(
    shop: ShopOnNode, capsys: pytest.CaptureFixture[str]
) -> None:
    """`up` succeeded (it waits for readiness) and `status` says each part's pod is
    Running and Ready."""
    assert shop.up_code == 0
    capsys.readouterr()
    assert main(["status", "shop", "--json"]) == 0
    report = yaml.safe_load(capsys.readouterr().out)
    parts = {p["name"]: p for p in report["processes"]}
    assert INSTANCES | {"control-plane", "toxiproxy", "trace-sink", "prometheus"} == set(parts)
    for name, part in parts.items():
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
    url = f"http://{pod_address(shop, 'app=gateway', 'inbound')}/"
    # The mesh's first request may meet an endpoint kube-proxy has not synced yet and be
    # retried (one more outbound span); the traced request is the second.
    requests.get(url, timeout=10)
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


def test_prometheus_discovers_every_sidecar_through_the_api_server(shop: ShopOnNode) -> None:
    """Prometheus' Kubernetes discovery (in-cluster, through the `kubernetes` Service)
    finds each instance's sidecar admin port, and every one is scraped up."""
    url = f"http://{pod_address(shop, 'meshproof.part=prometheus', 'http')}/api/v1/targets"

    def up_instances() -> set[str]:
        targets = requests.get(url, timeout=5).json()["data"]["activeTargets"]
        return {t["labels"].get("instance", "") for t in targets if t["health"] == "up"}

    poll(lambda: up_instances() == INSTANCES, timeout=60, interval=1, what="sidecar targets up")


def catalog_calls(url: str, count: int) -> list[tuple[int, int, float]]:
    """(user-facing status, frontend's call to catalog: status, ms) of `count` requests."""
    out = []
    for _ in range(count):
        answer = requests.get(url, timeout=10)
        (frontend,) = answer.json()["calls"]
        (catalog,) = [c for c in frontend.get("calls", []) if c["service"] == "catalog"]
        out.append((answer.status_code, catalog["status"], catalog["ms"]))
    return out


def test_toxics_and_l7_faults_act_through_the_clusters_services(shop: ShopOnNode) -> None:
    """Through the fault-kind registry, with the handle `up` saved (ClusterIPs): a latency
    toxic on frontend->catalog through the in-cluster Toxiproxy slows every catalog call,
    an abort on catalog through the control plane's API (pushed to every sidecar) is what
    the frontend gets; after each revert, calls are fast and answered again."""
    deployment = load_state(shop.state_dir / "deployments" / "shop.json")
    assert deployment.control_url and deployment.toxiproxy_url
    ctx = FaultContext(
        deployment=deployment,
        control=ControlPlaneClient(deployment.control_url, deployment.control_token),
        toxiproxy=ToxiproxyClient(deployment.toxiproxy_url),
        run="node-test",
    )
    faults = [
        {"kind": "toxic", "target": "frontend->catalog", "params": {"type": "latency",
         "attributes": {"latency": 400}}},
        {"kind": "mesh_fault", "target": "catalog", "params": {"abort": {"httpStatus": 418,
         "percentage": 100}}},
    ]  # fmt: skip
    seen = []
    for raw in faults:
        fault = REGISTRY.kind(raw["kind"]).model.model_validate({"name": "f", **raw})
        injector = REGISTRY.make_injector(fault, ctx)
        injector.rollback_entry()
        injector.apply()
        try:
            seen.append(catalog_calls(deployment.ingress_url, 3))
        finally:
            injector.revert()
    slowed, aborted = seen
    assert all(status == 200 and ms >= 400 for _, status, ms in slowed), slowed
    assert all(status == 418 for _, status, _ in aborted), aborted
    after = catalog_calls(deployment.ingress_url, 3)
    assert all((user, status) == (200, 200) and ms < 400 for user, status, ms in after), after


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


def root_pem(url: str) -> str:
    """The control plane's CA root, '' while it does not answer."""
    try:
        answer = requests.get(url, timeout=5)
    except requests.RequestException:
        return ""
    return answer.text if answer.status_code == 200 else ""


def test_a_new_control_plane_pod_keeps_the_meshs_ca(shop: ShopOnNode) -> None:
    """The CA root lives in the control-plane Secret: a new control-plane pod serves the
    same root, and a sidecar that gets its identity from that new pod (catalog-1's, in a
    new pod too) talks mTLS with the sidecars whose identities the old pod signed."""
    saved = yaml.safe_load((shop.state_dir / "deployments" / "shop.json").read_text())
    root_url = f"{saved['control_url']}/v1/certificates/root"
    before = root_pem(root_url)
    assert "BEGIN CERTIFICATE" in before
    replace_pod(shop, "control-plane")
    after = poll(lambda: root_pem(root_url), timeout=30, interval=0.5, what="the root served")
    assert after == before
    replace_pod(shop, "catalog-1")
    answered: dict[str, int] = {}
    for _ in range(40):
        body = requests.get(saved["ingress_url"], timeout=10).json()
        (frontend,) = body["calls"]
        for call in frontend["calls"]:
            key = f"{call.get('instance')} {call['status']}"
            answered[key] = answered.get(key, 0) + 1
    assert answered.get("catalog-1 200", 0) > 0, answered  # its new identity is trusted
    assert all(key.endswith(" 200") for key in answered), answered


def gateway_status(shop: ShopOnNode) -> int:
    """The status of one request through the gateway's pod (0: no answer)."""
    try:
        url = f"http://{pod_address(shop, 'app=gateway', 'inbound')}/"
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return 0


def test_a_killed_sidecar_is_restarted_by_the_kubelet_in_its_pod(shop: ShopOnNode) -> None:
    """process_kill through the registry on the handle `up` saved: frontend-0's sidecar
    (not the pod's PID 1: the pod shares its process namespace) is SIGKILLed from inside
    its pod, the gateway's calls through it fail, the kubelet starts the container again in
    the same pod (restart count + 1), and revert returns once it is ready: answered again."""
    deployment = load_state(shop.state_dir / "deployments" / "shop.json")
    ctx = FaultContext(deployment=deployment, run="node-test")
    before = ready_pod(shop, "frontend-0")
    assert before is not None
    restarts = container_status(before, "sidecar").get("restartCount", 0)
    fault = REGISTRY.kind("process_kill").model.model_validate(
        {"name": "k", "kind": "process_kill", "target": "sidecar:frontend-0"}
    )
    injector = REGISTRY.make_injector(fault, ctx)
    entry = injector.rollback_entry()
    assert entry.steps[0].action == "kube_container_ready"
    injector.apply()
    failed = poll(lambda: gateway_status(shop) >= 500, timeout=10, interval=0.2, what="a failure")
    assert failed
    injector.revert()
    after = ready_pod(shop, "frontend-0")
    assert after is not None and after["metadata"]["uid"] == before["metadata"]["uid"]
    assert container_status(after, "sidecar")["restartCount"] == restarts + 1
    poll(lambda: gateway_status(shop) == 200, timeout=30, interval=0.5, what="answered again")
    print(f"SIGKILL to the sidecar ready again: {getattr(injector, 'timings', None)}")


def test_recover_resumes_exactly_what_a_dead_harness_paused(
    shop: ShopOnNode, tmp_path: Path
) -> None:
    """A harness paused cart-0's sidecar container (container_pause) and was SIGKILLed: the
    ledger names every process it stopped (pid and start time), those are exactly the
    container's processes (their cgroup holds the container id the pod status gives), all
    stopped (T); `meshproof recover` resumes them, and a second recover finds nothing."""
    ledger = tmp_path / "run" / "faults.ledger.jsonl"
    state_file = shop.state_dir / "deployments" / "shop.json"
    args = (str(tmp_path / "state"), str(ledger), str(state_file))
    with harness_process(HERE / "dying_kube_pause_harness.py", *args, "container_pause",
                         "sidecar:cart-0") as child:  # fmt: skip
        wait_for_line(child, "APPLIED", timeout=60)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    (line,) = [json.loads(text) for text in ledger.read_text().splitlines()]
    (step,) = line["entry"]["steps"]
    assert step["action"] == "kube_resume_processes"
    where = PodContainer.model_validate(step["where"])
    stopped = [tuple(p) for p in step["processes"]]
    with shop.node.client() as kube:
        container_id = container_status(kube.get(POD, shop.namespace, where.pod), "sidecar")[
            "containerID"
        ].partition("://")[2]
        paused = list_processes(kube, where).own_container()
        assert [(p.pid, p.start) for p in paused] == stopped
        assert all(p.state == "T" and container_id in p.cgroup for p in paused), paused
        assert all(p.pid != 1 for p in paused)
        done = recover(tmp_path / "state")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "undone" in done.stdout and "paused" in done.stdout
        resumed = list_processes(kube, where).own_container()
    assert [(p.pid, p.start) for p in resumed] == stopped
    assert all(p.state != "T" for p in resumed), resumed
    assert "nothing to recover" in recover(tmp_path / "state").stdout


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


def run_on_node(
    node: LocalNode, experiment: Path, tmp_path: Path, *flags: str
) -> tuple[int, dict[str, Any], str]:
    """`meshproof run EXPERIMENT --runtime kubernetes` on the node in a namespace of its
    own; (exit code, run.json, namespace). No Deployment, Service or Secret is left."""
    namespace = new_namespace(node, "run")
    out = tmp_path / "reports"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MESHPROOF_STATE_DIR", str(tmp_path / "state"))
        kube_flags = ["--kubeconfig", str(node.kubeconfig), "--namespace", namespace]
        began = time.monotonic()
        code = main(["run", str(experiment), "--runtime", "kubernetes", *kube_flags, *flags])
        took = time.monotonic() - began
    (record,) = [json.loads(p.read_text()) for p in out.glob("*/run.json")]
    load_s = record["duration_s"]
    print(f"run {experiment.name} on the node: {took:.1f}s (the load and its drain {load_s:.1f}s)")
    with node.client() as kube:  # torn down: the pods may still be terminating
        left = [o for r in (DEPLOYMENT, SERVICE, SECRET) for o in kube.list(r, namespace)]
    assert [o["metadata"]["name"] for o in left] == []
    return code, record, namespace


def test_retry_masks_503_passes_on_the_node(
    shop: ShopOnNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The library's retry-masks-503, scaled to 12 s: deployed, loaded from the host
    through the gateway's Service, the catalog-1 fault applied through its Service, metrics
    from the in-cluster Prometheus (retries counted), every trace complete in the sink.
    Its Locust worker is a pod (the load image) connected to the master on the node's
    address; the resources table has every sidecar's and app's CPU and memory (the
    kubelet's resource metrics), the worker pod's as the harness's."""
    flags = ["--duration", "12s", "--out", str(tmp_path / "reports"), "--quiet"]
    flags += ["--load-master-bind", shop.node.network.node_ip]
    code, record, _ = run_on_node(shop.node, RETRY_MASKS_503, tmp_path, *flags)
    assert code == 0, capsys.readouterr().out
    assert (record["status"], record["runtime"]) == ("passed", "kubernetes")
    assert record["metrics_source"] == "prometheus"
    retries = next(v for v in record["verdicts"] if v["metric"] == "retries_per_krequests")
    assert retries["value"] > 10
    assert record["traces"]["requests"] > 1000
    assert record["summary"]["trace_completeness"] >= 0.99
    # Resources from the kubelet's resource metrics (through the API server's node proxy):
    # every instance's sidecar and app, the sidecar SLO signals measured.
    (table,) = (tmp_path / "reports").glob("*/resources.parquet")
    resources = pd.read_parquet(table)
    named = set(zip(resources["role"], resources["name"], strict=True))
    sidecars = {("sidecar", f"{instance}-sidecar") for instance in INSTANCES}
    assert sidecars | {("service", instance) for instance in INSTANCES} <= named
    assert ("harness", "load-worker-0") in named  # the worker pod's, from the kubelet
    assert ("harness", "orchestrator") in named  # this machine's, from psutil
    (worker,) = record["load_workers"]
    assert worker["client_id"].startswith("load-worker-0_") and worker["status"] == "done", worker
    assert worker["records"] == worker["share"] > 1000
    summary = record["summary"]
    print(
        f"sidecar cores per 1000 rps {summary['sidecar_cpu_per_krps']}, rss {summary['sidecar_rss_mb']} MB"
    )
    assert 0.05 < summary["sidecar_cpu_per_krps"] < 20
    assert 5 < summary["sidecar_rss_mb"] < 1000


def test_a_deleted_pod_is_replaced_and_retries_hide_it(
    shop: ShopOnNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """experiments/pod-delete.yaml scaled to 16 s: catalog-1's pod is deleted through the
    API (the ledger names it), its Deployment makes a new pod that turns Ready during the
    run, and the frontend's retries keep the user-facing errors under 1 %."""
    flags = ["--duration", "16s", "--out", str(tmp_path / "reports"), "--quiet"]
    code, record, namespace = run_on_node(shop.node, POD_DELETE, tmp_path, *flags)
    assert code == 0, capsys.readouterr().out
    (fault,) = record["faults"]
    assert (fault["name"], fault["kind"]) == ("catalog-1-pod-deleted", "pod_delete"), fault
    ledger = (tmp_path / "reports").glob("*/faults.ledger.jsonl")
    (lines,) = [p.read_text() for p in ledger]
    assert "kube_pod_deleted" in lines and "catalog-1-" in lines
    with shop.node.client() as kube:  # events carry no label: `down` leaves them
        events = kube.list(EVENT, namespace)
    created = [
        e["message"]
        for e in events
        if e["reason"] == "SuccessfulCreate"
        and e["involvedObject"]["name"].startswith("catalog-1-")
    ]
    assert len(created) == 2, created  # the first pod, and the one replacing it
    assert record["status"] == "passed"


def test_a_control_plane_outage_then_a_rollout_of_a_services_sidecars(
    local_node: LocalNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """experiments/kube-rollout.yaml narrowed to catalog's two instances and 25 s (the
    whole shop's rollout takes 25-35 s here): the control plane's Deployment scaled to 0
    and back while the sidecars serve on (no error), then a rollout restart of catalog-0's
    and catalog-1's Deployments in turn, each ending on a pod of a new ReplicaSet; the
    ledger holds both Deployments' snapshots and the control plane's."""
    experiment = yaml.safe_load(KUBE_ROLLOUT.read_text())
    experiment["target"]["topology"] = str(SHOP)
    experiment["load"]["duration"] = "25s"
    experiment["faults"][1]["target"] = "catalog"
    experiment["slos"] = ["error_rate < 0.001 during:control-plane-down", "error_rate < 0.01"]
    path = tmp_path / "kube-rollout-catalog.yaml"
    path.write_text(yaml.safe_dump(experiment), encoding="utf-8")
    flags = ["--out", str(tmp_path / "reports"), "--quiet"]
    code, record, namespace = run_on_node(local_node, path, tmp_path, *flags)
    assert code == 0, capsys.readouterr().out
    assert {f["name"] for f in record["faults"]} == {"control-plane-down", "roll-sidecars"}
    with local_node.client() as kube:  # events carry no label: `down` leaves them
        events = kube.list(EVENT, namespace)
    scaled = [e["message"] for e in events if e["reason"] == "ScalingReplicaSet"]
    for instance in INSTANCES:  # catalog's rolled over (a second ReplicaSet), no other
        ups = [m for m in scaled if f"set {instance}-" in m and "Scaled up" in m]
        assert len(ups) == (2 if instance.startswith("catalog-") else 1), (instance, scaled)
    assert any("set control-plane-" in m and "Scaled down" in m for m in scaled), scaled
    (lines,) = [p.read_text() for p in (tmp_path / "reports").glob("*/faults.ledger.jsonl")]
    assert lines.count('"finish_kube_rollout"') == 2
    assert '"restore_kube_object"' in lines
    assert record["status"] == "passed"


def test_a_worker_pod_whose_master_is_gone_goes_at_once(local_node: LocalNode) -> None:
    """A Locust worker pod still connecting to a master that is not there (Locust retries
    for 5 minutes) ends on SIGTERM, so deleting it takes well under its grace period
    (before: its PID 1 had no handler yet, the kernel dropped SIGTERM and the kubelet
    waited the whole GRACE_S before SIGKILL)."""
    namespace = new_namespace(local_node, "worker")
    master = f"{local_node.network.node_ip}:9"  # nothing listens there
    (pod,) = load_worker_pods("no-master", namespace, master, 1)
    logs = local_node.work_dir / "kubelet" / "pod-logs"
    with local_node.client() as kube:
        kube.create(POD, namespace, pod)

        def connecting() -> bool:
            found = logs.glob(f"{namespace}_{pod['metadata']['name']}_*/*/*.log")
            return any("connecting to the Locust master" in p.read_text() for p in found)

        poll(connecting, timeout=90, interval=0.2, what="the worker connecting")
        began = time.monotonic()
        kube.delete(POD, namespace, pod["metadata"]["name"])

        def gone() -> bool:
            try:
                kube.get(POD, namespace, pod["metadata"]["name"])
            except KubeNotFound:
                return True
            return False

        poll(gone, timeout=30, interval=0.1, what="the worker pod gone")
        took = time.monotonic() - began
    print(f"worker pod without its master: gone {took:.2f}s after its deletion")
    assert took < GRACE_S, took


def test_a_paused_control_plane_and_a_killed_sidecar_do_not_reach_users_on_the_node(
    local_node: LocalNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """experiments/pause-and-kill.yaml scaled to 16 s: the control plane paused, later
    catalog-0's sidecar killed, each from inside its pod (the ledger names the stopped
    processes and the container to wait for); the kubelet starts the sidecar again within
    the run; the sidecars' last good config and the frontend's retries keep the
    user-facing errors under 1 %."""
    flags = ["--duration", "16s", "--out", str(tmp_path / "reports"), "--quiet"]
    code, record, namespace = run_on_node(local_node, PAUSE_AND_KILL, tmp_path, *flags)
    assert code == 0, capsys.readouterr().out
    assert [(f["kind"], f["target"]) for f in record["faults"]] == [
        ("process_pause", "control-plane"),
        ("process_kill", "sidecar:catalog-0"),
    ]
    (lines,) = [p.read_text() for p in (tmp_path / "reports").glob("*/faults.ledger.jsonl")]
    assert "kube_resume_processes" in lines and "kube_container_ready" in lines
    with local_node.client() as kube:  # events carry no label: `down` leaves them
        events = kube.list(EVENT, namespace)
    started = sum(
        e.get("count", 1)
        for e in events
        if e["reason"] == "Started"
        and e["involvedObject"]["name"].startswith("catalog-0-")
        and e["involvedObject"].get("fieldPath") == "spec.containers{sidecar}"
    )
    assert started == 2  # the first start, and the kubelet's after the kill
    assert record["status"] == "passed"
