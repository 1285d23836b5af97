"""A rolling hot restart of every sidecar of the shop under Locust load loses no request."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from restart_helpers import ready_pid, wait_for

from harness.load import LoadDriver, iter_worker_records
from harness.spec.load import LoadSpec, RouteSpec
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.runtimes.admin import admin_headers
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.local import LocalRuntime
from mesh_runtime.runtimes.supervisor import is_running

pytestmark = pytest.mark.integration

SCHEDULE_S = 50.0
"""Long enough for six hot restarts on a busy two-core machine, with traffic after them."""


@pytest.fixture(scope="module")
def shop(
    shop_topology: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalRuntime, Deployment]]:
    runtime = LocalRuntime(state_root=tmp_path_factory.mktemp("state"), ready_timeout=60)
    deployment = runtime.up(shop_topology)
    try:
        yield runtime, deployment
    finally:
        runtime.down(runtime.load(deployment.name))


def admin_port(deployment: Deployment, sidecar: str) -> int:
    instance = sidecar.removesuffix("-sidecar")
    port = next(r.admin_port for r in deployment.instances if r.instance == instance)
    assert port is not None
    return port


def config_version(port: int, deployment: Deployment) -> int:
    headers = admin_headers(deployment.admin_token_file)
    dump = requests.get(f"http://127.0.0.1:{port}/config_dump", headers=headers, timeout=5).json()
    return int(dump["version"])


def rolling_restart(
    runtime: LocalRuntime, deployment: Deployment, driver: LoadDriver
) -> tuple[Deployment, float]:
    """Every sidecar hot-restarted in turn once traffic flows; the schedule time left after."""
    wait_for(lambda: driver.live().completed >= 200, "traffic before the first restart", 30)
    for name in [p.name for p in deployment.processes if p.role == "sidecar"]:
        deployment = runtime.restart(deployment, name)
    return deployment, driver.t0 + SCHEDULE_S - time.time()


def test_rolling_hot_restart_of_every_sidecar_under_load_loses_no_request(
    shop: tuple[LocalRuntime, Deployment], tmp_path: Path
) -> None:
    """100 RPS through the gateway while each sidecar is hot-restarted in turn: every
    request answers 200; each sidecar runs under a new pid at the current config version."""
    runtime, deployment = shop
    before = {p.name: p for p in deployment.processes if p.role == "sidecar"}
    spec = LoadSpec(
        rps=100, duration=SCHEDULE_S, warmup=0, connections=16, routes=[RouteSpec(path="/shop")]
    )
    driver = LoadDriver(spec, deployment.ingress_url, tmp_path / "load")
    with driver:
        deployment, left_s = rolling_restart(runtime, deployment, driver)
        assert driver.wait(SCHEDULE_S + 30), "the load schedule did not finish"
        live = driver.live()
    assert left_s >= 3, f"the restarts ended {left_s:.1f}s before the schedule's end"
    rows: list[dict[str, Any]] = [r for f in driver.records_files() for r in iter_worker_records(f)]
    statuses = Counter(r["status"] for r in rows)
    errors = Counter(r["error"] for r in rows if r["error"])
    print(
        f"sent {live.sent}, answered {len(rows)}, failed {live.failed}, unsent {live.unsent},"
        f" stale-connection retries {live.stale_retries}, statuses {dict(statuses)}"
    )
    assert len(rows) == live.sent > 2000
    assert statuses == {200: len(rows)}, f"{statuses} {errors}"
    assert_new_sidecars(deployment, before)


def assert_new_sidecars(deployment: Deployment, before: dict[str, Any]) -> None:
    """Each sidecar runs under a new pid (the old one is gone), at the current config version."""
    assert deployment.control_url
    with ControlPlaneClient(deployment.control_url, deployment.control_token) as control:
        current = int(control.status()["version"])
    for name, old in before.items():
        new = deployment.process(name)
        assert new.pid != old.pid and is_running(new) and not is_running(old), name
        port = admin_port(deployment, name)
        assert ready_pid(port) == new.pid, name
        assert config_version(port, deployment) == current, name
