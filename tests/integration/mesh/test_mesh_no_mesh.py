"""The shop topology without sidecars (the baseline mode) on the local runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mesh_helpers import deployed, services_in

from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.local import LocalRuntime

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bare(
    shop_topology: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalRuntime, Deployment]]:
    with deployed(shop_topology, tmp_path_factory.mktemp("state"), "no-mesh") as up:
        yield up


def test_no_sidecars_and_no_control_plane(bare: tuple[LocalRuntime, Deployment]) -> None:
    """In no-mesh mode the deployment runs services, trace sink, Toxiproxy and Prometheus only."""
    runtime, deployment = bare
    roles = {p["role"] for p in runtime.status(deployment)["processes"]}
    assert roles == {"service", "trace-sink", "toxiproxy", "prometheus"}
    assert all(p["ready"] for p in runtime.status(deployment)["processes"])


def test_request_reaches_every_service_without_the_mesh(
    bare: tuple[LocalRuntime, Deployment],
) -> None:
    """A request to the gateway's own port answers 200 and its JSON shows every service."""
    _, deployment = bare
    response = requests.get(deployment.ingress_url + "/shop", timeout=10)
    assert response.status_code == 200
    assert services_in(response.json()) == {"gateway", "frontend", "catalog", "cart", "inventory"}
