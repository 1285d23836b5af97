"""The reference mesh as an external target: the shop brought up by the local runtime
(its sidecars exporting spans to an OTLP address, as a mesh's collector would), a target
file pointing at its ingress, Prometheus, Toxiproxy and that address, `target check`
exits 0, and an experiment written for the shop topology runs unchanged with `--target`:
nothing is deployed or torn down, the toxic is rolled back, the requests Prometheus
counted at the ingress equal the harness's own records, and the spans the harness's
receiver took give the trace completeness."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.cli.main import main
from harness.faults.targets import proxies_for
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.local import LocalRuntime
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.runtimes.prometheus import SIDECAR_JOB
from mesh_runtime.runtimes.supervisor import is_running
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient
from mesh_runtime.target import load_target
from mesh_runtime.topology import load_topology
from tests.integration.target.targetkit import counter, settled, traffic_until_seen, write_target

ROOT = Path(__file__).resolve().parents[3]
SHOP = ROOT / "experiments" / "topologies" / "shop.yaml"
INGRESS_COUNT = (
    f'sum(istio_requests_total{{job="{SIDECAR_JOB}",reporter="destination",'
    'destination_workload="gateway"})'
)
ERRORS_COUNT = INGRESS_COUNT.replace('"gateway"', '"gateway",response_code=~"5.."')


@pytest.fixture(scope="module")
def otlp_port() -> int:
    """Where the shop's sidecars export spans: the external target's `traces.listen`."""
    return fresh_port()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, otlp_port: int) -> Iterator[Deployment]:
    """The shop on the local runtime, exporting spans to `otlp_port`, taken down at the end."""
    root = tmp_path_factory.mktemp("reference-state")
    runtime = LocalRuntime(state_root=root)
    deployment = runtime.up(SHOP, otlp_endpoint=f"http://127.0.0.1:{otlp_port}/v1/traces")
    try:
        yield deployment
    finally:
        runtime.down(deployment)


def target_for(deployment: Deployment, folder: Path, otlp_port: int) -> Path:
    """A target file naming the deployment's ingress, Prometheus, Toxiproxy and OTLP address."""
    return write_target(
        deployment,
        folder,
        name="shop-external",
        mesh="meshproof",
        topology=SHOP,
        otlp_port=otlp_port,
        matchers={"job": SIDECAR_JOB},
    )


def wait_for_series(deployment: Deployment, services: list[str]) -> None:
    """Traffic until Prometheus has a request series for every service."""
    query = 'count by (destination_workload) (istio_requests_total{reporter="destination"})'
    traffic_until_seen(deployment, query, "destination_workload", services)


def test_check_then_run_against_the_shop_as_external(
    shop: Deployment, otlp_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check exits 0; the shop experiment runs with --target; counts match the records."""
    assert shop.prometheus_url is not None and shop.toxiproxy_url is not None
    target_path = target_for(shop, tmp_path, otlp_port)
    wait_for_series(shop, list(load_topology(SHOP).services))
    assert main(["target", "check", str(target_path)]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "prometheus     ok    " in out and "toxiproxy      ok    " in out
    assert "has series for 5/5 services" in out
    assert f"traces         ok    the OTLP receiver can listen on 127.0.0.1:{otlp_port}" in out

    experiment = tmp_path / "slow-catalog.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "title": "A slow catalog replica, on whatever the target is",
                "target": {"topology": str(SHOP)},
                "load": {"rps": 20, "warmup": "2s", "duration": "8s", "connections": 4},
                "faults": [
                    {
                        "name": "slow-catalog-1",
                        "kind": "toxic",
                        "target": "frontend->catalog-1",
                        "at": "2s",
                        "duration": "3s",
                        "params": {"type": "latency", "attributes": {"latency": 40}},
                    }
                ],
                "slos": ["error_rate < 0.05"],
            }
        )
    )
    before = settled(shop.prometheus_url, INGRESS_COUNT)
    errors_before = counter(shop.prometheus_url, ERRORS_COUNT)
    state = tmp_path / "state"
    reports = tmp_path / "reports"
    args = ["run", str(experiment), "--target", str(target_path)]
    code = main([*args, "--state-dir", str(state), "--out", str(reports)])
    out = capsys.readouterr().out
    assert code == 0, out
    # its progress says what happens: nothing is deployed or torn down
    assert "reading the external target shop-external" in out, out
    assert "deploying" not in out and "tearing down" not in out, out

    run_dir = next(reports.iterdir())
    record = json.loads((run_dir / "run.json").read_text())
    assert record["runtime"] == "external"
    assert record["environment"]["sidecar_version"] == "meshproof (external target shop-external)"
    # which target it was, for the gate's history and the reports
    assert record["target"] == {
        "file": str(target_path.resolve()),
        "name": "shop-external",
        "mesh": "meshproof",
        "ingress": load_target(target_path).ingress.url,
    }
    assert [f["name"] for f in record["faults"]] == ["slow-catalog-1"]
    # nothing of the shop was deployed or torn down by the run; its state file is gone
    assert all(is_running(p) for p in shop.processes)
    assert not (state / "deployments" / "external-shop-external.json").exists()
    # the toxic was rolled back
    client = ToxiproxyClient(shop.toxiproxy_url)
    for proxy in proxies_for(shop, "frontend->catalog"):
        assert client.toxics(proxy.name) == []

    records = pd.read_parquet(run_dir / "requests.parquet")
    answered = records[records["status"] > 0]
    after = settled(shop.prometheus_url, INGRESS_COUNT)
    errors_after = counter(shop.prometheus_url, ERRORS_COUNT)
    print(
        f"harness records {len(records)}, answered {len(answered)};"
        f" Prometheus at the ingress: {after - before:.0f}"
    )
    assert after - before == len(answered)
    assert errors_after - errors_before == int((answered["status"] >= 500).sum())
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    raw = metrics[metrics["metric"] == "istio_requests_total"]  # named as without matchers
    assert len(raw) > 0
    assert {json.loads(labels).get("job") for labels in raw["labels"]} == {SIDECAR_JOB}
    assert record["summary"]["retries_per_krequests"] is not None  # the analysis found them
    # the spans came to the harness's receiver on the target's address
    spans = pd.read_parquet(run_dir / "spans.parquet")
    assert set(spans["service"]) >= {"gateway", "frontend", "catalog", "cart", "inventory"}
    completeness = record["summary"]["trace_completeness"]
    print(f"trace completeness {completeness}, {len(spans)} spans")
    assert completeness is not None and completeness > 0.9


def test_prometheus_matchers_narrow_every_query(shop: Deployment) -> None:
    """A target's matchers go into every query sent to a real Prometheus; the rows keep the
    query's own name, so the analysis finds them."""
    from harness.observe.prometheus import PrometheusObserver
    from mesh_runtime.target import PrometheusAccess

    assert shop.prometheus_url is not None
    wait_for_series(shop, ["gateway", "catalog"])
    end = time.time()
    everything = PrometheusObserver.of(PrometheusAccess(url=shop.prometheus_url))
    catalog = PrometheusObserver.of(
        PrometheusAccess(url=shop.prometheus_url, matchers={"service": "catalog"})
    )
    rows = everything.collect(end - 20, end, end - 20)
    narrowed = catalog.collect(end - 20, end, end - 20)
    services = {
        json.loads(t).get("service") for t in rows[rows.metric == "istio_requests_total"].labels
    }
    assert {"gateway", "catalog"} <= services
    raw = narrowed[narrowed.metric == "istio_requests_total"]
    assert len(raw) > 0 and {json.loads(t)["service"] for t in raw.labels} == {"catalog"}
    assert set(narrowed.metric) <= set(rows.metric)


def test_a_killed_run_against_the_external_target_is_recovered(
    shop: Deployment, otlp_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL the harness while its toxic is on the external target's Toxiproxy: the toxic
    stays, and `meshproof recover` takes it off through the ledger and the external state
    file; `down external-<name>` then forgets the run, touching nothing of the mesh."""
    from tests.integration.engine.enginekit import HarnessProcess, wait_for

    assert shop.toxiproxy_url is not None
    target_path = target_for(shop, tmp_path, otlp_port)
    experiment = tmp_path / "long-toxic.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "title": "A toxic that outlives its harness",
                "target": {"topology": str(SHOP)},
                "load": {"rps": 10, "warmup": "1s", "duration": "60s", "connections": 2},
                "faults": [
                    {
                        "name": "stuck",
                        "kind": "toxic",
                        "target": "frontend->catalog",
                        "at": "0s",
                        "params": {"type": "latency", "attributes": {"latency": 5}},
                    }
                ],
            }
        )
    )
    state_dir = tmp_path / "state"
    args = ["run", str(experiment), "--target", str(target_path), "--quiet"]
    harness = HarnessProcess(
        [*args, "--state-dir", str(state_dir), "--out", str(tmp_path / "reports")],
        tmp_path / "harness.log",
    )
    client = ToxiproxyClient(shop.toxiproxy_url)
    proxies = [p.name for p in proxies_for(shop, "frontend->catalog")]
    try:
        wait_for(lambda: all(client.toxics(p) for p in proxies), 60, "the toxic on every proxy")
    finally:
        harness.kill_group()
    assert all(t["name"] == "meshproof-stuck" for p in proxies for t in client.toxics(p))
    state_file = state_dir / "deployments" / "external-shop-external.json"
    assert state_file.exists()

    assert main(["recover", "--state-dir", str(state_dir)]) == 0, capsys.readouterr()
    assert all(client.toxics(p) == [] for p in proxies)
    env = {"MESHPROOF_STATE_DIR": str(state_dir)}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        assert main(["down", "external-shop-external"]) == 0
    assert not state_file.exists()
    assert all(is_running(p) for p in shop.processes)


def test_a_receiver_that_took_no_span_leaves_trace_completeness_not_judged(
    shop: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target whose mesh exports spans elsewhere than its `traces.listen`: the receiver
    takes none, so trace completeness is not judged (exit 3, a note naming the address),
    never measured as 0 % and failed (it was, with every trace 'missing' every span)."""
    silent = fresh_port()  # the shop's sidecars export to otlp_port, never here
    target_path = target_for(shop, tmp_path, silent)
    experiment = tmp_path / "traced.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "title": "Every trace complete, on whatever the target is",
                "target": {"topology": str(SHOP)},
                "load": {"rps": 20, "warmup": "1s", "duration": "4s", "connections": 2},
                "slos": ["error_rate < 0.05", "trace_completeness >= 0.9"],
            }
        )
    )
    reports = tmp_path / "reports"
    args = ["run", str(experiment), "--target", str(target_path), "--out", str(reports)]
    code = main([*args, "--state-dir", str(tmp_path / "state")])
    out = capsys.readouterr().out
    assert code == 3, out
    assert f"no span reached the OTLP receiver on 127.0.0.1:{silent}" in out, out
    record = json.loads((next(reports.iterdir()) / "run.json").read_text())
    assert record["summary"]["trace_completeness"] is None
    verdict = next(v for v in record["verdicts"] if v["metric"] == "trace_completeness")
    assert verdict["unmeasured"] and verdict["value"] is None, verdict
