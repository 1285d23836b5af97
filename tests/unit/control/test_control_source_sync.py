"""ControlPlaneAPI.sync_source: how a configuration source's changes reach the store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.control.build import build_mesh_config
from mesh_runtime.control.server import ControlPlaneAPI
from mesh_runtime.control.store import MAX_VERSION, ConfigStore
from mesh_runtime.topology import load_topology

SHOP = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop.yaml"


class FakeSource:
    """A ConfigSource that describes whatever `wanted` is set to."""

    name = "a fake source"

    def __init__(self, wanted: MeshConfig | None) -> None:
        self.wanted = wanted
        self.applied_versions: list[int] = []

    def start(self, changed: Callable[[], None]) -> None:
        pass

    def stop(self) -> None:
        pass

    def configure(self, current: MeshConfig) -> MeshConfig | None:
        return self.wanted

    def applied(self, version: int) -> None:
        self.applied_versions.append(version)

    def status(self) -> dict[str, Any]:
        return {}


@pytest.fixture
def config() -> MeshConfig:
    topology = load_topology(SHOP)
    inbound = {inst.name: f"127.0.0.1:{21000 + i}" for i, inst in enumerate(topology.instances())}
    return build_mesh_config(topology, inbound, {})


def _changed_policy(config: MeshConfig) -> MeshConfig:
    entry = config.services["cart"]
    policy = entry.policy.model_copy(update={"http": []})
    services = {**config.services, "cart": entry.model_copy(update={"policy": policy})}
    return config.model_copy(update={"services": services})


def test_a_source_change_is_served_as_a_new_version(config: MeshConfig) -> None:
    """A change the source describes becomes the store's next version, and ready."""
    store = ConfigStore(config)
    wanted = _changed_policy(config)
    assert wanted != config
    source = FakeSource(wanted)
    api = ControlPlaneAPI(store, "token", source=source)
    before = store.version
    api.sync_source()
    assert store.version == before + 1
    assert source.applied_versions == [before + 1]


def test_a_source_change_past_the_highest_version_is_logged_once_and_not_applied(
    config: MeshConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """At MAX_VERSION a source change cannot be applied: sync_source (a loop callback)
    raises nothing, logs one line without a traceback saying why, and the store keeps
    serving the configuration it had."""
    store = ConfigStore(config)
    store.record_sidecar("cart-0", MAX_VERSION - 1)
    assert store.version == MAX_VERSION
    current = store.current
    source = FakeSource(_changed_policy(current))
    api = ControlPlaneAPI(store, "token", source=source)
    with caplog.at_level(logging.INFO, logger="meshproof.control"):
        api.sync_source()
    assert store.current is current
    assert source.applied_versions == []
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is None
    message = record.getMessage()
    assert "\n" not in message
    assert "not applied" in message
    assert "a fake source" in message
    assert str(MAX_VERSION) in message
    # the control plane goes on: a later change the source takes back is served as before
    source.wanted = current
    api.sync_source()
    assert source.applied_versions == [MAX_VERSION]


def test_ready_says_why_the_first_source_configuration_was_refused(
    config: MeshConfig,
) -> None:
    """A first configuration the store refuses keeps the control plane not ready (/ready
    503), and the reason says why (it only said 'waiting'); once a configuration is
    served, it is ready."""
    store = ConfigStore(config)
    store.record_sidecar("cart-0", MAX_VERSION - 1)
    current = store.current
    source = FakeSource(_changed_policy(current))
    api = ControlPlaneAPI(store, "token", source=source)
    api.sync_source()
    reason = api.not_ready()
    assert reason.startswith("waiting for the first configuration from a fake source")
    assert "refused" in reason and str(MAX_VERSION) in reason
    source.wanted = current
    api.sync_source()
    assert api.not_ready() == ""
