"""The fault-kind registry: every kind of the spec registered once, with its model,
injector and rollback step types; steps read back by their action."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import TypeAdapter

from harness.errors import FaultError
from harness.faults import REGISTRY, FaultContext, FaultKind, FaultKinds, make_injector
from harness.faults.network import ENABLE_PROXY, REMOVE_TOXIC, RemoveToxic, ToxicInjector
from harness.faults.steps import DeploymentStep, StepKind, StepTools
from harness.spec.faults import FAULT_KINDS, FAULT_MODELS, FaultSpec, ProxyDownFault, ToxicFault
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient


def test_every_spec_kind_is_registered_and_nothing_else() -> None:
    """The spec's kinds and the registry's are the same list, in the same order."""
    assert REGISTRY.names() == list(FAULT_KINDS)
    assert {REGISTRY.kind(name).model for name in FAULT_KINDS} == set(FAULT_MODELS)


def test_each_kind_has_rollback_steps_with_a_fixed_action() -> None:
    """Every kind names its step types; each action is its model's Literal default."""
    for name in REGISTRY.names():
        assert REGISTRY.kind(name).steps, name
    actions = REGISTRY.actions()
    assert len(actions) == len(set(actions))
    assert "remove_toxic" in actions and "start_container" in actions


def test_a_kind_its_model_does_not_take_is_refused() -> None:
    """A kind registered with a model whose `kind` Literal lacks it is a mistake at import."""
    with pytest.raises(ValueError, match="does not take it"):
        FaultKind("proxy_down", ToxicFault, ToxicInjector, (REMOVE_TOXIC,))


def test_the_same_kind_or_action_twice_is_refused() -> None:
    """Two registrations of one kind, or two step types under one action, are refused."""
    toxic = FaultKind("toxic", ToxicFault, ToxicInjector, (REMOVE_TOXIC,))
    with pytest.raises(ValueError, match="registered twice"):
        FaultKinds(toxic, toxic)

    class Other(DeploymentStep):
        action: Literal["remove_toxic"] = "remove_toxic"

    def run(step: Other, tools: StepTools) -> None:
        """Never run."""

    clash = FaultKind("proxy_down", ProxyDownFault, ToxicInjector, (StepKind(Other, run),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'remove_toxic' registered twice"):
        FaultKinds(toxic, clash)


def test_steps_parse_by_action_into_their_model() -> None:
    """A step as the ledger holds it comes back as its typed model; unknown ones are named."""
    raw = {
        "action": "enable_proxy",
        "state_file": "s.json",
        "toxiproxy_url": "http://127.0.0.1:1",
        "proxy": "p",
    }
    step = REGISTRY.parse_step(raw)
    assert isinstance(step, ENABLE_PROXY.model)
    assert step.model_dump(mode="json") == raw
    with pytest.raises(FaultError, match="unknown rollback step 'teleport'"):
        REGISTRY.parse_step({"action": "teleport"})


def test_an_injector_writes_only_the_steps_its_kind_registered(shop: Deployment) -> None:
    """A toxic's rollback entry is made of the step types registered for 'toxic'."""
    ctx = FaultContext(shop, toxiproxy=ToxiproxyClient(shop.toxiproxy_url or ""))
    spec = TypeAdapter(FaultSpec).validate_python(
        {
            "name": "slow",
            "kind": "toxic",
            "target": "frontend->catalog",
            "params": {"type": "timeout"},
        }
    )
    entry = make_injector(spec, ctx).rollback_entry()
    registered = tuple(s.model for s in REGISTRY.kind("toxic").steps)
    assert entry.steps and all(isinstance(s, registered) for s in entry.steps)
    assert all(isinstance(s, RemoveToxic) and s.state_file == ctx.state_path for s in entry.steps)


def test_an_unregistered_kind_is_a_fault_error() -> None:
    """Looking up a kind nobody registered says so in one line."""
    with pytest.raises(FaultError, match="no injector for fault kind 'teleport'"):
        REGISTRY.kind("teleport")


def test_step_tools_make_a_shared_client_once(tmp_path: Path) -> None:
    """`shared` makes a client on first use and hands the same one out after."""
    made: list[int] = []
    tools = StepTools(restart=lambda file, name: None)
    first = tools.shared("c", lambda: made.append(1) or object())
    assert tools.shared("c", lambda: made.append(2) or object()) is first
    assert made == [1]
