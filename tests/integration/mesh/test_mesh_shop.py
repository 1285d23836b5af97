"""The shop topology in mesh mode on the local runtime: the issue's acceptance tests."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from mesh_helpers import SteadyLoad, deployed, services_in, sidecar_metrics, spans_of, traceparent
from prometheus_api_client import PrometheusConnect

from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.runtimes.admin import admin_headers
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.local import LocalRuntime
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient
from mesh_runtime.topology import load_topology

pytestmark = pytest.mark.integration

SHOP_SERVICES = {"gateway", "frontend", "catalog", "cart", "inventory"}


@pytest.fixture(scope="module")
def shop(
    shop_topology: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalRuntime, Deployment]]:
    with deployed(shop_topology, tmp_path_factory.mktemp("state"), "mesh") as up:
        yield up


@pytest.fixture
def deployment(shop: tuple[LocalRuntime, Deployment]) -> Deployment:
    return shop[1]


def get(deployment: Deployment, path: str = "/shop", **headers: str) -> requests.Response:
    return requests.get(deployment.ingress_url + path, headers=headers, timeout=10)


def test_request_reaches_every_service(deployment: Deployment) -> None:
    """A request through the gateway answers 200 and its JSON shows every service called."""
    response = get(deployment)
    assert response.status_code == 200
    answer = response.json()
    assert answer["service"] == "gateway"
    assert services_in(answer) == SHOP_SERVICES


def test_istio_requests_total_is_queryable_in_prometheus(
    deployment: Deployment, eventually: Callable[..., Any]
) -> None:
    """After traffic, Prometheus holds istio_requests_total for every edge of the call graph."""
    for _ in range(20):
        assert get(deployment).status_code == 200
    prometheus = PrometheusConnect(url=deployment.prometheus_url, disable_ssl=True)
    query = (
        'sum by (source_workload, destination_service) (istio_requests_total{reporter="source"})'
    )
    edges = {(e.source, e.destination) for e in load_topology(deployment.topology_file).edges()}

    def counted() -> dict[tuple[str, str], float]:
        series = prometheus.custom_query(query)
        got = {
            (s["metric"]["source_workload"], s["metric"]["destination_service"]): float(
                s["value"][1]
            )
            for s in series
        }
        return got if set(got) >= edges and all(got[e] >= 20 for e in edges) else {}

    assert eventually(counted, timeout=20)


def test_spans_form_one_trace_through_every_sidecar(
    deployment: Deployment, eventually: Callable[..., Any]
) -> None:
    """A request's spans reach the trace sink as one trace: sidecar CLIENT -> sidecar SERVER -> service."""
    header, trace_id, root = traceparent()
    assert get(deployment, traceparent=header).status_code == 200
    assert deployment.trace_file
    edges = load_topology(deployment.topology_file).edges()
    expected = 2 * len(SHOP_SERVICES) + len(
        edges
    )  # sidecar SERVER + service per hop, CLIENT per edge

    spans = eventually(
        lambda: (s := spans_of(deployment.trace_file, trace_id)) and len(s) >= expected and s,
        timeout=20,
    )
    by_id = {s["span_id"]: s for s in spans}
    assert all(s["parent_span_id"] in by_id or s["parent_span_id"] == root for s in spans), (
        "orphan span"
    )
    (entry,) = [s for s in spans if s["parent_span_id"] == root]
    assert (entry["kind"], entry["service"]) == ("SERVER", "gateway")
    for edge in edges:
        clients = [s for s in spans if s["kind"] == "CLIENT" and s["service"] == edge.source]
        servers = [
            s
            for s in spans
            if s["kind"] == "SERVER"
            and s["service"] == edge.destination
            and by_id.get(s["parent_span_id"], {}).get("kind") == "CLIENT"
            and by_id[s["parent_span_id"]]["service"] == edge.source
        ]
        assert clients and servers, f"no sidecar CLIENT -> SERVER pair for {edge.name}"
        inner = [s for s in spans if s["parent_span_id"] == servers[0]["span_id"]]
        assert any(s["service"] == edge.destination for s in inner), (
            f"no service span under {edge.name}"
        )


def edge_latency(deployment: Deployment, requests_n: int = 10) -> dict[tuple[str, str], float]:
    """Mean latency (ms) per (source, destination) edge over `requests_n` fresh requests."""
    sidecars = ["frontend-0", "cart-0"]
    before = {k: v for s in sidecars for k, v in sidecar_metrics(deployment, s).items()}
    for _ in range(requests_n):
        assert get(deployment).status_code == 200
    after = {k: v for s in sidecars for k, v in sidecar_metrics(deployment, s).items()}
    return {
        key: (after[key][0] - before.get(key, (0.0, 0.0))[0])
        / max(1.0, after[key][1] - before.get(key, (0.0, 0.0))[1])
        for key in after
    }


def test_toxiproxy_latency_shows_on_its_edge_only(deployment: Deployment) -> None:
    """A 150 ms latency toxic on frontend->catalog slows that edge alone; removing it heals it."""
    client = ToxiproxyClient(deployment.toxiproxy_url or "")
    proxies = [p.name for p in deployment.proxies if p.edge == "frontend->catalog"]
    assert len(proxies) == 2
    for name in proxies:
        client.add_toxic(name, name="slow", type="latency", attributes={"latency": 150})
    try:
        faulted = edge_latency(deployment)
    finally:
        for name in proxies:
            client.remove_toxic(name, "slow")
    healed = edge_latency(deployment)
    assert faulted[("frontend", "catalog")] >= 150
    assert faulted[("frontend", "cart")] < 75
    assert faulted[("cart", "inventory")] < 75
    assert healed[("frontend", "catalog")] < 75


def send(deployment: Deployment, count: int) -> list[int]:
    return [get(deployment).status_code for _ in range(count)]


CATALOG_SCOPE = {"catalog-0", "catalog-1", "frontend-0"}
"""The sidecars a change to catalog concerns: catalog's own and its caller's (frontend)."""


def policy_reaches_sidecars(deployment: Deployment, attempts: int) -> set[str]:
    """Patch catalog's policy and wait for every sidecar to run it (the control plane's
    status); catalog's and frontend's sidecars then run it, the others have no catalog at
    all (each gets its scope of the config). Returns the sidecars that got a new config."""
    assert deployment.control_url
    sidecars = [r.instance for r in deployment.instances]
    with ControlPlaneClient(deployment.control_url, deployment.control_token) as client:
        patch = {"http": [{"name": "default", "retries": {"attempts": attempts}, "timeout": "5s"}]}
        version = client.patch_policy("catalog", patch)
        client.wait_for_version(version, sidecars, timeout=20)
    headers = admin_headers(deployment.admin_token_file)
    reached = set()
    for record in deployment.instances:
        url = f"http://127.0.0.1:{record.admin_port}/config_dump"
        dump = requests.get(url, headers=headers, timeout=5).json()
        if dump["version"] >= version:
            reached.add(record.instance)
        if record.instance in CATALOG_SCOPE:
            route = dump["services"]["catalog"]["policy"]["http"][0]
            assert dump["version"] >= version and route["retries"]["attempts"] == attempts
        else:
            assert "catalog" not in dump["services"], record.instance
    return reached


def test_a_policy_change_reaches_exactly_the_sidecars_that_need_it(deployment: Deployment) -> None:
    """Patching catalog wakes catalog's and frontend's sidecars only; waiting for the
    version over every sidecar still ends, and traffic flows under the new policy."""
    assert policy_reaches_sidecars(deployment, attempts=3) == CATALOG_SCOPE
    assert send(deployment, 5) == [200] * 5


def test_traffic_flows_while_control_plane_is_paused(shop: tuple[LocalRuntime, Deployment]) -> None:
    """With the control plane SIGSTOPped, requests still succeed; a later change reaches the sidecars it concerns."""
    runtime, deployment = shop
    control_plane = psutil.Process(deployment.process("control-plane").pid)
    runtime.signal(deployment, "control-plane", signal.SIGSTOP)
    try:
        # Requests for at least a second of the pause (a count alone is over in a tenth
        # of a second on a fast sidecar), and the pause was still on when the last ended.
        statuses: list[int] = []
        began = time.monotonic()
        while len(statuses) < 30 or time.monotonic() - began < 1.0:
            statuses.append(get(deployment).status_code)
        state_at_end = control_plane.status()
    finally:
        runtime.signal(deployment, "control-plane", signal.SIGCONT)
    assert statuses == [200] * len(statuses)
    assert state_at_end == psutil.STATUS_STOPPED
    policy_reaches_sidecars(deployment, attempts=1)


def test_traffic_flows_while_control_plane_is_dead(shop: tuple[LocalRuntime, Deployment]) -> None:
    """With the control plane killed, requests succeed; after its restart a change reaches the sidecars it concerns."""
    runtime, deployment = shop
    runtime.signal(deployment, "control-plane", signal.SIGKILL)
    assert send(deployment, 30) == [200] * 30
    deployment = runtime.restart(deployment, "control-plane")
    policy_reaches_sidecars(deployment, attempts=2)


def test_rolling_sidecar_restart_loses_no_request(
    shop: tuple[LocalRuntime, Deployment], eventually: Callable[..., Any]
) -> None:
    """Restarting every sidecar in turn (hot: the new one ready, then the old one drains)
    under steady load loses nothing; the client retries a GET whose idle keep-alive
    connection the draining sidecar closed, as real clients do."""
    runtime, deployment = shop
    sidecars = [p.name for p in deployment.processes if p.role == "sidecar"]
    with SteadyLoad(deployment.ingress_url + "/shop", rps=40) as load:
        eventually(lambda: load.sent >= 20)  # steady traffic before the first restart
        for name in sidecars:
            deployment = runtime.restart(deployment, name)
        after = load.sent
        eventually(lambda: load.sent >= after + 20)  # and after the last one
    assert load.sent > 100
    assert load.failures == 0, (
        f"{load.failures} of {load.sent} failed: {load.statuses} {load.errors}"
        f" ({load.stale_retries} stale-connection retries)"
    )
