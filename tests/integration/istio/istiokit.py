"""Helpers of the Istio-source tests: a fresh namespace in the session's API server, and
Istio objects written through it."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from mesh_runtime.kube.client import KubeClient
from mesh_runtime.kube.resources import NAMESPACE


def fresh_namespace(kube: KubeClient, prefix: str = "istio") -> str:
    """A namespace of its own for one test (the session's server is shared)."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    kube.create(NAMESPACE, None, {"metadata": {"name": name}})
    return name


def virtual_service(
    namespace: str, name: str, http: list[dict[str, Any]], host: str | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hosts": [host or name], "http": http},
    }


def abort_route(percentage: float, status: int = 503, name: str = "default") -> dict[str, Any]:
    return {
        "name": name,
        "route": [{"destination": {"host": "catalog"}}],
        "fault": {"abort": {"httpStatus": status, "percentage": {"value": percentage}}},
    }


def eventually(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """The first truthy result of `check` within `timeout` seconds (AssertionError else)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout}s (last: {last!r})")


def statuses(url: str, requests_n: int, workers: int = 8) -> Counter[int]:
    """GET `url` `requests_n` times from `workers` threads (keep-alive each); the answers'
    statuses (0: no answer)."""
    local = threading.local()

    def one(_: int) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        try:
            return int(session.get(url, timeout=10).status_code)
        except requests.RequestException:
            return 0

    with ThreadPoolExecutor(workers) as pool:
        return Counter(pool.map(one, range(requests_n)))


def counter_total(metrics_url: str, name: str, labels: dict[str, str]) -> float:
    """The sum of a counter's samples whose labels include `labels` (Prometheus text)."""
    text = requests.get(metrics_url, timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
