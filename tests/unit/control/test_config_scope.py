"""Sidecar scoping: which services' entries a sidecar gets and which changes concern it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mesh_runtime.config.mesh import MeshConfig, ServiceEntry
from mesh_runtime.config.policy import HTTPRoute, ServicePolicy
from mesh_runtime.config.scope import (
    changed_services,
    concerned,
    scope_of,
    scoped_config,
    sidecar_json,
)
from mesh_runtime.control.build import build_mesh_config
from mesh_runtime.sidecar.config_reader import read_config
from mesh_runtime.topology import load_topology

TOPOLOGIES = Path(__file__).resolve().parents[3] / "experiments" / "topologies"


def _config(name: str) -> MeshConfig:
    topology = load_topology(TOPOLOGIES / name)
    inbound = {inst.name: f"127.0.0.1:{22000 + i}" for i, inst in enumerate(topology.instances())}
    return build_mesh_config(topology, inbound, {})


@pytest.fixture
def shop() -> MeshConfig:
    return _config("shop.yaml")


def _with_timeout(config: MeshConfig, service: str, timeout: float) -> MeshConfig:
    policy = ServicePolicy(http=[HTTPRoute(timeout=timeout)])
    entry = config.services[service].model_copy(update={"policy": policy})
    return config.model_copy(update={"services": {**config.services, service: entry}})


def test_a_sidecar_gets_its_own_service_and_the_ones_it_calls(shop: MeshConfig) -> None:
    """frontend calls catalog and cart: its sidecars get those two and frontend itself."""
    assert scope_of(shop, "frontend") == {"frontend", "catalog", "cart"}
    assert scope_of(shop, "inventory") == {"inventory"}
    scoped = scoped_config(shop, "frontend")
    assert scoped.services == {n: shop.services[n] for n in ("frontend", "catalog", "cart")}
    assert (scoped.version, scoped.mesh) == (shop.version, shop.mesh)


def test_no_egress_list_or_an_unknown_service_gets_everything(shop: MeshConfig) -> None:
    """Without an egress list (Istio without a Sidecar) or a known service: the whole config."""
    unscoped = shop.services["cart"].model_copy(update={"egress": None})
    config = shop.model_copy(update={"services": {**shop.services, "cart": unscoped}})
    assert scope_of(config, "cart") is None
    assert scoped_config(config, "cart") is config
    assert scoped_config(shop, None) is shop
    assert scoped_config(shop, "billing") is shop


def test_the_ingress_also_reaches_every_grpc_and_tcp_service() -> None:
    """The load's gRPC and TCP routes enter at the ingress: those services are its egress."""
    for name in ("shop-grpc.yaml", "shop-tcp.yaml"):
        config = _config(name)
        wanted = {n for n, e in config.services.items() if e.protocol in ("grpc", "tcp")}
        assert wanted and wanted <= set(scope_of(config, "gateway") or ())


def test_a_policy_change_concerns_the_service_and_its_callers(shop: MeshConfig) -> None:
    """catalog's new timeout concerns catalog's and frontend's sidecars, nobody else's."""
    new = _with_timeout(shop, "catalog", 9.0)
    changed = changed_services(shop, new)
    assert changed == {"catalog"}
    concerns = {name for name in shop.services if concerned(name, changed, shop, new)}
    assert concerns == {"catalog", "frontend"}
    assert concerned(None, changed, shop, new)


def test_mesh_settings_and_removals_concern_whoever_had_them(shop: MeshConfig) -> None:
    """A mesh-wide change concerns everyone; a removed callee concerns its callers."""
    strict = shop.model_copy(update={"mesh": shop.mesh.model_copy(update={"mtls": "STRICT"})})
    assert changed_services(shop, strict) is None
    assert concerned("inventory", None, shop, strict)
    services = {n: e for n, e in shop.services.items() if n != "inventory"}
    smaller = shop.model_copy(update={"services": services})
    changed = changed_services(shop, smaller)
    assert changed == {"inventory"}
    assert concerned("cart", changed, shop, smaller)
    assert not concerned("catalog", changed, shop, smaller)


def test_an_identical_config_concerns_nobody(shop: MeshConfig) -> None:
    """Equal entries (even rebuilt objects) are no change."""
    rebuilt = MeshConfig.model_validate(shop.model_dump(mode="json"))
    assert changed_services(shop, rebuilt) == frozenset()
    assert not concerned("frontend", frozenset(), shop, rebuilt)
    assert isinstance(rebuilt.services["cart"], ServiceEntry)


def test_a_sidecars_body_has_its_scope_and_no_egress_lists(shop: MeshConfig) -> None:
    """The pushed body is the sidecar's scope without the egress lists (the scope is
    applied already), so a sidecar from before the field existed, which refuses unknown
    fields, reads it as it did; today's sidecar reads it too."""
    assert b'"egress"' in shop.model_dump_json().encode()
    for service in ("frontend", None):
        body = sidecar_json(shop, service)
        assert b'"egress"' not in body
        read = read_config(json.loads(body), "push")
        assert set(read.services) == set(scoped_config(shop, service).services)
