"""The kubernetes runtime's resources rows from the kubelets' resource metrics
(mesh_runtime.runtimes.kubernetes.stats): parsing `/metrics/resource`, which container is
which process, and rows only when the kubelet's reading is newer."""

from __future__ import annotations

from typing import Any

import pytest

from mesh_runtime.errors import DeployError
from mesh_runtime.runtimes.kubernetes.stats import (
    KubeletStatsSampler,
    PodsView,
    container_usage,
    process_of,
)
from mesh_runtime.runtimes.sampling import MB

POD = "catalog-0-5967c9f8c9-tlvwh"


def metrics(cpu_app: float, cpu_sidecar: float, at_ms: int, pod: str = POD) -> str:
    """A kubelet's resource metrics (the lines and shape v1.36's kubelet answers)."""
    return f"""# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{{container="app",namespace="ns",pod="{pod}"}} {cpu_app} {at_ms}
container_cpu_usage_seconds_total{{container="sidecar",namespace="ns",pod="{pod}"}} {cpu_sidecar} {at_ms}
container_cpu_usage_seconds_total{{container="app",namespace="other",pod="x"}} 9 {at_ms}
# HELP container_memory_working_set_bytes [STABLE] Current working set
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{{container="app",namespace="ns",pod="{pod}"}} 2.8266496e+07 {at_ms}
container_memory_working_set_bytes{{container="sidecar",namespace="ns",pod="{pod}"}} 3.2362496e+07 {at_ms}
container_memory_working_set_bytes{{container="app",namespace="other",pod="x"}} 1e+06 {at_ms}
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 57413.198589237 {at_ms}
"""


def pod(name: str, part: str, role: str = "instance", node: str = "n1") -> dict[str, Any]:
    labels = {"meshproof.part": part, "meshproof.role": role}
    return {"metadata": {"name": name, "labels": labels}, "spec": {"nodeName": node}}


def test_each_container_has_its_cpu_total_memory_and_the_kubelets_stamp() -> None:
    usage = {(u.namespace, u.container): u for u in container_usage(metrics(0.5, 1.25, 1000))}
    assert set(usage) == {("ns", "app"), ("ns", "sidecar"), ("other", "app")}
    sidecar = usage[("ns", "sidecar")]
    assert (sidecar.pod, sidecar.cpu_s, sidecar.at) == (POD, 1.25, 1.0)
    assert sidecar.memory_bytes == 32362496


def test_containers_are_named_as_the_docker_runtimes_processes() -> None:
    labels = {"meshproof.part": "catalog-0", "meshproof.role": "instance"}
    assert process_of(labels, "sidecar") == ("sidecar", "catalog-0-sidecar")
    assert process_of(labels, "app") == ("service", "catalog-0")
    control = {"meshproof.part": "control-plane", "meshproof.role": "control-plane"}
    assert process_of(control, "control-plane") == ("control-plane", "control-plane")
    assert process_of({}, "app") is None


def test_rows_come_only_when_the_kubelet_read_a_container_again() -> None:
    """The first reading primes; a reading with the same stamp adds nothing; the next
    gives the CPU between the two stamps over their distance. Other namespaces are not
    the deployment's."""
    answers = iter(
        [metrics(0.5, 1.0, 10_000), metrics(0.5, 1.0, 10_000), metrics(0.75, 2.0, 14_000)]
    )
    sampler = KubeletStatsSampler(
        "ns",
        list_pods=lambda: PodsView.of([pod(POD, "catalog-0")]),
        read_node=lambda node: next(answers),
        t0=5.0,
    )
    assert sampler.sample() == []
    assert sampler.sample() == []
    rows = {r["name"]: r for r in sampler.sample()}
    assert set(rows) == {"catalog-0", "catalog-0-sidecar"}
    sidecar = rows["catalog-0-sidecar"]
    assert (sidecar["role"], sidecar["t_s"], sidecar["cpu_s"]) == ("sidecar", 9.0, 1.0)
    assert sidecar["cpu_cores"] == pytest.approx(0.25)
    assert sidecar["rss_mb"] == pytest.approx(32362496 / MB)
    assert rows["catalog-0"]["cpu_cores"] == pytest.approx(0.0625)


def test_a_replacing_pod_is_found_and_an_unreadable_node_skipped() -> None:
    """A pod the listing did not know (its predecessor deleted) makes the sampler list
    again; a node whose metrics cannot be read gives no rows that time."""
    listings = iter(
        [PodsView.of([pod(POD, "catalog-0")]), PodsView.of([pod("catalog-0-new", "catalog-0")])]
    )
    answers: list[str | Exception] = [
        metrics(0.1, 0.1, 1_000, pod="catalog-0-new"),
        DeployError("nodes/proxy: forbidden"),
        metrics(0.2, 0.3, 3_000, pod="catalog-0-new"),
    ]

    def read(node: str) -> str:
        assert node == "n1"
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    sampler = KubeletStatsSampler("ns", list_pods=lambda: next(listings), read_node=read, t0=0)
    assert sampler.sample() == []  # primed: the new pod's first reading
    assert sampler.sample() == []
    (app, sidecar) = sorted(sampler.sample(), key=lambda r: r["name"])
    assert sidecar["cpu_s"] == pytest.approx(0.2) and sidecar["t_s"] == 3.0
    assert app["name"] == "catalog-0"


def test_load_worker_pods_connect_to_the_master_and_carry_the_deployments_label() -> None:
    """One pod per worker, never restarted: the load image never pulled, the master's
    address on the command line, the deployment's label (so `down` deletes them), role
    harness (the resources table counts the workers as the harness), no mounts, no token."""
    from mesh_runtime.runtimes.kubernetes.loadworkers import load_worker_pods

    pods = load_worker_pods("shop-1a2b3c4d", "ns", "10.244.0.1:5557", 2)
    assert [p["metadata"]["name"] for p in pods] == ["load-worker-0", "load-worker-1"]
    made = pods[1]
    labels = made["metadata"]["labels"]
    assert made["metadata"]["namespace"] == "ns"
    assert labels["meshproof.deployment"] == "shop-1a2b3c4d"
    assert process_of(labels, "load-worker") == ("harness", "load-worker-1")
    spec = made["spec"]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["image"].startswith("meshproof/load:")
    assert container["imagePullPolicy"] == "Never"
    assert container["command"][-3:] == ["worker", "--master", "10.244.0.1:5557"]
    assert "volumeMounts" not in container


def test_a_run_whose_kubelets_cannot_be_read_says_why() -> None:
    """Every read refused (a user without `get nodes/proxy`): the sampler names why the
    table is empty; once a node is read it says nothing."""

    def refused(node: str) -> str:
        raise DeployError('nodes "n1" is forbidden: cannot get resource "nodes/proxy"')

    pods = PodsView.of([pod(POD, "catalog-0")])
    sampler = KubeletStatsSampler("ns", list_pods=lambda: pods, read_node=refused, t0=0)
    assert sampler.sample() == []
    why = sampler.unread()
    assert why is not None and "node n1: " in why and "get nodes/proxy" in why
    readable = KubeletStatsSampler(
        "ns", list_pods=lambda: pods, read_node=lambda node: metrics(0.1, 0.1, 1_000), t0=0
    )
    readable.sample()
    assert readable.unread() is None
