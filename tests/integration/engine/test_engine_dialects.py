"""Every metric dialect against live data: the shop's sidecars export Istio's, Linkerd's
or Envoy's (Consul's) metrics (`metrics.dialect` in the topology), a short `meshproof run`
sends real load through it, and the dialect's own queries, run in the deployment's real
Prometheus, give the same request counts and errors per service and per edge as the
harness's own request records."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from harness.analysis.signals import counter_increase_by
from harness.cli.main import main
from harness.observe import PrometheusObserver
from harness.observe.dialects import SIGNALS, BoundDialect, Signal, dialect_for
from harness.observe.rows import frame
from harness.store.model import PhaseRecord
from mesh_runtime.runtimes.deployment import load as load_state

pytestmark = pytest.mark.integration

CALLS = {"gateway": ["frontend"], "frontend": ["catalog", "cart"], "cart": ["inventory"]}
EDGES = [(src, dst) for src, callees in CALLS.items() for dst in callees]
SERVICES = ["gateway", "frontend", "catalog", "cart", "inventory"]
FAILING = {"gateway", "frontend", "cart", "inventory"}
"""inventory answers 503 to a share of requests; cart and frontend pass a 5xx through, so
the user sees it, and every edge on its path counts it; catalog is called first, and ok."""


def shop(dialect: str) -> dict[str, Any]:
    """The shop without retries (a retry would add requests the harness never sent)."""
    return {
        "name": "shop",
        "mesh": {"mtls": "PERMISSIVE"},
        "metrics": {"dialect": dialect},
        "services": {
            "gateway": {"ingress": True, "calls": CALLS["gateway"]},
            "frontend": {"calls": CALLS["frontend"]},
            "catalog": {},
            "cart": {"calls": CALLS["cart"]},
            "inventory": {},
        },
    }


EXPERIMENT: dict[str, Any] = {
    "title": "dialects: the shop's requests through each mesh's metric names",
    "load": {"rps": 30, "warmup": "4s", "duration": "6s", "connections": 4},
    "faults": [
        {
            "name": "inventory-503",
            "kind": "service_behaviour",
            "target": "inventory-0",
            "at": "2s",
            "duration": "7s",
            "params": {"error_rate": 0.3, "error_status": 503},
        }
    ],
    "slos": ["error_rate < 0.9"],
}


@pytest.mark.parametrize(
    ("sidecar", "meshes"),
    [("istio", ["meshproof", "istio"]), ("linkerd", ["linkerd"]), ("envoy", ["consul"])],
)
def test_dialect_counts_agree_with_the_harness_records(
    tmp_path: Path, state_dir: Path, sidecar: str, meshes: list[str]
) -> None:
    """Per service and per edge, requests and 5xx from each dialect's PromQL in the live
    Prometheus equal the harness's records; run.json names the run's dialect and its
    NoData reasons."""
    topology = tmp_path / "shop.yaml"
    topology.write_text(yaml.safe_dump(shop(sidecar)))
    experiment = tmp_path / "dialect.yaml"
    experiment.write_text(yaml.safe_dump({"target": {"topology": str(topology)}, **EXPERIMENT}))
    since = time.time() - 1.0
    run, record = run_kept(experiment, tmp_path / "reports", state_dir)
    requests = pd.read_parquet(run / "requests.parquet")
    sent = len(requests)
    failed = int(((requests["status"] >= 500) | (requests["status"] == 0)).sum())
    assert sent > 20 and 0 < failed < sent  # a busy machine sends fewer than 240

    assert record["dialect"]["name"] == meshes[0]
    no_data = record["dialect"]["no_data"]
    assert set(record["dialect"]["queries"]) | set(no_data) == set(SIGNALS)
    whole = next(p for p in record["phase_summaries"] if p["phase"] == "whole")
    for signal in ("ejections", "overflows"):  # NoData in run.json: a reason, never 0
        if signal in no_data:
            assert whole["values"][signal] is None
            assert whole["notes"][signal] == f"{meshes[0]} metrics: {no_data[signal]}"

    prometheus = load_state(state_dir / "deployments" / "shop.json").prometheus_url
    assert prometheus is not None
    for mesh in meshes:
        bound = dialect_for(mesh).bind()
        expected = expected_counts(sent, failed, bound)
        found = wait_for_counts(PrometheusObserver(prometheus), bound, since, expected)
        assert found == expected, mesh
        print(f"{sidecar} sidecars, {mesh} dialect: {sent} requests, {failed} failed: agrees")


def run_kept(experiment: Path, out: Path, state_dir: Path) -> tuple[Path, dict[str, Any]]:
    """`meshproof run --keep` of `experiment` (exit 0): its run directory and run.json."""
    args = ["run", str(experiment), "--out", str(out), "--quiet", "--keep"]
    assert main([*args, "--state-dir", str(state_dir)]) == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run, json.loads((run / "run.json").read_text())


def expected_counts(sent: int, failed: int, bound: BoundDialect) -> dict[str, Any]:
    """What the harness's records imply every dialect must count."""
    counts: dict[str, Any] = {
        "service_requests": {(s,): float(sent) for s in SERVICES},
        "service_errors": {(s,): float(failed) for s in SERVICES if s in FAILING},
        "edge_requests": {edge: float(sent) for edge in EDGES},
        "edge_errors": {edge: float(failed) for edge in EDGES if edge[1] in FAILING},
    }
    if bound.query("mtls_requests") is not None:  # sidecar to sidecar is mTLS, the load not
        counts["mtls_requests"] = {(s,): float(sent) for s in SERVICES if s != "gateway"}
    return counts


def wait_for_counts(
    observer: PrometheusObserver, bound: BoundDialect, since: float, expected: dict[str, Any]
) -> dict[str, Any]:
    """The dialect's counts from Prometheus, polled until the last scrape after the run is
    in (the sidecars are scraped every second); what was found when it stops agreeing."""
    deadline = time.monotonic() + 20.0
    while True:
        found = dialect_counts(observer, bound, since)
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def dialect_counts(observer: PrometheusObserver, bound: BoundDialect, since: float) -> dict:
    now = time.time()
    by: dict[Signal, tuple[str, ...]] = {
        "service_requests": ("mp_service",),
        "service_errors": ("mp_service",),
        "edge_requests": ("mp_source", "mp_destination"),
        "edge_errors": ("mp_source", "mp_destination"),
        "mtls_requests": ("mp_service",),
    }
    # Rows from `since` (t_s 0, before the deployment): every request counter's series
    # appears later, with its first request, and is counted from 0.
    rows: list[dict[str, Any]] = []
    queries = {signal: bound.query(signal) for signal in by}
    for query in queries.values():
        if query is not None:
            rows += observer.query_range(query, since, now, since)
    table = frame(rows)
    everything = PhaseRecord(name="all", start_s=0.0, end_s=now - since + 1.0)
    out = {}
    for signal, query in queries.items():
        if query is not None:
            counts = counter_increase_by(table, query, by[signal], everything) or {}
            out[signal] = {k: v for k, v in counts.items() if v and _named(k)}
    return out


def _named(key: tuple[str, ...]) -> bool:
    """Workloads of the shop: the load's own edge into the gateway has no named source."""
    return all(part in SERVICES for part in key)


RESILIENT_SHOP: dict[str, Any] = {
    "name": "shop",
    "services": {
        "gateway": {"ingress": True, "calls": ["catalog"]},
        "catalog": {
            "replicas": 2,
            "policy": {
                "trafficPolicy": {
                    "outlierDetection": {
                        "consecutive5xxErrors": 3,
                        "interval": "1s",
                        "baseEjectionTime": "2s",
                        "maxEjectionPercent": 50,
                    }
                },
                "http": [{"name": "default", "retries": {"attempts": 3, "retryOn": "5xx"}}],
            },
        },
    },
}


@pytest.mark.parametrize(("sidecar", "mesh"), [("linkerd", "linkerd"), ("envoy", "consul")])
def test_retries_and_ejections_in_each_dialect_match_the_meshs_own_counters(
    tmp_path: Path, state_dir: Path, sidecar: str, mesh: str
) -> None:
    """A failing replica: the dialect's retries (Linkerd's route retries, Envoy's
    upstream_rq_retry) and ejections (Envoy's) from the live Prometheus equal the
    reference mesh's own meshproof_* counters, and the run's summary has them."""
    topology = tmp_path / "shop.yaml"
    topology.write_text(yaml.safe_dump({**RESILIENT_SHOP, "metrics": {"dialect": sidecar}}))
    experiment = tmp_path / "retries.yaml"
    fault = {**EXPERIMENT["faults"][0], "name": "catalog-1-503", "target": "catalog-1"}
    fault["params"] = {"error_rate": 1.0, "error_status": 503}
    body = {"target": {"topology": str(topology)}, **EXPERIMENT, "faults": [fault]}
    experiment.write_text(yaml.safe_dump(body))
    since = time.time() - 1.0
    _, record = run_kept(experiment, tmp_path / "reports", state_dir)
    whole = next(p for p in record["phase_summaries"] if p["phase"] == "whole")
    assert whole["values"]["retries_per_krequests"] > 0

    prometheus = load_state(state_dir / "deployments" / "shop.json").prometheus_url
    assert prometheus is not None
    observer = PrometheusObserver(prometheus)
    bound = dialect_for(mesh).bind()
    own: dict[Signal, str] = {
        "retries": "meshproof_retries_total",
        "ejections": "meshproof_outlier_ejections_total",
    }
    deadline = time.monotonic() + 20.0
    while True:
        found: dict[str, float] = {}
        expected: dict[str, float] = {}
        for signal, counter in own.items():
            query = bound.query(signal)
            if query is None:
                continue
            found[signal] = total(observer, query, since)
            expected[signal] = total(observer, counter, since)
        if (found == expected and all(found.values())) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert found == expected and all(found.values()), (found, expected)
    assert "retries" in found and ("ejections" in found) == (mesh == "consul")
    print(f"{sidecar} sidecars, {mesh} dialect: {found} = the mesh's own counters")


def total(observer: PrometheusObserver, query: str, since: float) -> float:
    """The increase of a counter query over the test, all its series summed."""
    now = time.time()
    table = frame(observer.query_range(query, since, now, since))
    everything = PhaseRecord(name="all", start_s=0.0, end_s=now - since + 1.0)
    counts = counter_increase_by(table, query, (), everything) or {}
    return float(sum(counts.values()))
