"""ConfigStore: versioned changes, merge patches, validation, sidecar reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.config.policy import ServicePolicy
from mesh_runtime.control.build import build_mesh_config
from mesh_runtime.control.store import ConfigStore, UnknownService, merge_patch
from mesh_runtime.errors import InvalidInput
from mesh_runtime.topology import load_topology

SHOP = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop.yaml"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config() -> MeshConfig:
    topology = load_topology(SHOP)
    inbound = {inst.name: f"127.0.0.1:{21000 + i}" for i, inst in enumerate(topology.instances())}
    return build_mesh_config(topology, inbound, {})


def test_merge_patch_follows_rfc_7386() -> None:
    """Objects merge recursively, null deletes a key, lists and scalars replace."""
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2], "x": 1}
    patch = {"a": {"b": 5, "c": None}, "l": [3], "n": {"m": None}}
    assert merge_patch(target, patch) == {"a": {"b": 5}, "l": [3], "x": 1, "n": {}}
    assert merge_patch(target, [1]) == [1]
    assert target == {"a": {"b": 1, "c": 2}, "l": [1, 2], "x": 1}


def test_initial_version_is_at_least_one(config: MeshConfig) -> None:
    """A config file with version 0 is served as version 1, so a fresh sidecar (0) gets it."""
    store = ConfigStore(config.model_copy(update={"version": 0}))
    assert store.version == 1


def test_patch_changes_only_the_given_fields_and_bumps_the_version(config: MeshConfig) -> None:
    """A merge patch of one retry field keeps the rest of the policy and adds a version."""
    store = ConfigStore(config)
    before = store.version
    new = store.patch_policy("catalog", {"http": [{"name": "default", "timeout": "2s"}]})
    assert new.version == before + 1
    assert store.policy("catalog").http[0].timeout == 2.0
    # lists replace wholesale (RFC 7386): retries not in the patch fall back to defaults
    assert store.policy("catalog").http[0].retries is None
    assert store.policy("catalog").trafficPolicy.loadBalancer.simple == "LEAST_REQUEST"
    store.patch_policy("catalog", {"trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}}})
    assert store.policy("catalog").trafficPolicy.loadBalancer.simple == "RANDOM"
    assert store.policy("catalog").trafficPolicy.outlierDetection is not None
    assert store.current.services["cart"] == config.services["cart"]


def test_put_policy_replaces_the_whole_policy(config: MeshConfig) -> None:
    """A PUT policy is taken as a whole: fields not given get their defaults."""
    store = ConfigStore(config)
    store.put_policy("catalog", {"http": [{"fault": {"abort": {"httpStatus": 503}}}]})
    policy = store.policy("catalog")
    assert policy.trafficPolicy == ServicePolicy().trafficPolicy
    assert policy.http[0].fault is not None and policy.http[0].fault.abort is not None
    assert policy.http[0].fault.abort.httpStatus == 503


def test_invalid_change_names_the_field_and_leaves_config_unchanged(config: MeshConfig) -> None:
    """A bad patch raises InvalidInput with the field path; version and config stay."""
    store = ConfigStore(config)
    before = store.current
    with pytest.raises(InvalidInput) as caught:
        store.patch_policy("catalog", {"http": [{"retries": {"attempts": -1}}]})
    assert caught.value.path == "http[0].retries.attempts"
    assert store.current is before
    with pytest.raises(InvalidInput) as caught:
        store.put_policy("catalog", {"trafficPolicy": {"loadBalancer": {"simple": "FASTEST"}}})
    assert caught.value.path == "trafficPolicy.loadBalancer.simple"
    with pytest.raises(InvalidInput, match="merge patch"):
        store.patch_policy("catalog", [1, 2])  # type: ignore[arg-type]
    assert store.current is before and len(store.history()) == 1


def test_unknown_service_is_its_own_error(config: MeshConfig) -> None:
    """A change to a service the mesh lacks raises UnknownService and changes nothing."""
    store = ConfigStore(config)
    with pytest.raises(UnknownService, match="known: cart, catalog"):
        store.patch_policy("payments", {})
    assert store.version == config.version


def test_replace_ignores_the_given_version_and_bumps(config: MeshConfig) -> None:
    """A whole new config gets the next version whatever version it carries."""
    store = ConfigStore(config)
    data = config.model_dump(mode="json")
    data["version"] = 99
    del data["services"]["inventory"]
    new = store.replace(data)
    assert new.version == config.version + 1
    assert "inventory" not in store.current.services
    with pytest.raises(InvalidInput) as caught:
        store.replace({"services": {"x": {"name": "x", "endpoints": [{"instance": "x-0"}]}}})
    assert caught.value.path == "services.x.endpoints[0].version"
    assert store.version == config.version + 1


def test_history_is_bounded_and_kept_in_order(config: MeshConfig) -> None:
    """Only the last N versions are kept, oldest first, each retrievable by version."""
    store = ConfigStore(config, history=3)
    for attempts in range(5):
        store.patch_policy("cart", {"http": [{"retries": {"attempts": attempts}}]})
    versions = [c.version for c in store.history()]
    assert versions == [store.version - 2, store.version - 1, store.version]
    old = store.at_version(store.version - 1)
    assert old is not None and old.services["cart"].policy.http[0].retries is not None
    assert old.services["cart"].policy.http[0].retries.attempts == 3
    assert store.at_version(1) is None


def test_sidecar_reports_record_version_and_clock_time(config: MeshConfig) -> None:
    """Each sidecar's last reported version and the injected clock's time are kept."""
    clock = FakeClock()
    store = ConfigStore(config, clock=clock)
    store.record_sidecar("catalog-0", 0)
    clock.now = 1005.0
    store.record_sidecar("catalog-0", 1, "catalog")
    store.record_sidecar("cart-0", 1)
    assert store.status() == {
        "version": store.version,
        "sidecars": {
            "cart-0": {"version": 1, "applied": 1, "service": None, "seen": 1005.0},
            "catalog-0": {"version": 1, "applied": 1, "service": "catalog", "seen": 1005.0},
        },
    }


def test_sidecar_rows_are_bounded_the_longest_unseen_going_first(config: MeshConfig) -> None:
    """Any config read may name a sidecar: past `max_sidecars` rows the one seen longest
    ago makes room, and a sidecar that reports again is the newest seen."""
    store = ConfigStore(config, max_sidecars=3)
    for instance in ("a-0", "b-0", "c-0"):
        store.record_sidecar(instance, 1)
    store.record_sidecar("a-0", 1)
    store.record_sidecar("made-up-1", 1)
    store.record_sidecar("made-up-2", 1)
    assert sorted(store.sidecars()) == ["a-0", "made-up-1", "made-up-2"]


def test_a_change_concerns_the_service_and_its_callers_only(config: MeshConfig) -> None:
    """A policy change moves the scope version of catalog and frontend (its caller) only."""
    store = ConfigStore(config)
    new = store.patch_policy("catalog", {"http": [{"name": "default", "timeout": "9s"}]})
    changed = {name: store.changed_at(name) for name in config.services}
    assert changed == {
        "gateway": 1,
        "frontend": new.version,
        "catalog": new.version,
        "cart": 1,
        "inventory": 1,
    }
    assert store.changed_at(None) == new.version
    assert store.changed_at("not-a-service") == new.version
    assert set(store.config_for("frontend").services) == {"frontend", "catalog", "cart"}
    assert store.config_for("frontend").version == new.version


def test_status_says_an_unconcerned_sidecar_runs_the_current_version(config: MeshConfig) -> None:
    """A sidecar whose scope a change missed counts as running it; a concerned one does not
    until it reports the new version; one that never named its service never does."""
    store = ConfigStore(config)
    for instance, service in (("cart-0", "cart"), ("catalog-0", "catalog"), ("old-0", None)):
        store.record_sidecar(instance, 1, service)
    store.patch_policy("catalog", {"http": [{"name": "default", "timeout": "9s"}]})
    sidecars = store.status()["sidecars"]
    assert {name: s["version"] for name, s in sidecars.items()} == {
        "cart-0": 2,
        "catalog-0": 1,
        "old-0": 1,
    }
    assert sidecars["cart-0"]["applied"] == 1
    store.record_sidecar("catalog-0", 2, "catalog")
    assert store.status()["sidecars"]["catalog-0"]["version"] == 2


def test_a_reissued_config_concerns_every_sidecar(config: MeshConfig) -> None:
    """The config re-issued above a sidecar's version moves every scope's version."""
    store = ConfigStore(config)
    store.record_sidecar("cart-0", 5, "cart")
    assert {store.changed_at(name) for name in config.services} == {6}


def test_sidecar_ahead_of_the_store_gets_the_config_reissued_above_it(
    config: MeshConfig,
) -> None:
    """A restarted control plane behind its sidecars re-issues its config at their version + 1."""
    store = ConfigStore(config)
    assert store.record_sidecar("cart-0", store.version) is False
    assert store.version == 1
    assert store.record_sidecar("cart-0", 5) is True
    assert store.version == 6
    assert store.current.services == config.services
    assert store.record_sidecar("catalog-0", 6) is False
    assert [c.version for c in store.history()] == [1, 6]


def test_versions_stop_at_the_largest_safe_integer(config: MeshConfig) -> None:
    """A sidecar may move the store up to MAX_VERSION, never past it: the version stays an
    integer every JSON reader and gauge holds exactly, and a change past it is refused."""
    from mesh_runtime.control.store import MAX_VERSION

    assert MAX_VERSION == 2**53 - 1
    store = ConfigStore(config)
    assert store.record_sidecar("cart-0", MAX_VERSION - 1) is True
    assert store.version == MAX_VERSION
    with pytest.raises(InvalidInput, match="version"):
        store.patch_policy("cart", {"http": [{"timeout": "2s"}]})
    with pytest.raises(InvalidInput, match="version"):
        store.record_sidecar("cart-1", MAX_VERSION + 1)
    assert store.version == MAX_VERSION
    assert store.current.services == config.services
    assert set(store.sidecars()) == {"cart-0"}
    with pytest.raises(InvalidInput, match="version"):
        ConfigStore(config).record_sidecar("cart-2", MAX_VERSION)  # no re-issue above it
