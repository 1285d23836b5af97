"""Rollback entries as typed steps and as JSON, and carrying them out from the JSON alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from harness.errors import FaultError
from harness.faults import FaultContext, RollbackEntry, RollbackExecutor, make_injector
from harness.faults.network import RemoveToxic
from harness.faults.process import EnsureRunning, ResumeProcess
from harness.faults.undo import describe_step
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
    entry = make_injector(spec, ctx).rollback_entry().to_json()
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
    step = RemoveToxic(
        state_file=Path("/nonexistent/shop.json"),
        toxiproxy_url="http://127.0.0.1:1",
        proxy="p",
        toxic="t",
    )
    RollbackExecutor()(RollbackEntry(fault="f", kind="toxic", target="a->b", steps=[step]))
    RollbackExecutor()({"steps": [step.model_dump(mode="json")]})


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
    executor = RollbackExecutor(restart=lambda file, name: restarted.append(name))
    steps = [EnsureRunning(state_file=path, name="catalog-0")]
    entry = RollbackEntry(fault="k", kind="process_kill", target="service:catalog-0", steps=steps)
    executor(json.loads(json.dumps(entry.to_json())))  # as the ledger holds it
    assert restarted == ["catalog-0"]


def test_failures_of_steps_are_collected(shop: Deployment) -> None:
    """Every failing step of an entry is reported; unknown actions are named."""
    path = _saved(shop)
    steps = [
        {"action": "explode", "state_file": str(path)},
        {"action": "teleport", "state_file": str(path)},
    ]
    with pytest.raises(FaultError, match=r"'explode'.*'teleport'"):
        RollbackExecutor()({"fault": "x", "kind": "toxic", "target": "a->b", "steps": steps})


def test_describe_says_what_a_step_does(shop: Deployment) -> None:
    """Each step has a one-line description for recover's output."""
    step = ResumeProcess(
        state_file=Path("s.json"), name="catalog-0-sidecar", pid=42, create_time=1.0
    )
    assert describe_step(step) == "SIGCONT catalog-0-sidecar (pid 42)"
    assert describe_step(step.model_dump(mode="json")) == "SIGCONT catalog-0-sidecar (pid 42)"
    assert describe_step({"action": "teleport"}) == "unknown step 'teleport'"


def test_a_step_missing_a_field_is_one_line_naming_it(shop: Deployment) -> None:
    """A known step without a field it needs fails as one FaultError naming the field."""
    path = _saved(shop)
    with pytest.raises(FaultError, match=r"rollback step resume_process: pid: Field required"):
        RollbackExecutor()(
            {
                "steps": [
                    {
                        "action": "resume_process",
                        "state_file": str(path),
                        "name": "x",
                        "create_time": 1.0,
                    }
                ]
            }
        )


def test_an_old_ledger_entry_reads_as_typed_steps(tmp_path: Path) -> None:
    """A ledger line written before the steps were typed is read and undone as before."""
    (tmp_path / "shop.json").write_text("{}")
    state_file = str(tmp_path / "shop.json")
    old = {
        "fault": "freeze",
        "kind": "process_pause",
        "target": "sidecar:catalog-0",
        "steps": [
            {
                "action": "resume_process",
                "state_file": state_file,
                "name": "catalog-0-sidecar",
                "pid": 2**22 + 1,
                "create_time": 1.0,
            }
        ],
    }
    assert describe_step(old["steps"][0]) == f"SIGCONT catalog-0-sidecar (pid {2**22 + 1})"
    RollbackExecutor()(old)  # that pid runs nothing: resuming it is a no-op
