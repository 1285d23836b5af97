"""A counter whose family the real Prometheus never had during a run reads as no data, and
an SLO on it is NOT JUDGED; a family it knows from a `# TYPE` line with no samples (a
counter not yet incremented, as every mesh's exporter shows it) counts 0 and is judged.
`target check`'s prometheus line names the family Prometheus does not know.

Prometheus 2.42 (measured): a family exposed with `# HELP`/`# TYPE` and no samples has no
series (`count(...)` and `/api/v1/series` are empty) but is in `/api/v1/metadata` and
`/api/v1/targets/metadata` while its target is scraped."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from harness.analysis.summary import RunFrames, summarize, unmeasured_metrics
from harness.analysis.windows import compute_windows
from harness.judge import judge
from harness.observe.dialects import LINKERD, BoundDialect
from harness.observe.prometheus import PrometheusObserver
from harness.spec.slo import SLO
from harness.store.model import PhaseRecord, Verdict
from harness.target.check import check_prometheus
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.runtimes.prometheus import expected_targets, scrape_config
from mesh_runtime.target import PrometheusAccess
from tests.fixtures.make_run import steady_requests
from tests.fixtures.prometheus import instance, start_prometheus

pytestmark = pytest.mark.integration

REQUESTS = (
    "# HELP request_total Total count of HTTP requests.\n"
    "# TYPE request_total counter\n"
    'request_total{direction="inbound",deployment="catalog"} 40\n'
)
RETRY_FAMILY = (
    "# HELP outbound_http_route_retry_requests_total The total number of retry requests.\n"
    "# TYPE outbound_http_route_retry_requests_total counter\n"
)


@contextmanager
def exporter(body: str) -> Iterator[int]:
    """A /metrics endpoint serving `body` (Linkerd's names) on a fresh port."""
    payload = body.encode()

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", fresh_port()), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def retries_verdict(metrics: pd.DataFrame, dialect: BoundDialect, seconds: float) -> Verdict:
    """`retries_per_krequests < 1` judged over `seconds` of steady requests and `metrics`
    read in `dialect`."""
    requests = steady_requests(seconds)
    phases = [PhaseRecord(name="whole", start_s=0.0, end_s=seconds)]
    frames = RunFrames(
        requests, compute_windows(requests, phases), metrics=metrics, dialect=dialect
    )
    slo = SLO.model_validate("retries_per_krequests < 1")
    summaries = summarize(frames, phases, [], [slo])
    (verdict,) = judge([slo], summaries, unmeasured=unmeasured_metrics(dialect))
    return verdict


@pytest.mark.parametrize(
    ("exported", "judged"), [(True, True), (False, False)], ids=["family-exported", "absent"]
)
def test_a_retries_slo_is_judged_only_where_prometheus_knows_the_retry_family(
    exported: bool, judged: bool, tmp_path: Path
) -> None:
    """`retries_per_krequests < 1` of a Linkerd target with requests and no retry series:
    PASS at 0 where the exporter shows the retry family (no samples), NOT JUDGED with the
    family named where it does not export it at all."""
    with exporter(REQUESTS + (RETRY_FAMILY if exported else "")) as port:
        config = scrape_config([instance(port)])
        t0 = time.time()
        for server in start_prometheus(tmp_path, config):
            server.wait_for_targets_up(expected_targets(config), timeout=20)
            last = server.wait_for_scrapes_after(time.time(), timeout=10)
            assert last is not None
            end = t0 + math.ceil(last - t0)  # a query step at or after that scrape
            linkerd = LINKERD.bind()
            observer = PrometheusObserver(server.base_url, queries=linkerd.queries())
            metrics = observer.collect(t0, end, t0)
            dialect = linkerd.with_unseen(observer.unseen(linkerd, metrics, t0, end))
            access = PrometheusAccess(url=server.base_url)
            line = check_prometheus(access, "linkerd", ["catalog"], 5.0).line()

    assert (linkerd.query("proxied_requests") in set(metrics["metric"])) is True
    verdict = retries_verdict(metrics, dialect, end - t0 + 1)
    assert "has series for 1/1 services" in line and line.split()[1] == "ok", line
    unknown = (
        "; no series of outbound_http_route_retry_requests_total (retries): SLOs on it would"
        " not be judged"
    )
    assert line.endswith(unknown) is not judged, line
    if judged:
        assert dialect.unseen == frozenset()
        assert verdict.value == 0.0 and verdict.passed and not verdict.unmeasured
    else:
        assert dialect.unseen == {"retries"}
        assert verdict.value is None and not verdict.passed and verdict.unmeasured
        assert verdict.reason == (
            "no data: Prometheus has no series of outbound_http_route_retry_requests_total"
            " during the run; the mesh may not export it, or its scrape job is missing"
        )


@pytest.mark.parametrize(
    ("shop_exports", "judged"),
    [("", False), (RETRY_FAMILY, True)],
    ids=["retries-only-elsewhere", "retry-family-in-the-target"],
)
def test_a_family_exported_only_outside_the_targets_matchers_is_not_the_targets(
    shop_exports: str, judged: bool, tmp_path: Path
) -> None:
    """A target with `matchers: {namespace: shop}` where only another namespace's proxies
    count retries: `retries_per_krequests < 1` is NOT JUDGED, the reason and `target
    check` naming the family within the matchers (it read 0 and PASSED before). Where the
    shop's own proxies expose the family (`# TYPE`, no samples), it counts 0, judged."""
    others = REQUESTS + RETRY_FAMILY + 'outbound_http_route_retry_requests_total{route="x"} 7\n'
    with exporter(REQUESTS + shop_exports) as shop, exporter(others) as other:
        config = scrape_config([instance(shop), instance(other)])
        groups = config["scrape_configs"][0]["static_configs"]
        for group, namespace in zip(groups, ("shop", "istio-system"), strict=True):
            group["labels"]["namespace"] = namespace
        t0 = time.time()
        for server in start_prometheus(tmp_path, config):
            server.wait_for_targets_up(expected_targets(config), timeout=20)
            last = server.wait_for_scrapes_after(time.time(), timeout=10)
            assert last is not None
            end = t0 + math.ceil(last - t0)
            access = PrometheusAccess(url=server.base_url, matchers={"namespace": "shop"})
            linkerd = LINKERD.bind()
            observer = PrometheusObserver.of(access, queries=linkerd.queries())
            metrics = observer.collect(t0, end, t0)
            unseen = observer.unseen(linkerd, metrics, t0, end)
            dialect = linkerd.with_unseen(unseen, access.selector())
            line = check_prometheus(access, "linkerd", ["catalog"], 5.0).line()

    verdict = retries_verdict(metrics, dialect, end - t0 + 1)
    assert line.split()[1] == "ok", line
    within = (
        "; no series of outbound_http_route_retry_requests_total (retries) within"
        ' {namespace="shop"}: SLOs on it would not be judged'
    )
    assert line.endswith(within) is not judged, line
    if judged:
        assert unseen == [] and verdict.value == 0.0 and verdict.passed
    else:
        assert unseen == ["retries"] and verdict.unmeasured and verdict.value is None
        assert verdict.reason == (
            "no data: Prometheus has no series of outbound_http_route_retry_requests_total"
            '{namespace="shop"} during the run; the mesh may not export it, or its scrape job'
            " is missing"
        )
