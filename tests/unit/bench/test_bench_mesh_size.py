"""The mesh-size benchmark's generated topology and its curve."""

from __future__ import annotations

import pytest

from harness.bench.mesh_size import (
    generated_topology,
    mesh_size_lines,
    poll_interval_s,
    push_times,
)
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


def test_push_times_count_from_the_change() -> None:
    """Each sidecar's time is its first sighting minus the change's start."""
    assert push_times({"a": 10.25, "b": 10.5}, 10.0) == [0.25, 0.5]


def test_lines_judge_the_biggest_mesh() -> None:
    """The table, then the biggest mesh's push p99 against 1 s."""
    rows = [{"sidecars": 10, "push_p99_s": 0.05}, {"sidecars": 100, "push_p99_s": 1.5}]
    lines = mesh_size_lines(rows)
    assert lines[-1] == "100 sidecars: push p99: 1.5 s (target <= 1 s): missed"


def test_polls_stay_bounded_as_the_mesh_grows() -> None:
    """20 ms per sidecar while that is at most 1000 dumps a second in all, then slower."""
    assert poll_interval_s(10) == 0.02
    assert poll_interval_s(20) == 0.02
    assert poll_interval_s(100) == pytest.approx(0.1)
