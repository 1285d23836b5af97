"""Per-config runtime objects: built once per version, stateful parts carried over."""

from __future__ import annotations

import random

import pytest

from mesh_runtime.config import MeshConfig
from mesh_runtime.errors import InvalidInput
from mesh_runtime.sidecar.state import StateHolder, split_address


def config(version: int, endpoints: list[tuple[str, str, str]], **policy: object) -> MeshConfig:
    return MeshConfig.model_validate(
        {
            "version": version,
            "services": {
                "catalog": {
                    "name": "catalog",
                    "endpoints": [
                        {"instance": i, "version": v, "address": a} for i, v, a in endpoints
                    ],
                    "policy": policy,
                }
            },
        }
    )


TWO = [("catalog-0", "v1", "127.0.0.1:1001"), ("catalog-1", "v2", "127.0.0.1:1002")]
OUTLIER = {"trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 1}}}


def test_subsets_group_instances_by_version() -> None:
    """Each version lists its instances; None lists them all, in config order."""
    state = StateHolder("frontend", random.Random(1)).apply(config(1, TWO))
    svc = state.services["catalog"]
    assert svc.instances(None) == ["catalog-0", "catalog-1"]
    assert svc.instances("v2") == ["catalog-1"]
    assert svc.instances("v9") == []


def test_new_version_keeps_pools_breaker_and_outlier_state() -> None:
    """A policy change keeps warm pools, breaker counts and ejection state."""
    holder = StateHolder("frontend", random.Random(1))
    first = holder.apply(config(1, TWO, **OUTLIER)).services["catalog"]
    first.breaker.try_acquire_request()
    second = holder.apply(config(2, TWO, **OUTLIER)).services["catalog"]
    assert second.pools["catalog-0"] is first.pools["catalog-0"]
    assert second.breaker is first.breaker
    assert second.breaker.in_flight == 1
    assert second.outlier is first.outlier


def test_moved_endpoint_gets_a_new_pool() -> None:
    """An endpoint whose address changed gets a fresh pool; the other keeps its own."""
    holder = StateHolder("frontend", random.Random(1))
    first = holder.apply(config(1, TWO)).services["catalog"]
    moved = [TWO[0], ("catalog-1", "v2", "127.0.0.1:2002")]
    second = holder.apply(config(2, moved)).services["catalog"]
    assert second.pools["catalog-0"] is first.pools["catalog-0"]
    assert second.pools["catalog-1"] is not first.pools["catalog-1"]
    assert second.pools["catalog-1"].port == 2002


def test_toxiproxy_edge_address_is_used_for_its_source() -> None:
    """An endpoint reached through a proxy on this source's edge is dialled there."""
    data = config(1, TWO).model_dump()
    data["services"]["catalog"]["endpoints"][0]["via"] = {"frontend": "127.0.0.1:3001"}
    state = StateHolder("frontend", random.Random(1)).apply(MeshConfig.model_validate(data))
    assert state.services["catalog"].pools["catalog-0"].port == 3001
    other = StateHolder("cart", random.Random(1)).apply(MeshConfig.model_validate(data))
    assert other.services["catalog"].pools["catalog-0"].port == 1001


def test_connection_pool_settings_reach_the_pools() -> None:
    """maxRequestsPerConnection and idleTimeout are copied onto every endpoint pool."""
    policy = {
        "trafficPolicy": {
            "connectionPool": {"http": {"maxRequestsPerConnection": 7, "idleTimeout": "5s"}}
        }
    }
    state = StateHolder("frontend", random.Random(1)).apply(config(1, TWO, **policy))
    pool = state.services["catalog"].pools["catalog-1"]
    assert (pool.max_requests_per_connection, pool.idle_timeout) == (7, 5.0)


@pytest.mark.parametrize("address", ["nohost", "h:", "h:99999", ":80", "h:x"])
def test_bad_endpoint_address_is_one_clear_error(address: str) -> None:
    """An address that is not host:port is an InvalidInput naming it."""
    with pytest.raises(InvalidInput, match="expected host:port"):
        split_address(address)


def test_ipv6_address_is_split() -> None:
    """'[::1]:8080' is host ::1, port 8080."""
    assert split_address("[::1]:8080") == ("::1", 8080)
