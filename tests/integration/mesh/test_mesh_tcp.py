"""shop-tcp on the local runtime: raw TCP bytes through a sidecar pair over mTLS.

One deployment for the module (gateway, cart, kv x2, their sidecars, the control plane's
CA issuing every identity). The load's way in (`Deployment.tcp_ingress`) is the gateway's
sidecar L4 listener for kv; the kv sidecars terminate mTLS and pipe to the store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mesh_helpers import deployed, services_in
from prometheus_client.parser import text_string_to_metric_families

from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.local import LocalRuntime
from tests.conftest import half_closed_exchange

pytestmark = pytest.mark.integration

TcpSeries = dict[tuple[str, ...], float]


@pytest.fixture(scope="module")
def shop_tcp(
    repo_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalRuntime, Deployment]]:
    topology = repo_root / "experiments" / "topologies" / "shop-tcp.yaml"
    with deployed(topology, tmp_path_factory.mktemp("state"), "mesh") as up:
        yield up


@pytest.fixture
def deployment(shop_tcp: tuple[LocalRuntime, Deployment]) -> Deployment:
    return shop_tcp[1]


def tcp_metrics(deployment: Deployment, service: str, family: str) -> TcpSeries:
    """(instance, reporter, source, destination, flags, security) -> value, summed over
    the sidecars of `service`, of one istio_tcp_* counter."""
    out: TcpSeries = {}
    for record in deployment.instances:
        if record.service != service:
            continue
        text = requests.get(f"http://127.0.0.1:{record.admin_port}/metrics", timeout=5).text
        for parsed in text_string_to_metric_families(text):
            if parsed.name != family.removesuffix("_total"):
                continue
            for sample in parsed.samples:
                labels = sample.labels
                assert labels["request_protocol"] == "tcp"
                key = (
                    record.instance,
                    labels["reporter"],
                    labels["source_workload"],
                    labels["destination_service"],
                    labels["response_flags"],
                    labels["connection_security_policy"],
                )
                out[key] = out.get(key, 0.0) + sample.value
    return out


def total(series: TcpSeries, **where: str) -> float:
    names = ("instance", "reporter", "source", "destination", "flags", "security")
    return sum(
        value
        for key, value in series.items()
        if all(key[names.index(k)] == v for k, v in where.items())
    )


def test_bytes_cross_the_pair_both_ways_over_mtls(deployment: Deployment) -> None:
    """2 MiB up and back through gateway's and kv's sidecars: the reply is byte-exact, it
    comes after the client's half-close, and both sides count exactly those bytes, the kv
    side under mutual_tls with the caller's identity."""
    value = (b"0123456789abcdef" * (1 << 17))[: 2 << 20]
    payload = b"SET big " + value + b"\nGET big\nPING\n"
    family = "istio_tcp_received_bytes_total"
    before_in = total(tcp_metrics(deployment, "kv", family), reporter="destination")
    before_out = total(tcp_metrics(deployment, "gateway", family), reporter="source")
    started = time.perf_counter()
    reply = half_closed_exchange(deployment.tcp_ingress["kv"], payload)
    elapsed = time.perf_counter() - started
    lines = reply.split(b"\n")
    assert lines[0] == b"OK"
    assert lines[1] == b"VALUE " + value
    assert lines[2].startswith(b"PONG kv-")
    print(f"2 MiB each way through the pair in {elapsed * 1000:.0f} ms")
    kv_in = tcp_metrics(deployment, "kv", family)
    assert total(kv_in, reporter="destination") - before_in == len(payload)
    assert total(kv_in, reporter="destination", source="gateway", security="mutual_tls") >= len(
        payload
    )
    gateway_out = tcp_metrics(deployment, "gateway", family)
    assert total(gateway_out, reporter="source") - before_out == len(payload)
    sent = tcp_metrics(deployment, "gateway", "istio_tcp_sent_bytes_total")
    assert total(sent, reporter="source", destination="kv") >= len(reply)


def test_connections_are_balanced_and_counted_open_and_closed(deployment: Deployment) -> None:
    """Per connection round robin: both kv replicas answer; every opened connection closes."""
    seen = {half_closed_exchange(deployment.tcp_ingress["kv"], b"PING\n").strip() for _ in range(6)}
    assert seen == {b"PONG kv-0", b"PONG kv-1"}
    opened = tcp_metrics(deployment, "kv", "istio_tcp_connections_opened_total")
    closed = tcp_metrics(deployment, "kv", "istio_tcp_connections_closed_total")
    assert total(opened, instance="kv-0") >= 3 and total(opened, instance="kv-1") >= 3
    deadline = time.monotonic() + 5
    while total(closed) < total(opened) and time.monotonic() < deadline:
        closed = tcp_metrics(deployment, "kv", "istio_tcp_connections_closed_total")
    assert total(closed) == total(opened)


def test_an_http_request_calls_kv_through_the_mesh(deployment: Deployment) -> None:
    """gateway -> cart -> kv and gateway -> kv: the answer's call tree holds kv's PONGs."""
    answer = requests.get(deployment.ingress_url + "/kv/item", timeout=10)
    assert answer.status_code == 200, answer.text
    tree = answer.json()
    assert services_in(tree) == {"gateway", "cart", "kv"}
    kv_calls = [c for c in tree["calls"] if c["service"] == "kv"]
    assert kv_calls[0]["status"] == 200 and kv_calls[0]["instance"].startswith("kv-")
    cart = requests.get(
        f"http://127.0.0.1:{next(r.admin_port for r in deployment.instances if r.service == 'cart')}/metrics",
        timeout=5,
    ).text
    assert 'istio_tcp_connections_opened_total{reporter="source",source_workload="cart"' in cart
