"""A real shop deployment on the local runtime with some traffic through it, shared by
this directory's tests; everything is taken down at the end of the session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.local import LocalRuntime

ROOT = Path(__file__).resolve().parents[3]
SHOP = ROOT / "experiments" / "topologies" / "shop.yaml"


@dataclass(frozen=True)
class Traffic:
    t0: float
    """Wall clock just before the first request."""
    end: float
    statuses: list[int]


@pytest.fixture(scope="session")
def observed_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    runtime = LocalRuntime(state_root=tmp_path_factory.mktemp("state"), ready_timeout=60.0)
    deployment = runtime.up(SHOP)
    try:
        yield deployment
    finally:
        runtime.down(runtime.load(deployment.name))


@pytest.fixture(scope="session")
def traffic(observed_shop: Deployment) -> Traffic:
    """About 300 requests over some 3 seconds, 4 at a time (a modest load)."""
    url = observed_shop.ingress_url + "/products"
    t0 = time.time()

    def one(_: int) -> int:
        time.sleep(0.04)
        with requests.get(url, timeout=5) as response:
            return response.status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(one, range(300)))
    return Traffic(t0=t0, end=time.time(), statuses=statuses)
