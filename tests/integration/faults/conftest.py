"""A real shop deployment on the local runtime, shared by this directory's tests.

State goes to a temporary state root (never the developer's .meshproof); the finalizer
takes everything down (it SIGCONTs paused processes too), so nothing outlives the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.faults import FaultContext
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.local import LocalRuntime
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient

ROOT = Path(__file__).resolve().parents[3]
SHOP = ROOT / "experiments" / "topologies" / "shop.yaml"


@pytest.fixture(scope="session")
def state_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="session")
def runtime(state_root: Path) -> LocalRuntime:
    return LocalRuntime(state_root=state_root, ready_timeout=60.0)


@pytest.fixture(scope="session")
def shop(runtime: LocalRuntime) -> Iterator[Deployment]:
    deployment = runtime.up(SHOP)
    try:
        yield deployment
    finally:
        runtime.down(runtime.load(deployment.name))


@pytest.fixture
def ctx(shop: Deployment, runtime: LocalRuntime) -> Iterator[FaultContext]:
    control = ControlPlaneClient(shop.control_url or "", shop.control_token)
    context = FaultContext(
        deployment=shop,
        runtime=runtime,
        control=control,
        toxiproxy=ToxiproxyClient(shop.toxiproxy_url or ""),
        state_file=runtime.state_file(shop.name),
    )
    yield context
    control.close()
