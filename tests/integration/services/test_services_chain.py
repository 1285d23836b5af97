"""A real chain of sample service processes in no-mesh mode, with a real trace sink:
gateway -> cart -> inventory (two replicas)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from mesh_runtime.runtimes.ports import fresh_port
from tests.conftest import answers_200, poll, stop_group

pytestmark = pytest.mark.integration

SERVICE = [sys.executable, "-m", "mesh_runtime.services"]
SINK = [sys.executable, "-m", "mesh_runtime.tracesink"]


@dataclass
class Chain:
    sink_out: Path
    urls: dict[str, str] = field(default_factory=dict)
    """Instance name -> base URL."""


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    work = tmp_path_factory.mktemp("chain")
    ports = {
        name: fresh_port() for name in ("sink", "gateway-0", "cart-0", "inventory-0", "inventory-1")
    }
    addr = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    otlp = f"http://{addr['sink']}"
    inventory = f"inventory={addr['inventory-0']},{addr['inventory-1']}"
    commands = {
        "sink": [*SINK, "--port", str(ports["sink"]), "--out", str(work / "spans.jsonl")],
        "inventory-0": [*SERVICE, "--service", "inventory", "--instance", "inventory-0"],
        "inventory-1": [*SERVICE, "--service", "inventory", "--instance", "inventory-1"],
        "cart-0": [*SERVICE, "--service", "cart", "--instance", "cart-0", "--calls", "inventory"],
        "gateway-0": [
            *SERVICE,
            "--service",
            "gateway",
            "--instance",
            "gateway-0",
            "--calls",
            "cart",
        ],
    }
    commands["cart-0"] += ["--direct", inventory]
    commands["gateway-0"] += ["--direct", f"cart={addr['cart-0']}", "--call-timeout", "5"]
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            if name != "sink":
                command += ["--port", str(ports[name]), "--otlp-endpoint", otlp]
            log = (work / f"{name}.log").open("wb")
            processes[name] = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            log.close()
        for name, process in processes.items():
            url = f"http://{addr[name]}" + ("/ready" if name == "sink" else "/_health")
            poll(partial(answers_200, url, process), 15, 0.05, f"{name} ready")
        urls = {name: f"http://{a}" for name, a in addr.items() if name != "sink"}
        yield Chain(sink_out=work / "spans.jsonl", urls=urls)
    finally:
        for process in processes.values():  # all at once: each takes ~0.2 s to drain and exit
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            stop_group(process, grace=10)


@pytest.fixture(autouse=True)
def default_behaviour(chain: Chain) -> Iterator[None]:
    yield
    defaults = {
        "latency": {"distribution": "fixed", "mean_ms": 0, "stddev_ms": 0},
        "error_rate": 0.0,
        "hang": False,
        "response_bytes": 0,
        "propagate_trace": True,
    }
    for url in chain.urls.values():
        requests.put(f"{url}/_behaviour", json=defaults, timeout=5).raise_for_status()


def _behave(chain: Chain, instance: str, change: dict[str, Any]) -> None:
    response = requests.put(f"{chain.urls[instance]}/_behaviour", json=change, timeout=5)
    assert response.status_code == 200, response.text


def _spans_of(chain: Chain, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    if not chain.sink_out.exists():
        return []
    lines = chain.sink_out.read_text().splitlines()
    return [span for span in map(json.loads, lines) if predicate(span)]


def test_request_goes_through_the_chain_round_robin(chain: Chain) -> None:
    """The gateway answers 200 with cart's call, cart alternates inventory replicas, and a
    leaf answers with an empty call list."""
    for _ in range(2):
        response = requests.get(f"{chain.urls['gateway-0']}/shop/items?q=1", timeout=10)
        assert response.status_code == 200
        body = response.json()
        assert (body["service"], body["instance"], body["version"]) == (
            "gateway",
            "gateway-0",
            "v1",
        )
        [cart] = body["calls"]
        assert (cart["service"], cart["status"], cart["instance"]) == ("cart", 200, "cart-0")
    seen = []
    for _ in range(4):
        direct = requests.post(f"{chain.urls['cart-0']}/cart", data=b"{}", timeout=10).json()
        seen.append(direct["calls"][0]["instance"])
    assert seen[0] != seen[1] and seen[:2] == seen[2:]
    assert set(seen) == {"inventory-0", "inventory-1"}
    leaf = requests.get(f"{chain.urls['inventory-0']}/stock", timeout=10).json()
    assert leaf == {"service": "inventory", "instance": "inventory-0", "version": "v1", "calls": []}


def test_behaviour_changes_take_effect(chain: Chain) -> None:
    """Latency delays the answer, an error downstream is a 502 naming it, size pads the body
    (a leaf's too, and back)."""
    _behave(chain, "cart-0", {"latency": {"mean_ms": 300}})
    started = time.monotonic()
    assert requests.get(f"{chain.urls['gateway-0']}/", timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.3
    _behave(chain, "cart-0", {"latency": {"mean_ms": 0}, "error_rate": 1.0, "error_status": 429})
    assert requests.get(f"{chain.urls['cart-0']}/", timeout=10).status_code == 429
    failed = requests.get(f"{chain.urls['gateway-0']}/", timeout=10)
    assert failed.status_code == 502
    assert failed.json()["failed"] == "cart"
    assert failed.json()["calls"][0]["status"] == 429
    _behave(chain, "cart-0", {"error_rate": 0.0})
    _behave(chain, "gateway-0", {"response_bytes": 4096})
    padded = requests.get(f"{chain.urls['gateway-0']}/", timeout=10)
    assert padded.status_code == 200 and len(padded.content) == 4096
    for size in (4096, 0):  # a leaf's answer (made once per size) follows its size both ways
        _behave(chain, "inventory-0", {"response_bytes": size})
        leaf = requests.get(f"{chain.urls['inventory-0']}/", timeout=10)
        assert leaf.json()["calls"] == [] and (len(leaf.content) == 4096) == (size == 4096)
    bad = requests.put(f"{chain.urls['cart-0']}/_behaviour", json={"error_rate": 7}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"].startswith("error_rate:")


def test_hang_holds_requests_without_blocking_health(chain: Chain) -> None:
    """A hung instance still answers /_health; held requests finish once hang is off."""
    _behave(chain, "cart-0", {"hang": True})
    results: list[int] = []
    thread = threading.Thread(
        target=lambda: results.append(
            requests.get(f"{chain.urls['gateway-0']}/", timeout=20).status_code
        )
    )
    thread.start()
    with pytest.raises(requests.Timeout):
        requests.get(f"{chain.urls['cart-0']}/", timeout=0.5)
    started = time.monotonic()
    assert requests.get(f"{chain.urls['cart-0']}/_health", timeout=2).status_code == 200
    assert time.monotonic() - started < 0.5
    assert results == []
    _behave(chain, "cart-0", {"hang": False})
    thread.join(timeout=10)
    assert results == [200]


def _new_trace() -> tuple[str, str, dict[str, str]]:
    """A fresh (trace id, parent span id, headers) as the harness would send them."""
    trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
    return trace_id, span_id, {"traceparent": f"00-{trace_id}-{span_id}-01"}


def test_trace_context_is_propagated_through_the_chain(chain: Chain) -> None:
    """Each service's SERVER span is a child of its caller's span, in the caller's trace."""
    trace_id, span_id, headers = _new_trace()
    response = requests.get(f"{chain.urls['gateway-0']}/t", headers=headers, timeout=10)
    assert response.status_code == 200
    poll(
        lambda: len(_spans_of(chain, lambda s: s["trace_id"] == trace_id)) == 3, 15, 0.05, "3 spans"
    )
    spans = {s["service"]: s for s in _spans_of(chain, lambda s: s["trace_id"] == trace_id)}
    assert spans["gateway"]["parent_span_id"] == span_id
    assert spans["cart"]["parent_span_id"] == spans["gateway"]["span_id"]
    assert spans["inventory"]["parent_span_id"] == spans["cart"]["span_id"]
    assert {s["kind"] for s in spans.values()} == {"SERVER"}
    assert spans["cart"]["name"] == "cart handle"
    assert spans["gateway"]["attributes"]["http.response.status_code"] == 200


def test_drop_mode_breaks_the_trace_below_the_dropping_service(chain: Chain) -> None:
    """With propagate_trace off at cart, inventory's span starts a new trace of its own."""
    _behave(chain, "cart-0", {"propagate_trace": False})
    trace_id, _, headers = _new_trace()
    started_ns = time.time_ns()
    response = requests.get(f"{chain.urls['gateway-0']}/t", headers=headers, timeout=10)
    assert response.status_code == 200
    inventory = response.json()["calls"][0]
    assert inventory["status"] == 200

    def inventory_spans() -> list[dict[str, Any]]:
        return _spans_of(
            chain, lambda s: s["service"] == "inventory" and s["start_ns"] >= started_ns
        )

    poll(
        lambda: len(_spans_of(chain, lambda s: s["trace_id"] == trace_id)) == 2, 15, 0.05, "2 spans"
    )
    poll(lambda: len(inventory_spans()) == 1, 15, 0.05, "the inventory span")
    in_trace = {s["service"] for s in _spans_of(chain, lambda s: s["trace_id"] == trace_id)}
    assert in_trace == {"gateway", "cart"}
    [orphan] = inventory_spans()
    assert orphan["trace_id"] != trace_id and orphan["parent_span_id"] == ""
