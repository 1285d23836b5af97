"""Undoing a fault from its rollback entry alone, as the ledger holds it (JSON).

Each step of an entry is read into its typed model by the fault-kind registry
(`harness.faults.kinds`, by its `action`) and carried out by the function registered with
it. A step of a deployment whose state file is gone is a no-op (the deployment was taken
down: nothing it ran is left). `meshproof recover`, the engine's end-of-run clean-up and
the ledger's `rollback_all` all undo through `RollbackExecutor`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import FaultError
from harness.faults.kinds import REGISTRY, FaultKinds
from harness.faults.process import restart_from_state_file
from harness.faults.steps import DeploymentStep, RestartFn, RollbackEntry, RollbackStep, StepTools
from mesh_runtime.errors import MeshproofError


class RollbackExecutor:
    """Carries out rollback entries; `restart` is how a stopped process is started again
    (by default through its runtime, from the deployment state file); `force` restores an
    object someone else changed since the fault (`recover --force`); `call_timeout_s`
    sends each API call once, waiting that long at most (`recover`: `StepTools`)."""

    def __init__(
        self,
        restart: RestartFn | None = None,
        kinds: FaultKinds = REGISTRY,
        *,
        force: bool = False,
        call_timeout_s: float | None = None,
    ) -> None:
        self._kinds = kinds
        self._tools = StepTools(
            restart=restart or restart_from_state_file, force=force, call_timeout_s=call_timeout_s
        )

    def __call__(self, rollback: RollbackEntry | Mapping[str, Any]) -> None:
        """Run every step of an entry; failures are collected and raised together."""
        if isinstance(rollback, RollbackEntry):
            steps: list[Any] = list(rollback.steps)
        else:
            found = rollback.get("steps")
            if not isinstance(found, list):
                raise FaultError(f"rollback entry of {rollback.get('fault')!r} has no steps")
            steps = found
        failures = []
        for step in steps:
            try:
                self.run(step)
            except MeshproofError as exc:
                failures.append(str(exc))
        if failures:
            raise FaultError("; ".join(failures))

    def run(self, step: RollbackStep | Mapping[str, Any]) -> None:
        """Carry out one step, typed or as the ledger holds it."""
        if not isinstance(step, RollbackStep):
            if _deployment_gone(step.get("state_file")):
                return  # checked before parsing: any step of a removed deployment is moot
            step = self._kinds.parse_step(step)
        if isinstance(step, DeploymentStep) and not step.state_file.exists():
            return
        self._kinds.step_kind(step).run(step, self._tools)


def describe_step(step: RollbackStep | Mapping[str, Any], kinds: FaultKinds = REGISTRY) -> str:
    """One line saying what a step does, for `meshproof recover`'s output."""
    if not isinstance(step, RollbackStep):
        action = step.get("action")
        if action not in kinds.actions():
            return f"unknown step {action!r}"
        try:
            step = kinds.parse_step(step)
        except FaultError as exc:
            return str(exc)
    return step.describe()


def _deployment_gone(state_file: object) -> bool:
    return isinstance(state_file, str) and not Path(state_file).exists()
