"""The mesh-size benchmark's generated topology and its curve."""

from __future__ import annotations

import pytest

from harness.bench.mesh_size import (
    applied_times,
    generated_topology,
    mesh_size_lines,
    push_cpu_s,
    round_modes,
    with_egress,
)
from mesh_runtime.config.mesh import MeshConfig, ServiceEntry
from mesh_runtime.topology import Topology


def test_generated_topology_is_a_valid_call_tree_of_n_instances() -> None:
    """N services, one instance each, svc-0 the ingress, every service reached once."""
    topology = Topology.model_validate(generated_topology(100))
    assert topology.name == "mesh-n100"
    assert len(topology.instances()) == 100
    assert topology.ingress == "svc-0"
    graph = topology.call_graph()
    assert graph["svc-0"] == ["svc-1", "svc-2"]
    assert graph["svc-49"] == ["svc-99"]
    callees = [callee for calls in graph.values() for callee in calls]
    assert sorted(callees) == sorted(f"svc-{i}" for i in range(1, 100))


def test_one_service_and_a_chain() -> None:
    """One service is just the ingress; fanout 1 is a chain."""
    assert generated_topology(1)["services"] == {"svc-0": {"ingress": True}}
    chain = Topology.model_validate(generated_topology(3, fanout=1)).call_graph()
    assert chain == {"svc-0": ["svc-1"], "svc-1": ["svc-2"], "svc-2": []}


def test_no_services_is_refused() -> None:
    """A mesh of no services is a ValueError, not an empty topology."""
    with pytest.raises(ValueError, match="at least one service"):
        generated_topology(0)


def test_a_sidecar_is_timed_when_it_applied_and_done_when_all_run_it() -> None:
    """`applied` times a woken sidecar once; the push ends when every `version` is there."""
    seen: dict[str, float] = {}
    sidecars = {
        "a": {"version": 7, "applied": 7},
        "b": {"version": 7, "applied": 3},
        "c": {"version": 6, "applied": 6},
    }
    assert not applied_times(sidecars, 7, 0.25, seen)
    sidecars["c"] = {"version": 7, "applied": 7}
    assert applied_times(sidecars, 7, 0.5, seen)
    assert seen == {"a": 0.25, "c": 0.5}


def test_rounds_alternate_abba_and_cpu_drops_the_idle_share() -> None:
    """Whole-scoped, scoped-whole, ...; a push's CPU is what it spent less idle x time."""
    assert [round_modes(i) for i in range(3)] == [
        ("whole", "scoped"),
        ("scoped", "whole"),
        ("whole", "scoped"),
    ]
    assert push_cpu_s(1.5, 2.0, 0.25) == pytest.approx(1.0)


def test_egress_lists_are_replaced_or_cleared() -> None:
    """A service missing from the map gets a null egress (the whole config)."""
    config = MeshConfig(
        services={"a": ServiceEntry(name="a", egress=["b"]), "b": ServiceEntry(name="b")}
    )
    cleared = with_egress(config, {})
    assert [e.egress for e in cleared.services.values()] == [None, None]
    assert with_egress(cleared, {"a": ["b"], "b": []}) == config.model_copy(
        update={"services": {**config.services, "b": ServiceEntry(name="b", egress=[])}}
    )


def test_lines_judge_the_biggest_scoped_mesh() -> None:
    """The table, then the biggest scoped mesh's mesh-wide push p99 against 1 s."""
    rows = [
        {"sidecars": 10, "scope": "scoped", "push_p99_s": 0.05},
        {"sidecars": 100, "scope": "whole", "push_p99_s": 3.0},
        {"sidecars": 100, "scope": "scoped", "push_p99_s": 1.5},
    ]
    lines = mesh_size_lines(rows)
    assert lines[-1] == ("100 sidecars: mesh-wide push p99 (scoped): 1.5 s (target <= 1 s): missed")
