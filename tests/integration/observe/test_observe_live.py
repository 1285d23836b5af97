"""Observers against a real shop: resources of its processes, Prometheus, the built-in
scraper and the trace sink's spans."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar

import pandas as pd
import pytest
import requests

from harness.errors import RunError
from harness.observe import BuiltinScraper, PrometheusObserver, ResourceSampler, read_spans
from harness.observe.builtin_scraper import sidecar_targets
from mesh_runtime.runtimes.deployment import Deployment
from tests.integration.observe.conftest import Traffic

pytestmark = pytest.mark.integration

T = TypeVar("T")


def poll(fetch: Callable[[], T], ok: Callable[[T], bool], timeout: float, what: str) -> T:
    """Call `fetch` until `ok` holds for its result; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.2)


def _load(url: str, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    sent = 0
    with requests.Session() as session:
        while time.monotonic() < deadline:
            session.get(url, timeout=5)
            sent += 1
    return sent


def test_traffic_went_through(traffic: Traffic) -> None:
    """The shared traffic was served (the other tests observe it)."""
    assert traffic.statuses.count(200) == len(traffic.statuses)


def test_resource_sampler_sees_sidecar_cpu_and_rss(observed_shop: Deployment) -> None:
    """Sidecars under load show CPU time used and resident memory, per second."""
    sidecars = [(p.role, p.name, p.pid) for p in observed_shop.processes_of("sidecar")]
    sampler = ResourceSampler(sidecars, t0=time.time(), interval=0.5)
    sampler.start()
    try:
        _load(observed_shop.ingress_url + "/", seconds=2.0)
    finally:
        sampler.stop()
    table = sampler.frame()
    assert set(table["name"]) == {name for _, name, _ in sidecars}
    gateway = table[table["name"] == "gateway-0-sidecar"]
    assert gateway["cpu_s"].sum() > 0.01
    assert (table["rss_mb"] > 5).all()
    assert (table["cpu_cores"] >= 0).all() and (table["cpu_cores"] < 4).all()


def test_prometheus_has_istio_requests_after_traffic(
    observed_shop: Deployment, traffic: Traffic
) -> None:
    """Range queries over the traffic's time return istio_requests_total rows and rates."""
    assert observed_shop.prometheus_url is not None
    observer = PrometheusObserver(observed_shop.prometheus_url)
    raw = poll(
        lambda: observer.query_range("istio_requests_total", traffic.t0, time.time(), traffic.t0),
        lambda rows: any(r["value"] >= 100 for r in rows),
        timeout=15,
        what="istio_requests_total in Prometheus",
    )
    labels = [json.loads(r["labels"]) for r in raw]
    assert {"reporter", "source_workload", "destination_service", "response_code"} <= set(labels[0])
    table = observer.collect(traffic.t0, time.time(), traffic.t0)
    assert list(table.columns) == ["t_s", "metric", "labels", "value"]
    rates = table[table["metric"].str.startswith("sum by (reporter")]
    assert not rates.empty and rates["value"].max() > 1
    assert not table[table["metric"].str.startswith("histogram_quantile(0.99")].empty


def test_prometheus_error_names_the_query(observed_shop: Deployment) -> None:
    """A query Prometheus refuses is a RunError that quotes the query."""
    assert observed_shop.prometheus_url is not None
    observer = PrometheusObserver(observed_shop.prometheus_url)
    now = time.time()
    with pytest.raises(RunError, match=r"query 'rate\(\(\(' failed"):
        observer.query_range("rate(((", now - 5, now, now - 5)


def test_builtin_scraper_collects_the_same_raw_counters(observed_shop: Deployment) -> None:
    """The fallback scraper gets istio_requests_total from every sidecar's /metrics."""
    targets = sidecar_targets(observed_shop)
    scraper = BuiltinScraper(targets, t0=time.time(), interval=0.5)
    assert scraper.scrape() == len(targets)
    table = scraper.frame()
    requests_total = table[table["metric"] == "istio_requests_total"]
    assert not requests_total.empty
    instances = {json.loads(text)["instance"] for text in requests_total["labels"]}
    assert "gateway-0" in instances


def test_spans_of_the_traffic_are_read(observed_shop: Deployment, traffic: Traffic) -> None:
    """Spans of requests made since t0 arrive in the sink's file and are read as rows."""
    assert observed_shop.trace_file is not None
    path = observed_shop.trace_file
    spans: pd.DataFrame = poll(
        lambda: read_spans(path, traffic.t0),
        lambda table: table["trace_id"].nunique() >= 100,
        timeout=20,
        what="spans in the trace sink's file",
    )
    assert (spans["start_ns"] >= int(traffic.t0 * 1e9)).all()
    assert {"gateway", "catalog"} <= set(spans["service"])
    assert read_spans(path, time.time() + 3600).empty
