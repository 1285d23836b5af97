"""Rollback entries as JSON, and carrying them out from the JSON alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from harness.errors import FaultError
from harness.faults import FaultContext, make_injector, rollback
from harness.faults.rollback import Executor
from harness.spec.faults import FaultSpec
from mesh_runtime.runtimes import deployment as state
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient

FAULT = TypeAdapter(FaultSpec)


def _saved(shop: Deployment) -> Path:
    ctx = FaultContext(shop)
    state.save(shop, ctx.state_path)
    return ctx.state_path


def test_state_file_is_derived_from_the_work_dir(shop: Deployment) -> None:
    """The context finds the state file beside the work dir: <root>/deployments/<name>.json."""
    root = Path(shop.work_dir).parent.parent
    assert FaultContext(shop).state_path == root / "deployments" / "shop.json"


def test_toxic_entry_names_every_proxy(shop: Deployment) -> None:
    """A toxic on an edge rolls back by removing its toxic from each proxy of the edge."""
    ctx = FaultContext(shop, toxiproxy=ToxiproxyClient(shop.toxiproxy_url or ""))
    spec = FAULT.validate_python(
        {
            "name": "slow",
            "kind": "toxic",
            "target": "frontend->catalog",
            "params": {"type": "latency", "attributes": {"latency": 100}},
        }
    )
    entry = make_injector(spec, ctx).rollback_entry()
    assert [(s["action"], s["proxy"], s["toxic"]) for s in entry["steps"]] == [
        ("remove_toxic", "frontend--catalog-0", "meshproof-slow"),
        ("remove_toxic", "frontend--catalog-1", "meshproof-slow"),
    ]
    assert json.loads(json.dumps(entry)) == entry


def test_container_fault_needs_docker(shop: Deployment) -> None:
    """A container fault on the local runtime is one clear FaultError."""
    spec = FAULT.validate_python({"name": "c", "kind": "container_kill", "target": "catalog-0"})
    with pytest.raises(FaultError, match="needs the docker runtime"):
        make_injector(spec, FaultContext(shop))


def test_toxic_without_toxiproxy_is_refused(shop: Deployment) -> None:
    """A toxic on a deployment without a Toxiproxy client says what is missing."""
    spec = FAULT.validate_python(
        {"name": "t", "kind": "toxic", "target": "frontend->catalog", "params": {"type": "timeout"}}
    )
    with pytest.raises(FaultError, match="needs the deployment's Toxiproxy"):
        make_injector(spec, FaultContext(shop))


def test_steps_of_a_removed_deployment_are_no_ops(shop: Deployment) -> None:
    """When the state file is gone the deployment is down: nothing is left to undo."""
    step = rollback.remove_toxic(Path("/nonexistent/shop.json"), "http://127.0.0.1:1", "p", "t")
    Executor()(rollback.entry("f", "toxic", "a->b", [step]))


def test_ensure_running_restarts_a_dead_process(shop: Deployment) -> None:
    """ensure_running restarts a process whose recorded pid no longer runs, and only that."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(done.stdout)
    processes = [
        p.model_copy(update={"pid": dead_pid}) if p.name == "catalog-0" else p
        for p in shop.processes
    ]
    path = _saved(shop.model_copy(update={"processes": processes}))
    restarted: list[str] = []
    executor = Executor(restart=lambda file, name: restarted.append(name))
    executor(
        rollback.entry(
            "k", "process_kill", "service:catalog-0", [rollback.ensure_running(path, "catalog-0")]
        )
    )
    assert restarted == ["catalog-0"]


def test_failures_of_steps_are_collected(shop: Deployment) -> None:
    """Every failing step of an entry is reported; unknown actions are named."""
    path = _saved(shop)
    steps = [
        {"action": "explode", "state_file": str(path)},
        {"action": "teleport", "state_file": str(path)},
    ]
    with pytest.raises(FaultError, match=r"'explode'.*'teleport'"):
        Executor()(rollback.entry("x", "toxic", "a->b", steps))


def test_describe_says_what_a_step_does(shop: Deployment) -> None:
    """Each step has a one-line description for recover's output."""
    step = rollback.resume_process(Path("s.json"), "catalog-0-sidecar", 42, 1.0)
    assert rollback.describe(step) == "SIGCONT catalog-0-sidecar (pid 42)"
