"""Helpers of the external-target tests: a target file naming a deployment the local
runtime made, and Prometheus counters read until they settle."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests
import yaml

from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.topology import load_topology


def write_target(
    deployment: Deployment,
    folder: Path,
    *,
    name: str,
    mesh: str,
    topology: Path,
    otlp_port: int | None = None,
    matchers: dict[str, str] | None = None,
) -> Path:
    """A target file for `deployment`: its ingress (with an extra header), Prometheus,
    Toxiproxy and proxies, the topology's call graph, and `traces` when `otlp_port`."""
    services = {
        service: {"ingress": spec.ingress, "calls": list(spec.calls)}
        for service, spec in load_topology(topology).services.items()
    }
    target: dict[str, Any] = {
        "name": name,
        "mesh": mesh,
        "ingress": {"url": deployment.ingress_url, "headers": {"x-meshproof-external": "1"}},
        "prometheus": {"url": deployment.prometheus_url, "matchers": matchers or {}},
        "toxiproxy": {
            "url": deployment.toxiproxy_url,
            "proxies": [
                {"name": p.name, "edge": p.edge, "instance": p.instance} for p in deployment.proxies
            ],
        },
        "services": services,
    }
    if otlp_port is not None:
        target["traces"] = {"listen": f"127.0.0.1:{otlp_port}"}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(target))
    return path


def counter(prometheus: str, query: str, where: dict[str, str] | None = None) -> float:
    """The sum of the instant query's series whose labels include `where`."""
    answer = requests.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=5).json()
    total = 0.0
    for series in answer["data"]["result"]:
        labels = series["metric"]
        if all(labels.get(k) == v for k, v in (where or {}).items()):
            total += float(series["value"][1])
    return total


def settled(
    prometheus: str,
    query: str,
    where: dict[str, str] | None = None,
    hold_s: float = 3.0,
    limit_s: float = 30.0,
) -> float:
    """The counter once it has not changed for `hold_s` (Prometheus scrapes each second)."""
    deadline = time.monotonic() + limit_s
    value, since = counter(prometheus, query, where), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = counter(prometheus, query, where)
        if now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= hold_s:
            return value
    raise AssertionError(f"{query} still changing after {limit_s:g}s")


def traffic_until_seen(
    deployment: Deployment, query: str, label: str, services: list[str], limit_s: float = 40.0
) -> None:
    """Requests to the ingress until `query` has a series for every service (by `label`)."""
    assert deployment.prometheus_url is not None
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        requests.get(deployment.ingress_url, timeout=5)
        answer = requests.get(
            f"{deployment.prometheus_url}/api/v1/query", params={"query": query}, timeout=5
        ).json()
        found = {s["metric"].get(label) for s in answer["data"]["result"]}
        if set(services) <= found:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never had {query} for every service")
