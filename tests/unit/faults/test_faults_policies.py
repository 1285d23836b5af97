"""Policies put in place by mesh faults and traffic splits."""

from __future__ import annotations

import pytest

from harness.errors import FaultError
from harness.faults.policies import with_fault, with_split
from mesh_runtime.config.policy import Fault, HTTPRoute, Retries, ServicePolicy

ABORT = Fault.model_validate({"abort": {"httpStatus": 503, "percentage": 50}})


def _policy() -> ServicePolicy:
    return ServicePolicy(
        http=[
            HTTPRoute(name="search", retries=Retries(attempts=1)),
            HTTPRoute(name="default", timeout=5.0),
        ]
    )


def test_fault_on_every_route_keeps_the_rest() -> None:
    """Without a route name every route gets the fault; retries and timeouts stay."""
    changed = with_fault(_policy(), ABORT)
    assert [r.fault for r in changed.http] == [ABORT, ABORT]
    assert changed.http[0].retries == Retries(attempts=1)
    assert changed.http[1].timeout == 5.0


def test_fault_on_one_route() -> None:
    """A route name puts the fault on that route only."""
    changed = with_fault(_policy(), ABORT, route="default")
    assert [r.fault for r in changed.http] == [None, ABORT]


def test_fault_on_unknown_route_names_the_routes() -> None:
    """An unknown route is a FaultError listing the service's routes."""
    with pytest.raises(FaultError, match="routes: search, default"):
        with_fault(_policy(), ABORT, route="checkout")


def test_fault_does_not_change_the_original() -> None:
    """The previous policy (restored on revert) is left exactly as it was."""
    before = _policy()
    with_fault(before, ABORT)
    assert before == _policy()


def test_split_rewrites_the_first_route_only() -> None:
    """A split makes the first route's destinations weighted subsets."""
    changed = with_split(_policy(), {"v1": 90, "v2": 10}, {"v1", "v2"})
    assert [(d.subset, d.weight) for d in changed.http[0].route] == [("v1", 90), ("v2", 10)]
    assert changed.http[1].route == []


def test_split_to_a_missing_version_is_refused() -> None:
    """A split naming a version the service does not run is a FaultError."""
    with pytest.raises(FaultError, match="names version"):
        with_split(_policy(), {"v1": 50, "v3": 50}, {"v1", "v2"})
