"""The shop on a real single-node cluster (tests/fixtures/node.py: kubelet, containerd,
CNI bridge, kube-proxy, CoreDNS, kube-router's firewall; the node and the shop are this
folder's, conftest.py): `up --runtime kubernetes` returns once every part's pod is Ready
(the sidecars find the control plane by its Service name, through cluster DNS and
kube-proxy), `status` says so, a request through the gateway's pod is answered by the
whole call graph and its whole trace reaches the trace sink, Prometheus finds every
sidecar by Kubernetes discovery (through the `kubernetes` Service to the API server),
toxics and L7 faults act through the cluster's Services, and a new control-plane pod keeps
the mesh's CA. A process kill and a container pause signal the containers' processes from
inside their pods (pods/exec): the kubelet restarts a killed sidecar, and `meshproof
recover` resumes exactly the processes a SIGKILLed harness had paused."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from harness.cli.main import main
from harness.faults.base import FaultContext
from harness.faults.kinds import REGISTRY
from harness.faults.kube_process import PodContainer, container_status, list_processes
from harness.faults.kube_rollout import finish_rollout
from harness.kube.changes import ObjectChange, apply, read
from harness.kube.patches.workloads import restart_patch
from harness.kube.state import ObjectRef, ObjectState
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.kube.resources import DEPLOYMENT, POD
from mesh_runtime.runtimes import ToxiproxyClient
from mesh_runtime.runtimes.deployment import load as load_state
from mesh_runtime.sidecar.telemetry.tracing import HTTP_STATUS, RETRY_ATTEMPT
from tests.conftest import poll
from tests.integration.faults.faultkit import harness_process, recover, wait_for_line
from tests.integration.kube.node.shopkit import (
    INSTANCES,
    ShopOnNode,
    pod_address,
    ready_pod,
    replace_pod,
)

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
SERVICES = {"gateway", "frontend", "catalog", "cart", "inventory"}
TRACE_ID = "5d2f9e1c8b7a6f5e4d3c2b1a09f8e7d6"
ROOT_SPAN = "00f067aa0ba902b7"
REVISION = "deployment.kubernetes.io/revision"
CALL_GRAPH = {
    "gateway": ["frontend"],
    "frontend": ["catalog", "cart"],
    "catalog": [],
    "cart": ["inventory"],
    "inventory": [],
}


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


def hops_of(spans: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The sidecars' outbound spans by hop (caller, callee), each hop's tries in the order
    of their `retry.attempt`."""
    hops: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for span in spans:
        if span["name"].startswith("outbound "):
            callee = span["name"].removeprefix("outbound ")
            hops.setdefault((span["service"], callee), []).append(span)
    for tries in hops.values():
        tries.sort(key=lambda span: span["attributes"].get(RETRY_ATTEMPT, -1))
    return hops


def answer_faults(spans: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the trace of one answered request (empty: nothing). From the
    caller's root span down: each service's inbound span answered 200 and is the parent of
    its app's span; each call the app makes is the parent of the caller sidecar's outbound
    tries, numbered 0, 1, ... by `retry.attempt`, every try but the last failed (a retry,
    as on a busy host or an endpoint kube-proxy has not synced), and the last one the
    parent of the callee's inbound span, judged the same way. Spans under a failed try are
    that try's and are not judged."""
    children: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        children.setdefault(span["parent_span_id"], []).append(span)
    faults: list[str] = []

    def judge(parent_id: str, service: str) -> None:
        received = [s for s in children.get(parent_id, []) if s["name"] == f"inbound {service}"]
        if len(received) != 1 or received[0]["attributes"].get(HTTP_STATUS) != 200:
            faults.append(f"{service}: not one inbound span answering 200 under {parent_id}")
            return
        apps = [s for s in children.get(received[0]["span_id"], []) if s["service"] == service]
        if len(apps) != 1 or apps[0]["name"] != f"{service} handle":
            faults.append(f"{service}: not one app span under its inbound span: {apps}")
            return
        tries = hops_of(children.get(apps[0]["span_id"], []))
        if {callee for _, callee in tries} != set(CALL_GRAPH[service]):
            faults.append(f"{service} called {sorted(tries)}, not {CALL_GRAPH[service]}")
        for (_, callee), attempts in sorted(tries.items()):
            *failed, last = attempts
            numbers = [t["attributes"].get(RETRY_ATTEMPT) for t in attempts]
            if numbers != list(range(len(attempts))):
                faults.append(f"{service}->{callee}: tries numbered {numbers}")
            if any(t["status_code"] != "ERROR" for t in failed):
                faults.append(f"{service}->{callee}: a try retried though it did not fail")
            if last["attributes"].get(HTTP_STATUS) != 200:
                faults.append(f"{service}->{callee}: the last try did not answer 200: {last}")
            judge(last["span_id"], callee)

    judge(ROOT_SPAN, "gateway")
    return faults


def test_a_request_through_the_gateway_has_its_whole_trace_in_the_sink(
    shop: ShopOnNode,
) -> None:
    """From the host to the gateway pod over the node's bridge: 200, answered by the whole
    call graph, and every hop's spans (app and sidecar, in and out) reach the trace sink,
    linked parent to child (`answer_faults`: a hop the sidecar retried has a try more)."""
    url = f"http://{pod_address(shop, 'app=gateway', 'inbound')}/"
    requests.get(url, timeout=10)  # the mesh's first request opens its connections
    traceparent = f"00-{TRACE_ID}-{ROOT_SPAN}-01"
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
        received = {s["service"] for s in found if s["name"].startswith("inbound ")}
        hops = hops_of(found)
        tried = all(
            [t["attributes"].get(RETRY_ATTEMPT) for t in tries] == list(range(len(tries)))
            for tries in hops.values()
        )
        edges = {(caller, callee) for caller, callees in CALL_GRAPH.items() for callee in callees}
        whole = handled == received == SERVICES and set(hops) == edges and tried
        return found if whole else []

    found = poll(whole_trace, timeout=30, interval=0.5, what="the request's whole trace")
    assert answer_faults(found) == [], found


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

    def the_new_pod_answered() -> bool:
        body = requests.get(saved["ingress_url"], timeout=10).json()
        (frontend,) = body["calls"]
        for call in frontend["calls"]:
            key = f"{call.get('instance')} {call['status']}"
            answered[key] = answered.get(key, 0) + 1
        return answered.get("catalog-1 200", 0) > 0

    # Until the mesh routes to the new pod (its endpoint pushed): on a busy host 40
    # requests in a row could all come before that and find only catalog-0.
    poll(the_new_pod_answered, timeout=60, interval=0.1, what="catalog-1's new pod answering")
    assert all(key.endswith(" 200") for key in answered), answered  # its identity is trusted


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


@pytest.mark.parametrize("path", ["harness", "recover"])
def test_a_rollout_cut_short_gets_its_snapshot_back_past_the_controllers_revision(
    shop: ShopOnNode, path: str
) -> None:
    """A rollout restart of catalog-1 cut short once the deployment controller has taken
    it (it wrote `deployment.kubernetes.io/revision` 1 -> 2, an annotation meshproof does
    not own): finishing it (no wait left; the harness's revert with the patch's answer, or
    `recover` from the ledger's change alone) puts the snapshot's template back exactly,
    mark gone, instead of refusing with ChangedSince over the controller's annotation."""
    ref = ObjectRef.of(DEPLOYMENT, shop.namespace, "catalog-1")
    with shop.node.client() as kube:
        change = ObjectChange(
            snapshot=read(kube, ref), patch=restart_patch(f"2026-01-01T00:00:0{len(path)}Z"),
            mark=f"node-test/roll-{path}",
        )  # fmt: skip
        applied = apply(kube, change)

        def revision() -> str:
            obj = kube.get(DEPLOYMENT, shop.namespace, "catalog-1")
            return str(obj["metadata"]["annotations"].get(REVISION, ""))

        before = str(change.snapshot.state.annotations.get(REVISION, ""))
        poll(lambda: revision() != before, timeout=30, interval=0.05, what="a new revision")
        done = finish_rollout(
            kube, change, wait_s=0, applied=applied if path == "harness" else None
        )
        assert "restored to its snapshot" in done, done
        now = kube.get(DEPLOYMENT, shop.namespace, "catalog-1")
    state = ObjectState.of(now)
    assert state.spec == change.snapshot.state.spec
    assert state.labels == change.snapshot.state.labels
    assert state.mark is None
    assert {k: v for k, v in state.annotations.items() if k != REVISION} == {
        k: v for k, v in change.snapshot.state.annotations.items() if k != REVISION
    }
    poll(lambda: ready_pod(shop, "catalog-1") is not None, timeout=60, interval=0.5,
         what="catalog-1 Ready")  # fmt: skip
