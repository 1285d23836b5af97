"""On the node (conftest.py), after the shop is down: `meshproof run --runtime kubernetes`
carries experiments out from the host (the mesh reached at its Services' ClusterIPs), each
in a namespace of its own: retry-masks-503, pod-delete, a control-plane outage then a
rollout, and pause-and-kill pass; a Locust worker pod without its master goes at once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from harness.cli.main import main
from harness.kube.localnode import LocalNode
from mesh_runtime.kube.errors import KubeNotFound
from mesh_runtime.kube.resources import DEPLOYMENT, POD, SECRET, SERVICE, Resource
from mesh_runtime.runtimes.kubernetes.loadworkers import GRACE_S, load_worker_pods
from tests.conftest import poll
from tests.fixtures.kube import DEPLOYER_RULES, role_kubeconfig
from tests.integration.faults.faultkit import ROOT
from tests.integration.kube.node.shopkit import (
    INSTANCES,
    SHOP,
    ShopOnNode,
    new_namespace,
)

pytestmark = pytest.mark.integration

RETRY_MASKS_503 = ROOT / "experiments" / "retry-masks-503.yaml"
POD_DELETE = ROOT / "experiments" / "pod-delete.yaml"
KUBE_ROLLOUT = ROOT / "experiments" / "kube-rollout.yaml"
PAUSE_AND_KILL = ROOT / "experiments" / "pause-and-kill.yaml"
EVENT = Resource("", "v1", "events", "Event")


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


def test_a_run_whose_user_may_not_make_its_fault_stops_in_one_line_leaving_nothing(
    local_node: LocalNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user who may deploy the shop but not make a network_disconnect's NetworkPolicy:
    the run is refused before anything is deployed, exit 2, one line naming the rights
    missing, no run folder (before: the shop was deployed first, then refused and torn
    down), and no fault ledger registration is left for `meshproof recover` to trip over."""
    namespace = new_namespace(local_node, "rbac")
    kubeconfig = role_kubeconfig(local_node.api, namespace, DEPLOYER_RULES, tmp_path / "kc")
    experiment = tmp_path / "cut.yaml"
    experiment.write_text(yaml.safe_dump({
        "title": "a partition its user may not make",
        "target": {"topology": str(SHOP), "runtime": "kubernetes"},
        "load": {"rps": 10, "warmup": "1s", "duration": "5s", "connections": 2},
        "faults": [{"name": "cut", "kind": "network_disconnect", "target": "catalog-1",
                    "at": "1s", "duration": "2s"}],
        "slos": ["error_rate < 1"],
    }))  # fmt: skip
    state = tmp_path / "state"
    flags = ["--kubeconfig", str(kubeconfig), "--namespace", namespace, "--quiet"]
    flags += ["--out", str(tmp_path / "reports"), "--state-dir", str(state)]
    code = main(["run", str(experiment), "--runtime", "kubernetes", *flags])
    out = capsys.readouterr()
    assert code == 2, out.out + out.err
    assert len(out.err.strip().splitlines()) == 1, out.err
    assert "may not get networkpolicies" in out.err and "create pods/exec" in out.err
    assert list((tmp_path / "reports").glob("*/run.json")) == []
    with local_node.client() as kube:
        left = [o for r in (DEPLOYMENT, SERVICE, SECRET) for o in kube.list(r, namespace)]
    assert [o["metadata"]["name"] for o in left] == []
    assert not (state / "deployments" / "shop.json").exists()
    assert list((state / "ledgers").glob("*.json")) == []
