"""build_mesh_config: topology + addresses -> the first MeshConfig."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_runtime.control.build import build_mesh_config
from mesh_runtime.errors import InvalidInput
from mesh_runtime.topology import Topology, load_topology

SHOP = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop.yaml"


@pytest.fixture
def shop() -> Topology:
    return load_topology(SHOP)


def _inbound(topology: Topology) -> dict[str, str]:
    return {inst.name: f"127.0.0.1:{20000 + i}" for i, inst in enumerate(topology.instances())}


def test_every_instance_becomes_an_endpoint_of_its_service(shop: Topology) -> None:
    """Each instance appears once, under its service, with its inbound address and version."""
    inbound = _inbound(shop)
    config = build_mesh_config(shop, inbound, {})
    assert set(config.services) == {"gateway", "frontend", "catalog", "cart", "inventory"}
    catalog = config.services["catalog"]
    assert [e.instance for e in catalog.endpoints] == ["catalog-0", "catalog-1"]
    assert [e.address for e in catalog.endpoints] == [inbound["catalog-0"], inbound["catalog-1"]]
    assert all(e.version == "v1" for e in catalog.endpoints)


def test_policies_and_mesh_settings_come_from_the_topology(shop: Topology) -> None:
    """Service policies and mesh settings are copied from the topology file."""
    config = build_mesh_config(shop, _inbound(shop), {}, version=7)
    assert config.version == 7
    assert config.mesh == shop.mesh
    assert config.services["catalog"].policy == shop.services["catalog"].policy
    catalog_retries = config.services["catalog"].policy.http[0].retries
    assert catalog_retries is not None and catalog_retries.attempts == 3
    assert config.services["inventory"].policy == shop.services["inventory"].policy


def test_toxiproxy_addresses_land_on_the_endpoint_per_source(shop: Topology) -> None:
    """A via entry (source, instance) becomes that endpoint's via[source]."""
    via = {
        ("frontend", "catalog-0"): "127.0.0.1:30000",
        ("frontend", "catalog-1"): "127.0.0.1:30001",
        ("cart", "inventory-0"): "127.0.0.1:30002",
    }
    config = build_mesh_config(shop, _inbound(shop), via)
    endpoints = {e.instance: e for e in config.services["catalog"].endpoints}
    assert endpoints["catalog-1"].via == {"frontend": "127.0.0.1:30001"}
    assert endpoints["catalog-1"].address_for("frontend") == "127.0.0.1:30001"
    assert config.services["inventory"].endpoints[0].via == {"cart": "127.0.0.1:30002"}
    assert config.services["cart"].endpoints[0].via == {}


def test_missing_inbound_address_is_invalid_input(shop: Topology) -> None:
    """An instance without an inbound address is reported by name."""
    inbound = _inbound(shop)
    del inbound["cart-0"]
    with pytest.raises(InvalidInput, match=r"inbound\.cart-0"):
        build_mesh_config(shop, inbound, {})


def test_via_for_an_edge_that_does_not_exist_is_invalid_input(shop: Topology) -> None:
    """A proxy on an edge the call graph lacks, or for an unknown instance, is rejected."""
    with pytest.raises(InvalidInput, match="gateway does not call catalog"):
        build_mesh_config(shop, _inbound(shop), {("gateway", "catalog-0"): "127.0.0.1:1"})
    with pytest.raises(InvalidInput, match="unknown instance 'catalog-9'"):
        build_mesh_config(shop, _inbound(shop), {("frontend", "catalog-9"): "127.0.0.1:1"})


def test_protocol_is_carried_to_the_service_entry() -> None:
    """A service's topology `protocol` reaches its MeshConfig entry (the sidecars read it)."""
    topology = Topology.model_validate(
        {
            "name": "p",
            "services": {"web": {"ingress": True, "calls": ["kv"]}, "kv": {"protocol": "tcp"}},
        }
    )
    config = build_mesh_config(topology, _inbound(topology), {})
    assert config.services["kv"].protocol == "tcp"
    assert config.services["web"].protocol == "http"
