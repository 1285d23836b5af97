"""Real gRPC sample service processes (grpcio) in no-mesh mode with a real trace sink:
catalog (gRPC) -> inventory (gRPC), called with a grpcio client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import grpc
import pytest
import requests

from mesh_runtime.runtimes.ports import fresh_port
from tests.conftest import answers_200, poll, stop_group

pytestmark = pytest.mark.integration

SERVICE = [sys.executable, "-m", "mesh_runtime.services", "--protocol", "grpc"]
NAMES = ("sink", "catalog-0", "inventory-0")
METHOD = "/shop.Catalog/List"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("grpc-chain")
    addr = {name: f"127.0.0.1:{fresh_port()}" for name in NAMES}
    otlp = ["--otlp-endpoint", f"http://{addr['sink']}"]
    commands = {
        "sink": [sys.executable, "-m", "mesh_runtime.tracesink", "--out", str(work / "spans")],
        "inventory-0": [*SERVICE, "--service", "inventory", "--instance", "inventory-0", *otlp],
        "catalog-0": [*SERVICE, "--service", "catalog", "--instance", "catalog-0", *otlp],
    }
    commands["sink"] += ["--port", addr["sink"].rpartition(":")[2]]
    commands["inventory-0"] += ["--port", addr["inventory-0"].rpartition(":")[2]]
    commands["catalog-0"] += ["--port", addr["catalog-0"].rpartition(":")[2]]
    commands["catalog-0"] += ["--calls", "inventory", "--grpc", "inventory"]
    commands["catalog-0"] += ["--direct", f"inventory={addr['inventory-0']}"]
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            with (work / f"{name}.log").open("wb") as log:
                processes[name] = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
        for name, process in processes.items():
            url = f"http://{addr[name]}" + ("/ready" if name == "sink" else "/_health")
            poll(partial(answers_200, url, process), 15, 0.05, f"{name} ready")
        channel = grpc.insecure_channel(addr["catalog-0"], options=[("grpc.enable_http_proxy", 0)])
        yield {"addr": addr, "spans": work / "spans", "call": channel.unary_unary(METHOD)}
        channel.close()
    finally:
        for process in reversed(processes.values()):  # the sink last: spans still flush
            stop_group(process, grace=10)


@pytest.fixture(autouse=True)
def default_behaviour(chain: dict[str, Any]) -> Iterator[None]:
    yield
    defaults = {"latency": {"mean_ms": 0}, "error_rate": 0.0, "hang": False, "response_bytes": 0}
    for name in ("catalog-0", "inventory-0"):
        _behave(chain, name, defaults)


def _behave(chain: dict[str, Any], instance: str, change: dict[str, Any]) -> None:
    url = f"http://{chain['addr'][instance]}/_behaviour"
    response = requests.put(url, json=change, timeout=5)
    assert response.status_code == 200, response.text


def test_a_call_goes_down_the_chain_with_its_trace(chain: dict[str, Any]) -> None:
    """catalog answers with inventory's call in its tree; both SERVER spans are in the
    caller's trace, inventory's a child of catalog's, with rpc.* attributes."""
    trace_id = os.urandom(16).hex()
    traceparent = f"00-{trace_id}-{os.urandom(8).hex()}-01"
    answer = chain["call"](b"{}", metadata=(("traceparent", traceparent),), timeout=10)
    body = json.loads(answer)
    assert (body["service"], body["instance"]) == ("catalog", "catalog-0")
    [inventory] = body["calls"]
    assert (inventory["instance"], inventory["grpc_status"], inventory["status"]) == (
        "inventory-0",
        0,
        200,
    )

    def spans() -> list[dict[str, Any]]:
        path = chain["spans"]
        lines = path.read_text().splitlines() if path.exists() else []
        return [s for s in map(json.loads, lines) if s["trace_id"] == trace_id]

    found = {s["service"]: s for s in poll(lambda: len(spans()) == 2 and spans(), 15, 0.05)}
    assert found["inventory"]["parent_span_id"] == found["catalog"]["span_id"]
    attributes = found["catalog"]["attributes"]
    assert attributes["rpc.service"] == "shop.Catalog" and attributes["rpc.method"] == "List"
    assert attributes["rpc.system"] == "grpc" and attributes["rpc.grpc.status_code"] == 0


def test_errors_latency_and_size_follow_the_behaviour(chain: dict[str, Any]) -> None:
    """error_rate answers the behaviour's grpc_status (passed up by the caller); latency
    delays; response_bytes pads the answer."""
    _behave(chain, "inventory-0", {"error_rate": 1.0, "grpc_status": 8})
    with pytest.raises(grpc.RpcError) as failed:
        chain["call"](b"{}", timeout=10)
    assert failed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "inventory answered" in (failed.value.details() or "")
    _behave(chain, "inventory-0", {"error_rate": 0.0, "latency": {"mean_ms": 200}})
    _behave(chain, "catalog-0", {"response_bytes": 4096})
    started = time.monotonic()
    answer = chain["call"](b"{}", timeout=10)
    assert time.monotonic() - started >= 0.2 and len(answer) == 4096


def test_the_deadline_bounds_the_downstream_call(chain: dict[str, Any]) -> None:
    """A 300 ms deadline on a call whose callee takes 2 s ends in DEADLINE_EXCEEDED at
    about 300 ms, and catalog gives inventory only what the deadline left."""
    _behave(chain, "inventory-0", {"latency": {"mean_ms": 2000}})
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as failed:
        chain["call"](b"{}", timeout=0.3)
    assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.0


def test_hang_holds_calls_while_health_answers(chain: dict[str, Any]) -> None:
    """A hung gRPC instance still answers /_health; a held call ends once hang is off."""
    _behave(chain, "catalog-0", {"hang": True})
    results: list[bytes] = []
    thread = threading.Thread(target=lambda: results.append(chain["call"](b"{}", timeout=20)))
    thread.start()
    health = requests.get(f"http://{chain['addr']['catalog-0']}/_health", timeout=2)
    assert health.status_code == 200 and results == []
    _behave(chain, "catalog-0", {"hang": False})
    thread.join(timeout=10)
    assert len(results) == 1 and json.loads(results[0])["instance"] == "catalog-0"
