"""The experiment's own `rollbacks:` — extra clean-up actions at the end of a run.

(Not the undoing of faults: each fault is undone from its ledger entry, harness.faults.undo.)

Every fault already undoes itself; these are for what an experiment wants put back in a
known state whatever happened (Chaos Toolkit's rollbacks): a policy, a service's
behaviour, every toxic on every proxy. Each runs once, after the faults are rolled back;
a failure is reported, never stops the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.faults import FaultContext
from harness.faults.behaviour import behaviour_url, put_behaviour
from harness.faults.targets import instances_for
from harness.spec.experiment import Rollback
from mesh_runtime.errors import MeshproofError


def run_experiment_rollbacks(rollbacks: Sequence[Rollback], ctx: FaultContext) -> list[str]:
    """Carry out each rollback; the problems met, one line each."""
    problems: list[str] = []
    for index, rollback in enumerate(rollbacks):
        try:
            _run_one(rollback, ctx)
        except MeshproofError as exc:
            problems.append(f"rollbacks[{index}] ({rollback.kind}): {exc}")
    return problems


def _run_one(rollback: Rollback, ctx: FaultContext) -> None:
    if rollback.kind == "policy":
        control = ctx.need_control("a policy rollback")
        version = control.patch_policy(rollback.target, dict(rollback.params))
        control.wait_for_version(version, ctx.sidecar_instances(), timeout=ctx.push_timeout)
    elif rollback.kind == "service_behaviour":
        for record in instances_for(ctx.deployment, rollback.target):
            put_behaviour(behaviour_url(record), dict(rollback.params))
    elif rollback.kind == "reset_toxics":
        toxiproxy = ctx.need_toxiproxy("reset_toxics")
        for proxy in ctx.deployment.proxies:
            for toxic in toxiproxy.toxics(proxy.name):
                toxiproxy.remove_toxic(proxy.name, str(toxic.get("name")))
            toxiproxy.set_enabled(proxy.name, True)
