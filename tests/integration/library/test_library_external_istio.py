"""experiments/external-istio-abort.yaml against the reference mesh configured through a
real kube-apiserver: `meshproof up --config-source kubernetes`, a target file naming its
ingress, Prometheus and namespace (mesh: istio), and `meshproof run --target` unchanged.
The istio_fault's abort reaches the users as ~10 % 503s flagged FI, none once the
rollback has reached the sidecars, every SLO passes, and the VirtualService is exactly
as it was."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness.kube.testing import LocalApiServer
from mesh_runtime.kube.client import KubeClient
from mesh_runtime.kube.resources import VIRTUAL_SERVICE
from mesh_runtime.runtimes.deployment import Deployment, load, state_file
from mesh_runtime.topology import load_topology
from tests.integration.engine.enginekit import HarnessProcess
from tests.integration.istio.istiokit import counter_total, fresh_namespace
from tests.integration.library.librarykit import assert_run_files, assert_verdicts_hold, run_library
from tests.integration.mesh.test_mesh_cli import meshproof

pytestmark = pytest.mark.integration

Harness = Callable[[list[str]], HarnessProcess]
SHOP = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop.yaml"
FAULT = "catalog-abort-10"
SHARE = 0.10
PROPAGATION_S = 1.0
"""The rollback's way from the API server to every sidecar (measured 40-170 ms), with room."""


@dataclass(frozen=True)
class IstioShop:
    deployment: Deployment
    namespace: str
    target: Path


def target_file(deployment: Deployment, kubeconfig: Path, namespace: str, folder: Path) -> Path:
    """An Istio target file for the deployment: its ingress, Prometheus, the namespace."""
    topology = load_topology(SHOP)
    services = {
        n: {"ingress": s.ingress, "calls": list(s.calls)} for n, s in topology.services.items()
    }
    target = {
        "name": "reference-istio",
        "mesh": "istio",
        "ingress": {"url": deployment.ingress_url},
        "prometheus": {"url": deployment.prometheus_url},
        "kubernetes": {"kubeconfig": str(kubeconfig), "namespaces": [namespace]},
        "services": services,
    }
    path = folder / "reference-istio.yaml"
    path.write_text(yaml.safe_dump(target))
    return path


@pytest.fixture
def istio_shop(
    local_apiserver: LocalApiServer, kube: KubeClient, state_dir: Path, tmp_path: Path
) -> Iterator[IstioShop]:
    """The shop up with its policies as Istio objects (state_dir takes it down after)."""
    namespace = fresh_namespace(kube, "shop")
    kubeconfig = local_apiserver.kubeconfig
    done = meshproof(
        state_dir,
        "up",
        str(SHOP),
        "--config-source",
        "kubernetes",
        "--kubeconfig",
        str(kubeconfig),
        "--namespace",
        namespace,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    deployment = load(state_file(state_dir, "shop"))
    yield IstioShop(deployment, namespace, target_file(deployment, kubeconfig, namespace, tmp_path))


def test_external_istio_abort(
    harness: Harness, istio_shop: IstioShop, kube: KubeClient, state_dir: Path, tmp_path: Path
) -> None:
    """~10 % of users get 503 (FI) while the fault is on, none after its rollback reached the
    sidecars, every SLO passes, and the VirtualService is restored exactly."""
    before = kube.get(VIRTUAL_SERVICE, istio_shop.namespace, "catalog")
    frontend = next(r for r in istio_shop.deployment.instances if r.service == "frontend")
    metrics = f"http://127.0.0.1:{frontend.admin_port}/metrics"
    flagged = {"reporter": "source", "destination_service": "catalog", "response_flags": "FI"}
    fi_before = counter_total(metrics, "istio_requests_total", flagged)

    extra = ["--target", str(istio_shop.target)]
    result = run_library(
        harness, "external-istio-abort", "50s", tmp_path / "reports", state_dir, extra
    )
    assert_run_files(result, without=("spans.parquet",))  # the target file names no traces
    assert_verdicts_hold(result)
    assert result.record["status"] == "passed", result.log

    fault = result.fault(FAULT)
    requests = result.table("requests")
    during = requests[requests["intended_s"].between(fault["start_s"], fault["end_s"])]
    share = float((during["status"] == 503).mean())
    sd = math.sqrt(SHARE * (1 - SHARE) / len(during))
    print(
        f"\n{FAULT}: {int((during['status'] == 503).sum())} of {len(during)} answered 503 ({share:.1%})"
    )
    assert set(during["status"]) <= {200, 503}
    assert abs(share - SHARE) <= 4 * sd, f"{share:.3f} is not 10 % within 4 sd ({sd:.3f})"
    settled = requests[requests["intended_s"] >= fault["end_s"] + PROPAGATION_S]
    failed = settled[(settled["status"] == 0) | (settled["status"] >= 500)]
    assert len(settled) > 0 and len(failed) == 0, failed
    fi = counter_total(metrics, "istio_requests_total", flagged) - fi_before
    assert fi == int((requests["status"] == 503).sum()), (
        "each 503 was frontend's sidecar's injected fault"
    )

    after = kube.get(VIRTUAL_SERVICE, istio_shop.namespace, "catalog")
    assert after["spec"] == before["spec"]
    assert (after["metadata"].get("annotations") or {}) == (
        before["metadata"].get("annotations") or {}
    )
