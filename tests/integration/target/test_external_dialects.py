"""The shop as an external target in each mesh's metric names: the reference sidecars
render /metrics as Istio's, Linkerd's or Envoy's (`metrics: {dialect: ...}`), the target
file says `mesh: istio | linkerd | consul`, `target check` finds the dialect's request
counter for every service, and a run with a proxy_down on cart->inventory (users see 503s
while it is on) gives, through that dialect, exactly the request and 5xx counts at the
ingress that the harness's own records hold."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml

from harness.cli.main import main
from harness.observe.dialects import SERVICE, dialect_for
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.local import LocalRuntime
from tests.integration.target.targetkit import settled, traffic_until_seen, write_target

ROOT = Path(__file__).resolve().parents[3]
SHOP = ROOT / "experiments" / "topologies" / "shop.yaml"
SERVICES = ["gateway", "frontend", "catalog", "cart", "inventory"]


def shop_in(dialect: str, folder: Path) -> Path:
    """The shop topology with its sidecars' /metrics in `dialect`'s names."""
    topology = yaml.safe_load(SHOP.read_text())
    topology["metrics"] = {"dialect": dialect}
    path = folder / f"shop-{dialect}.yaml"
    path.write_text(yaml.safe_dump(topology))
    return path


def run_is_refused(
    target: Path, folder: Path, capsys: pytest.CaptureFixture[str], said: str
) -> None:
    """`run` against a target that would measure nothing true (`before_a_run`) is refused
    with one line, exit 2, before its run folder exists."""
    experiment = folder / "steady.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "title": "Steady",
                "target": {"topology": str(SHOP)},
                "load": {"rps": 5, "warmup": "1s", "duration": "3s", "connections": 1},
            }
        )
    )
    reports = folder / "refused-runs"
    command = ["run", str(experiment), "--target", str(target), "--quiet"]
    code = main([*command, "--state-dir", str(folder / "state"), "--out", str(reports)])
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    assert said in captured.err and "meshproof target check" in captured.err, captured.err
    assert not reports.exists() or not any(reports.iterdir())


def check_fails_on_a_proxy_left_faulted(
    shop: Deployment, target: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A proxy with a toxic, then one disabled (a killed run's fault, left in place): the
    check fails naming it, since every run would start on a slowed or cut edge; cleaned,
    it passes again."""
    api, proxy = shop.toxiproxy_url, shop.proxies[0].name
    assert api is not None
    toxic = {"name": "left-over", "type": "latency", "attributes": {"latency": 300}}
    Call = tuple[str, str, object]
    steps: list[tuple[Call, str, Call]] = [
        (("post", f"/proxies/{proxy}/toxics", toxic), "carries toxics left-over",
         ("delete", f"/proxies/{proxy}/toxics/left-over", None)),
        (("post", f"/proxies/{proxy}", {"enabled": False}), "is disabled",
         ("post", f"/proxies/{proxy}", {"enabled": True})),
    ]  # fmt: skip
    for (method, path, body), said, (back, back_path, back_body) in steps:
        requests.request(method, f"{api}{path}", json=body, timeout=5).raise_for_status()
        assert main(["target", "check", str(target)]) != 0
        out = capsys.readouterr().out
        assert f"{proxy} {said}" in out and "meshproof recover" in out, out
        run_is_refused(target, target.parent, capsys, f"{proxy} {said}")
        requests.request(back, f"{api}{back_path}", json=back_body, timeout=5).raise_for_status()
    assert main(["target", "check", str(target)]) == 0, capsys.readouterr().out
    capsys.readouterr()


def per_service(query: str) -> str:
    return f"sum by ({SERVICE}) ({query})"


@pytest.mark.parametrize(
    ("sidecar_dialect", "mesh"),
    [("istio", "istio"), ("linkerd", "linkerd"), ("envoy", "consul")],
)
def test_the_dialect_counts_what_the_harness_sent(
    sidecar_dialect: str, mesh: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Requests and 5xx at the ingress, read in the mesh's names, equal the records."""
    (tmp_path / "mesh").mkdir()  # the target files are written beside, named shop-<mesh>
    topology = shop_in(sidecar_dialect, tmp_path / "mesh")
    runtime = LocalRuntime(state_root=tmp_path / "reference")
    shop = runtime.up(topology)
    try:
        prometheus = shop.prometheus_url
        assert prometheus is not None
        bound = dialect_for(mesh).bind()
        requests_q, errors_q = bound.query("service_requests"), bound.query("service_errors")
        assert requests_q is not None and errors_q is not None
        traffic_until_seen(shop, per_service(requests_q), SERVICE, SERVICES)
        target = write_target(shop, tmp_path, name=f"shop-{mesh}", mesh=mesh, topology=topology)
        assert main(["target", "check", str(target)]) == 0, capsys.readouterr().out
        assert "has series for 5/5 services" in capsys.readouterr().out
        # the same mesh described as another: the check names the mesh Prometheus has
        wrong = "linkerd" if mesh != "linkerd" else "istio"
        misnamed = write_target(shop, tmp_path, name="shop-misnamed", mesh=wrong, topology=topology)
        assert main(["target", "check", str(misnamed)]) != 0
        out = capsys.readouterr().out
        assert "instead: is the target" in out and f"`mesh: {mesh}`" in out, out
        run_is_refused(misnamed, tmp_path, capsys, "instead: is the target")
        if mesh == "istio":
            check_fails_on_a_proxy_left_faulted(shop, target, capsys)

        experiment = tmp_path / "inventory-down.yaml"
        experiment.write_text(
            yaml.safe_dump(
                {
                    "title": "Inventory unreachable for 5 s",
                    "target": {"topology": str(SHOP)},
                    "load": {"rps": 20, "warmup": "6s", "duration": "10s", "connections": 4},
                    "faults": [
                        {
                            "name": "inventory-down",
                            "kind": "proxy_down",
                            "target": "cart->inventory",
                            "at": "2s",
                            "duration": "5s",
                        }
                    ],
                }
            )
        )
        gateway = {SERVICE: "gateway"}
        before = settled(prometheus, per_service(requests_q), gateway)
        errors_before = settled(prometheus, per_service(errors_q), gateway, hold_s=1.0)
        reports = tmp_path / "reports"
        code = main(
            [
                "run", str(experiment), "--target", str(target), "--quiet",
                "--state-dir", str(tmp_path / "state"), "--out", str(reports),
            ]
        )  # fmt: skip
        assert code == 0, capsys.readouterr().out
        run_dir = next(reports.iterdir())
        record = json.loads((run_dir / "run.json").read_text())
        assert record["runtime"] == "external" and record["dialect"]["name"] == mesh

        records = pd.read_parquet(run_dir / "requests.parquet")
        answered = records[records["status"] > 0]
        failed = int((answered["status"] >= 500).sum())
        after = settled(prometheus, per_service(requests_q), gateway)
        errors_after = settled(prometheus, per_service(errors_q), gateway, hold_s=1.0)
        print(
            f"{mesh}: records {len(answered)} answered, {failed} 5xx;"
            f" {bound.name} at the ingress: {after - before:.0f} requests,"
            f" {errors_after - errors_before:.0f} 5xx"
        )
        fault = record["faults"][0]
        assert fault["end_s"] - fault["start_s"] > 1  # not squeezed by a late Locust start
        assert failed > 0  # the fault reached the users
        assert after - before == len(answered)
        assert errors_after - errors_before == failed
    finally:
        runtime.down(shop)
